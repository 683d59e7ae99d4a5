"""The model build as infrastructure: the Model Package Group, the SageMaker Pipeline and what starts it."""

from __future__ import annotations

import json
import logging

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.constructs.sagemaker_roles import ModelBuildRoles
from infra.packages import ML_CODE, ml_code_sourcedir
from infra.pipeline.definition import IMAGE_PLACEHOLDERS, PipelineSettings, build_definition, image_uri
from ml_code.contracts.contract import DatasetContract

IMAGE_MAP = "SageMakerImages"
_IMAGE_KEYS = {"XgboostImageUri": "Xgboost", "ModelMonitorImageUri": "ModelMonitor"}


def image_mapping() -> dict[str, dict[str, str]]:
    """Region -> image URIs, from the SDK's bundled tables, for every region that has all images."""
    from sagemaker import image_uris

    logging.getLogger("sagemaker.image_uris").setLevel(logging.WARNING)  # one INFO line per lookup otherwise
    regions = set(image_uris.config_for_framework("xgboost")["training"]["versions"]["3.0-5"]["registries"])
    regions &= set(image_uris.config_for_framework("model-monitor")["versions"][""]["registries"])
    return {
        region: {_IMAGE_KEYS[name]: image_uri(framework, region) for name, framework in IMAGE_PLACEHOLDERS.items()}
        for region in sorted(regions)
    }


class TrainingPipeline(Construct):
    """A Model Package Group and the SageMaker Pipeline that fills it (definition built offline at synth by
    infra/pipeline/definition.py), its roles and code assets.

    `start_on_glue_job` (default: none) starts a run whenever that Glue job succeeds."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        contract: DatasetContract,
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        start_on_glue_job: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=settings.model_package_group_name,
            model_package_group_description=f"Models of the {contract.name} dataset, gated on {contract.metric.name}",
        )
        sourcedir = s3_assets.Asset(self, "SourceDir", path=str(ml_code_sourcedir()))
        bootstrap = s3_assets.Asset(self, "Bootstrap", path=str(ML_CODE / "bootstrap.py"))
        self.roles = ModelBuildRoles(
            self,
            "Roles",
            contract_name=contract.name,
            model_package_group_name=settings.model_package_group_name,
            curated_bucket=curated_bucket,
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
            code=[sourcedir, bootstrap],
        )

        images = cdk.CfnMapping(self, IMAGE_MAP, mapping=image_mapping())
        definition = build_definition(settings, contract)
        substitutions = {
            "ArtifactsBucket": artifacts_bucket.bucket_name,
            "CuratedBucket": curated_bucket.bucket_name,
            "JobRoleArn": self.roles.job_role.role_arn,
            "KmsKeyArn": encryption_key.key_arn,
            "CodeBucket": sourcedir.s3_bucket_name,
            "SourceDirKey": sourcedir.s3_object_key,
            "BootstrapKey": bootstrap.s3_object_key,
            **{name: images.find_in_map(stack.region, key) for name, key in _IMAGE_KEYS.items()},
        }
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=settings.pipeline_name,
            pipeline_description=f"Preprocess, baseline, train, evaluate and gate {contract.name} models",
            role_arn=self.roles.pipeline_role.role_arn,
            pipeline_definition={
                "PipelineDefinitionBody": cdk.Fn.sub(json.dumps(definition, sort_keys=True), substitutions)
            },
        )
        self.pipeline.node.add_dependency(self.model_package_group)
        self.pipeline_name = settings.pipeline_name
        self.pipeline_arn = stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=settings.pipeline_name.lower()
        )
        if start_on_glue_job is not None:
            self._start_on(start_on_glue_job)

    def _start_on(self, glue_job_name: str) -> None:
        role = iam.Role(self, "StartRole", assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:StartPipelineExecution"], resources=[self.pipeline_arn])
        )
        self.start_rule = events.CfnRule(
            self,
            "StartOnEtlSucceeded",
            description=f"Train when the {glue_job_name} ETL job succeeds",
            event_pattern={
                "source": ["aws.glue"],
                "detail-type": ["Glue Job State Change"],
                "detail": {"jobName": [glue_job_name], "state": ["SUCCEEDED"]},
            },
            targets=[events.CfnRule.TargetProperty(id="Pipeline", arn=self.pipeline_arn, role_arn=role.role_arn)],
        )
