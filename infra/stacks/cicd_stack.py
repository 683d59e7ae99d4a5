"""CicdStack: the commit pipeline and the deploy pipeline, once, in the tooling account."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import (
    CICD_STACK_ID,
    cicd_name,
    cicd_prefix,
    commit_pipeline_name,
    deploy_pipeline_name,
    endpoint_name,
    model_package_group_name,
    pipeline_name,
    stack_id,
    stage_access_role_name,
)
from infra.constructs.cicd_access import RELEASE, SMOKE_TEST, START_TRAINING
from infra.constructs.cicd_builds import CicdBuilds
from infra.constructs.cicd_notifications import CicdNotifications
from infra.constructs.commit_pipeline import CommitPipeline, StageDeployment
from infra.constructs.deploy_pipeline import DeployPipeline, ServingDeployment
from infra.constructs.encryption_key import PlatformKey
from infra.constructs.event_forwarding import AcceptEvents
from infra.constructs.pipeline_source import PipelineSource
from infra.constructs.secure_bucket import AccessLogsBucket, SecureBucket
from infra.deploying import cicd_stack_bucket_name


class CicdStack(cdk.Stack):
    """The commit pipeline (a push: test, synth, update itself, deploy every stage's data, model-build and
    monitoring stacks in order, start the release stage's training) and the deploy pipeline (an approval in the
    release stage's registry: each serving stage in turn, smoke-tested, a person approving each promotion), their
    source, builds, artifacts and notifications. Stateful parts are retained: artifacts, test reports, the source
    bucket."""

    def __init__(
        self, scope: Construct, construct_id: str = CICD_STACK_ID, *, config: PlatformConfig, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retain = cdk.RemovalPolicy.RETAIN
        key = PlatformKey(
            self, "Key", alias=f"alias/{cicd_prefix(config)}", removal_policy=retain
        )  # alias/<prefix>-cicd
        access_logs = AccessLogsBucket(
            self, "AccessLogs", bucket_name=cicd_stack_bucket_name(config, "access-logs"), removal_policy=retain
        )
        artifacts = SecureBucket(
            self,
            "Artifacts",
            bucket_name=cicd_stack_bucket_name(config, "artifacts"),
            encryption_key=key,
            access_logs=access_logs,
            removal_policy=retain,
        )
        source = PipelineSource(
            self,
            "Source",
            cicd=config.cicd,
            bucket_name=cicd_stack_bucket_name(config, "source"),
            encryption_key=key,
            access_logs=access_logs,
            removal_policy=retain,
        )
        release = config.release_stage
        serving = [stage for stage in config.stages.values() if stage.serving.enabled]
        builds = CicdBuilds(
            self,
            "Builds",
            config=config,
            encryption_key=key,
            artifacts_bucket=artifacts,
            deploy_targets=[(config.tooling_account, config.tooling_region)]
            + [(stage.account, stage.region) for stage in config.stages.values()],
            stage_roles={
                START_TRAINING: [self._stage_role(config, release, START_TRAINING)] if release else [],
                RELEASE: [self._stage_role(config, release, RELEASE)] if release else [],
                SMOKE_TEST: [self._stage_role(config, stage, SMOKE_TEST) for stage in serving],
            },
            removal_policy=retain,
        )
        notifications = CicdNotifications(
            self,
            "Notifications",
            topic_name=cicd_name(config, "notifications"),
            encryption_key=key,
            emails=config.cicd.notify,
        )
        self.commit_pipeline = CommitPipeline(
            self,
            "CommitPipeline",
            pipeline_name=commit_pipeline_name(config),
            source=source,
            builds=builds,
            artifacts_bucket=artifacts,
            self_stack=construct_id,
            deployments=[self._deployment(config, stage, release) for stage in config.stages.values()],
        )
        pipelines = [self.commit_pipeline.pipeline]
        self.deploy_pipeline = None
        if release is not None and serving:
            group = model_package_group_name(config, release)
            self.deploy_pipeline = DeployPipeline(
                self,
                "DeployPipeline",
                pipeline_name=deploy_pipeline_name(config),
                source=source,
                builds=builds,
                artifacts_bucket=artifacts,
                release_group=group,
                release_role_arn=self._stage_role(config, release, RELEASE),
                release_region=release.region or self.region,
                stages=[
                    ServingDeployment(
                        stage=stage.name,
                        stack=stack_id(stage, "Serving"),
                        endpoint=endpoint_name(config, stage),
                        smoke_test_role_arn=self._stage_role(config, stage, SMOKE_TEST),
                        region=stage.region or self.region,
                    )
                    for stage in serving
                ],
                contract=config.dataset_contract,
                max_latency_ms=config.cicd.smoke_test_latency_ms,
                topic=notifications.topic,
            )
            pipelines.append(self.deploy_pipeline.pipeline)
            notifications.notify_rejections(group)
            if release.account is not None and release.account != config.tooling_account:
                # The release stage forwards its approvals (ModelBuildStack): let its account put them here.
                AcceptEvents(
                    self, "ReleaseEvents", accounts=(release.account,), purpose=f"{cicd_prefix(config)}-approvals"
                )
        notifications.notify_failures(pipelines)
        self.topic = notifications.topic
        cdk.CfnOutput(self, "CommitPipelineName", value=commit_pipeline_name(config))
        if source.bucket is not None:
            cdk.CfnOutput(self, "SourceBucketName", value=source.bucket.bucket_name)

    def _stage_role(self, config: PlatformConfig, stage: StageConfig, build: str) -> str:
        return self.format_arn(
            service="iam",
            region="",
            account=stage.account or self.account,
            resource="role",
            resource_name=stage_access_role_name(config, stage, build),
        )

    def _deployment(self, config: PlatformConfig, stage: StageConfig, release: StageConfig | None) -> StageDeployment:
        stacks = (stack_id(stage, "Data"), stack_id(stage, "ModelBuild"), stack_id(stage, "Monitoring"))
        if release is None or stage.name != release.name:
            return StageDeployment(stage=stage.name, stacks=stacks)
        return StageDeployment(
            stage=stage.name,
            stacks=stacks,
            training_pipeline=pipeline_name(config, stage),
            training_role_arn=self._stage_role(config, stage, START_TRAINING),
            region=stage.region or self.region,
        )
