"""ServingStack: the stage's endpoint for an Approved model package named at deploy time."""

from __future__ import annotations

import functools

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import (
    MODEL_PACKAGE_PARAMETER,
    deployed_name,
    endpoint_name,
    notification_topic_name,
)
from blueprint.pipeline.builds import DefinitionBuilds
from blueprint.pipeline.settings import BatchScoringSettings
from infra.constructs.approved_package_check import ApprovedPackageCheck
from infra.constructs.batch_scoring import BatchScoring
from infra.constructs.cicd_access import SMOKE_TEST, CicdAccessRole
from infra.constructs.endpoint_autoscaling import EndpointAutoscaling
from infra.constructs.model_endpoint import ModelEndpoint, Rollout
from infra.constructs.notification_topic import notify, topic_arn
from infra.constructs.released_models import ReleasedModels
from infra.constructs.rollback_alarms import RollbackAlarms
from infra.deploying import removal_policy, stage_bucket_name
from ml_code.contracts.contract import load_contract


def model_package_arn_pattern(group: str) -> str:
    """What the parameter accepts: a versioned package of the released models' group, in any partition and region."""
    return rf"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{{12}}:model-package/{group}/\d+$"


class ServingStack(cdk.Stack):
    """The endpoint that serves the model package given in the `ModelPackageArn` parameter (the deploy pipeline passes
    the Approved package; nothing is looked up at synth, and the deployment fails unless the package is Approved and
    of the release stage's group, see ReleasedModels), its rollback alarms and its autoscaling; where the stage
    monitors (`monitor`), only a package with the baselines its monitoring pipeline reads (the MonitoringStack runs
    it, so that monitoring never blocks serving); every alarm telling the stage's topic; the role the deploy
    pipeline's smoke test assumes; and the batch-scoring pipeline, which scores curated data with the newest
    Approved model of that group.
    Deploy it after the stage's DataStack (buckets, key) and ModelBuildStack (the package's group). `definitions`
    holds the batch-scoring definition for the stage's BatchScoringSettings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        stage: StageConfig,
        encryption_key: kms.IKey,
        definitions: DefinitionBuilds,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        release = config.release_stage
        models = ReleasedModels(
            self, "ReleasedModels", config=config, release=release, serving=stage, encryption_key=encryption_key
        )
        group = models.group_name
        package = cdk.CfnParameter(
            self,
            MODEL_PACKAGE_PARAMETER,
            type="String",
            description=f"ARN of the Approved model package of {group} to serve (given by the deploy pipeline)",
            allowed_pattern=model_package_arn_pattern(group),
            constraint_description=f"a versioned model package ARN of the group {group}",
        )
        package_arn = package.value_as_string
        version = cdk.Fn.select(2, cdk.Fn.split("/", package_arn))  # .../model-package/<group>/<version>
        name = endpoint_name(config, stage)
        contract = load_contract(config.dataset_contract)
        images = definitions.images()
        versioned_name = functools.partial(deployed_name, config, stage, version)

        capture_bucket = s3.Bucket.from_bucket_name(self, "Monitoring", stage_bucket_name(config, stage, "monitoring"))
        alarms = RollbackAlarms(
            self,
            "RollbackAlarms",
            endpoint_name=name,
            max_5xx_errors=stage.rollout.rollback_5xx_errors,
            max_latency_ms=stage.rollout.rollback_latency_ms,
        )
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            endpoint_name=name,
            model_package_arn=package_arn,
            versioned_name=versioned_name,
            models=models,
            capture_bucket=capture_bucket,
            encryption_key=encryption_key,
            instance_type=stage.serving.instance_type,
            initial_instances=stage.serving.min_instances,
            max_instances=stage.serving.max_instances,
            capture_percentage=stage.serving.capture_percentage,
            rollout=Rollout(stage.rollout.mode, stage.rollout.step_instances, stage.rollout.bake_minutes),
            alarms=alarms,
        )
        # Whoever deploys, only an Approved package of this group gets a model.
        approved = ApprovedPackageCheck(
            self,
            "ApprovedPackage",
            model_package_arn=package_arn,
            models=models,
            encryption_key=encryption_key,
            removal_policy=removal_policy(stage),
            require_drift_baselines=stage.monitoring.enabled,
            require_fairness_baselines=stage.monitoring.enabled and contract.fairness is not None,
        )
        self.endpoint.model.node.add_dependency(approved)
        stage_topic = topic_arn(self, notification_topic_name(config, stage))
        for alarm in alarms.alarms:
            notify(alarm, stage_topic)
        if stage.serving.max_instances > stage.serving.min_instances:  # else a fixed fleet: nothing to scale
            EndpointAutoscaling(
                self,
                "Autoscaling",
                model_endpoint=self.endpoint,
                min_instances=stage.serving.min_instances,
                max_instances=stage.serving.max_instances,
                target_invocations_per_instance=stage.serving.target_invocations_per_instance,
            )
        batch_settings = BatchScoringSettings.for_stage(config, stage)
        self.batch_scoring = BatchScoring(
            self,
            "BatchScoring",
            settings=batch_settings,
            models=models,
            contract=contract,
            definition=definitions.batch_scoring(batch_settings),
            images=images,
            curated_bucket=s3.Bucket.from_bucket_name(self, "Curated", stage_bucket_name(config, stage, "curated")),
            artifacts_bucket=s3.Bucket.from_bucket_name(
                self, "Artifacts", stage_bucket_name(config, stage, "artifacts")
            ),
            encryption_key=encryption_key,
            schedule=stage.serving.batch_schedule,
        )
        smoke_test = CicdAccessRole(self, "SmokeTestRole", config=config, stage=stage, build=SMOKE_TEST)
        self.endpoint.grant_invoke(smoke_test)
        cdk.CfnOutput(self, "EndpointName", value=name)
        cdk.CfnOutput(self, "ServedModelPackageArn", value=package_arn)
        cdk.CfnOutput(self, "BatchScoringPipelineName", value=self.batch_scoring.pipeline_name)
