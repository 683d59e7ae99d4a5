"""The model build as infrastructure: the Model Package Group, the SageMaker Pipeline and what starts it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from blueprint.naming import MODEL_BUILD_PREFIX
from blueprint.pipeline.settings import PipelineSettings
from infra.constructs.sagemaker_pipeline import code_assets, code_locations, pipeline_arn, pipeline_resource, start_rule
from infra.constructs.sagemaker_roles import ModelBuildRoles
from ml_code.contracts.contract import DatasetContract
from ml_code.etl.announce import NEW_ROWS_DETAIL_TYPE
from ml_code.paths import SAMPLE_PAYLOAD_ARCHIVE, SAMPLE_PAYLOAD_OUTPUT


class TrainingPipeline(Construct):
    """A Model Package Group and the SageMaker Pipeline that fills it (`definition`, built offline at synth by
    blueprint/pipeline/definition.py for `settings`; `images`: region -> image placeholder -> URI), its roles and
    code assets.

    `start_on_new_rows` (default: none), an ETL's (events source, job name), starts a run whenever a run of that
    job wrote new rows (its `ETL Run Wrote Rows` event), never on a run that wrote nothing. `shared_with` (default:
    none) lists the accounts that may find and describe the group's packages, to serve them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        contract: DatasetContract,
        definition: dict,
        images: dict[str, dict[str, str]],
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        start_on_new_rows: tuple[str, str] | None = None,
        shared_with: tuple[str, ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self._artifacts_bucket, self._encryption_key = artifacts_bucket, encryption_key
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=settings.model_package_group_name,
            model_package_group_description=f"Models of the {contract.name} dataset, gated on {contract.metric.name}",
            model_package_group_policy=_sharing_policy(stack, settings.model_package_group_name, shared_with),
        )
        # the registry is the record of what was approved, by whom: deleting the stack never deletes it
        self.model_package_group.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        sourcedir, bootstrap = code_assets(self)
        self.roles = ModelBuildRoles(
            self,
            "Roles",
            pipeline_name=settings.pipeline_name,
            contract_name=contract.name,
            model_package_group_name=settings.model_package_group_name,
            curated_bucket=curated_bucket,
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
            code=[sourcedir, bootstrap],
            tuning=settings.tuning_trials > 0,
            fairness=contract.fairness is not None,
        )

        self.pipeline = pipeline_resource(
            self,
            "Pipeline",
            pipeline_name=settings.pipeline_name,
            description=f"Preprocess, baseline, train, evaluate and gate {contract.name} models",
            role=self.roles.pipeline_role,
            definition=definition,
            values={
                "ArtifactsBucket": artifacts_bucket.bucket_name,
                "CuratedBucket": curated_bucket.bucket_name,
                "JobRoleArn": self.roles.job_role.role_arn,
                "TrainingRoleArn": self.roles.training_role.role_arn,
                "ChampionRoleArn": self.roles.champion_role.role_arn,
                "KmsKeyArn": encryption_key.key_arn,
                **code_locations(sourcedir, bootstrap),
            },
            images=images,
        )
        self.pipeline.node.add_dependency(self.model_package_group)
        self.pipeline_name = settings.pipeline_name
        self.pipeline_arn = pipeline_arn(self, settings.pipeline_name)
        if start_on_new_rows is not None:
            self._start_on(*start_on_new_rows)

    def grant_start(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` start runs of the pipeline (with parameters of its choosing)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:StartPipelineExecution"], resources=[self.pipeline_arn])
        )

    def grant_read_releases(self, grantee: iam.IGrantable) -> list[str]:
        """Let `grantee` find the group's packages and read their sample payloads (what the deploy pipeline's release
        step needs); returns the wildcard resources granted, for the caller's cdk-nag acknowledgement."""
        stack = cdk.Stack.of(self)
        group = self.model_package_group.model_package_group_name
        packages = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/*")
        payloads = self._artifacts_bucket.arn_for_objects(
            f"{MODEL_BUILD_PREFIX}/{self.pipeline_name}/*/{SAMPLE_PAYLOAD_OUTPUT}/{SAMPLE_PAYLOAD_ARCHIVE}"
        )
        principal = grantee.grant_principal
        principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[packages])
        )
        # ListModelPackages names no resource of its type in the request: only `*` matches it (see ModelBuildRoles)
        principal.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]))
        principal.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[payloads]))
        self._encryption_key.grant_decrypt(grantee)
        return [packages, payloads, "*"]

    def _start_on(self, source: str, glue_job_name: str) -> None:
        self.start_rule = start_rule(
            self,
            "StartOnNewRows",
            pipeline_arn=self.pipeline_arn,
            description=f"Train when a run of the {glue_job_name} ETL job wrote new rows",
            event_pattern=new_rows_pattern(source, glue_job_name),
        )


def _sharing_policy(stack: cdk.Stack, group: str, accounts: tuple[str, ...]) -> dict | None:
    """The group's resource policy for serving its packages in `accounts`, as the SageMaker developer guide's "deploy
    a model version from a different account" example writes it: the group may be described, and its packages
    described, listed and made into models there. Its `UpdateModelPackage` is left out: only the release stage
    approves or rejects."""
    if not accounts:
        return None
    principal = {"AWS": [f"arn:{stack.partition}:iam::{account}:root" for account in accounts]}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AddPermModelPackageGroup",
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["sagemaker:DescribeModelPackageGroup"],
                "Resource": stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=group),
            },
            {
                "Sid": "AddPermModelPackageVersion",
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages", "sagemaker:CreateModel"],
                "Resource": stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/*"),
            },
        ],
    }


def new_rows_pattern(source: str, glue_job_name: str) -> dict:
    """The events of `glue_job_name`'s runs that wrote new rows (ml_code/etl/announce.py puts them)."""
    return {"source": [source], "detail-type": [NEW_ROWS_DETAIL_TYPE], "detail": {"jobName": [glue_job_name]}}
