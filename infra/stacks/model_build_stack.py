"""ModelBuildStack: the Model Registry group and the SageMaker Pipeline that trains into it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import (
    MODEL_BUILD_PREFIX,
    MONITORING_REPORTS,
    endpoint_name,
    etl_events_source,
    experiment_readers_policy_name,
    glue_job_name,
    monitoring_pipeline_name,
    tracking_server_name,
)
from blueprint.pipeline.builds import DefinitionBuilds
from blueprint.pipeline.settings import PipelineSettings
from infra.constructs.approval_events import APPROVED, REJECTED, approval_pattern
from infra.constructs.cicd_access import RELEASE, START_TRAINING, CicdAccessRole
from infra.constructs.event_forwarding import ForwardEvents, as_event_pattern
from infra.constructs.experiment_tracking import ExperimentTracking
from infra.constructs.sagemaker_pipeline import pipeline_arn
from infra.constructs.training_pipeline import TrainingPipeline
from infra.deploying import removal_policy, stage_bucket_name
from infra.nag import acknowledge
from ml_code.contracts.contract import load_contract
from tracking import MODEL_BUILD, MONITORING


class ModelBuildStack(cdk.Stack):
    """Trains, evaluates, gates and registers models of the config's dataset; starts when an ETL run wrote new rows.
    Deploy it after the stage's DataStack (its buckets, key and ETL job). `definitions` holds the pipeline's
    definition for the stage's PipelineSettings."""

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
        # The DataStack's buckets by their names from blueprint/naming.py: no cross-stack exports to lock them.
        curated_bucket = s3.Bucket.from_bucket_name(self, "Curated", stage_bucket_name(config, stage, "curated"))
        artifacts_bucket = s3.Bucket.from_bucket_name(self, "Artifacts", stage_bucket_name(config, stage, "artifacts"))
        settings = PipelineSettings.for_stage(config, stage)
        release = config.release_stage
        is_release = release is not None and release.name == stage.name
        self.training = TrainingPipeline(
            self,
            "Training",
            settings=settings,
            contract=load_contract(config.dataset_contract),
            definition=definitions.training(settings),
            images=definitions.images(),
            curated_bucket=curated_bucket,
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
            start_on_new_rows=(etl_events_source(config, stage), glue_job_name(config, stage)),
            shared_with=config.release_consumers if is_release else (),
        )
        if stage.experiments.enabled:
            self._track_experiments(config, stage, settings.pipeline_name, artifacts_bucket, encryption_key)
        if is_release:
            self._serve_the_cicd_pipelines(config, stage)
        cdk.CfnOutput(self, "PipelineName", value=settings.pipeline_name)
        cdk.CfnOutput(self, "ModelPackageGroupName", value=settings.model_package_group_name)

    def _track_experiments(
        self,
        config: PlatformConfig,
        stage: StageConfig,
        pipeline_name: str,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
    ) -> None:
        """The stage's tracking server and the build that logs each ended execution of the model build, and of the
        monitoring pipeline where the stage is monitored."""
        experiments = ExperimentTracking(
            self,
            "Experiments",
            server_name=tracking_server_name(config, stage),
            server_size=stage.experiments.size,
            readers_policy_name=experiment_readers_policy_name(config, stage),
            artifacts_bucket=artifacts_bucket,
            encryption_key=encryption_key,
            removal_policy=removal_policy(stage),
        )
        experiments.log_executions_of(
            "LogModelBuilds",
            pipeline_arn=self.training.pipeline_arn,
            reports=artifacts_bucket,
            prefix=f"{MODEL_BUILD_PREFIX}/{pipeline_name}",
            kind=MODEL_BUILD,
        )
        if stage.monitoring.enabled:
            endpoint = endpoint_name(config, stage)
            monitoring_bucket = s3.Bucket.from_bucket_name(
                self, "Monitoring", stage_bucket_name(config, stage, "monitoring")
            )
            experiments.log_executions_of(
                "LogMonitoringRuns",
                pipeline_arn=pipeline_arn(self, monitoring_pipeline_name(endpoint)),
                reports=monitoring_bucket,
                prefix=f"{MONITORING_REPORTS}/{endpoint}",
                kind=MONITORING,
            )
        cdk.CfnOutput(self, "TrackingServerArn", value=experiments.server_arn)
        cdk.CfnOutput(self, "ExperimentReadersPolicy", value=experiments.readers.managed_policy_name)

    def _serve_the_cicd_pipelines(self, config: PlatformConfig, stage: StageConfig) -> None:
        """The release stage's part of CI/CD: a role for the commit pipeline to start training, one for the deploy
        pipeline to find the release, and its approval events on their way to a tooling account of its own."""
        start = CicdAccessRole(self, "StartTrainingRole", config=config, stage=stage, build=START_TRAINING)
        self.training.grant_start(start)
        release = CicdAccessRole(self, "ReleaseRole", config=config, stage=stage, build=RELEASE)
        acknowledge(
            release,
            "AwsSolutions-IAM5",
            "The deploy pipeline finds the group's newest Approved version (ListModelPackages matches only `*`) and "
            "reads its sample payload, written per pipeline execution.",
            *self.training.grant_read_releases(release),
        )
        tooling = config.tooling_account
        if tooling is not None and stage.account is not None and tooling != stage.account:
            group = self.training.model_package_group.model_package_group_name
            ForwardEvents(
                self,
                "ForwardApprovals",
                pattern=as_event_pattern(approval_pattern(group, APPROVED, REJECTED)),
                account=tooling,
                region=config.tooling_region or self.region,
                description=f"Forward {group}'s approvals and rejections to the CI/CD account {tooling}",
            )
