"""MonitoringStack: what a stage watches, tells people and how it reacts: the monitored endpoint's monitoring
pipeline, its metrics and alarms, alerts, a dashboard, guarded retraining."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from blueprint.alarm_rules import alarm_rules
from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import (
    drift_alarm_name,
    endpoint_name,
    glue_job_name,
    model_package_group_name,
    model_quality_alarm_name,
    notification_topic_name,
    pipeline_name,
    stage_prefix,
)
from blueprint.pipeline.builds import DefinitionBuilds
from blueprint.pipeline.settings import MonitoringSettings
from infra.constructs.event_forwarding import AcceptEvents, ForwardEvents, as_event_pattern
from infra.constructs.metrics_publisher import MetricsPublisher
from infra.constructs.monitoring_alarms import MonitoringAlarms
from infra.constructs.monitoring_pipeline import MonitoringPipeline
from infra.constructs.released_models import ReleasedModels
from infra.constructs.retrain_guard import RetrainGuard, alarm_pattern
from infra.constructs.sagemaker_pipeline import pipeline_arn
from infra.constructs.stage_alerts import StageAlerts
from infra.constructs.stage_dashboard import StageDashboard
from infra.deploying import removal_policy, stage_bucket_name
from ml_code.contracts.contract import load_contract


def alarm_names(endpoint: str) -> list[str]:
    """An endpoint's alarms that may start a retraining: its drift and its model quality."""
    return [drift_alarm_name(endpoint), model_quality_alarm_name(endpoint)]


def retrain_alarm_names(config: PlatformConfig) -> list[str]:
    """The alarms that may start a retraining: those of every monitored endpoint."""
    return [
        name
        for stage in config.stages.values()
        if stage.monitoring.enabled
        for name in alarm_names(endpoint_name(config, stage))
    ]


class MonitoringStack(cdk.Stack):
    """Where the stage monitors its endpoint (`monitor`): the monitoring pipeline on `monitor_schedule`
    (MonitoringPipeline), the function that publishes its runs' metrics (MetricsPublisher) and the drift and
    model-quality alarms on them (MonitoringAlarms). The stage's alerts on its topic (the DataStack's; a failed ETL run
    or model build, a model waiting for approval, every alarm), its dashboard, and, in the release stage, the guarded
    retraining that the monitored endpoints' alarms start (they serve its models). Serving never depends on it: the
    pipeline finds the endpoint and the package it serves when a run starts. `definitions` holds the monitoring
    definition for the stage's MonitoringSettings."""

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
        topic = sns.Topic.from_topic_arn(
            self,
            "Topic",
            self.format_arn(
                service="sns",
                resource=notification_topic_name(config, stage),
                arn_format=cdk.ArnFormat.NO_RESOURCE_NAME,
            ),
        )
        pipeline = pipeline_name(config, stage)
        model_build_arn = pipeline_arn(self, pipeline)
        StageAlerts(
            self,
            "Alerts",
            topic=topic,
            glue_job_name=glue_job_name(config, stage),
            pipeline_arn=model_build_arn,
            model_package_group=model_package_group_name(config, stage),
        )
        endpoint = endpoint_name(config, stage) if stage.serving.enabled else None
        contract = load_contract(config.dataset_contract)
        self.monitoring = None
        if stage.monitoring.enabled:
            settings = MonitoringSettings.for_stage(config, stage)
            monitoring_bucket = s3.Bucket.from_bucket_name(
                self, "MonitoringBucket", stage_bucket_name(config, stage, "monitoring")
            )
            self.monitoring = MonitoringPipeline(
                self,
                "MonitoringPipeline",
                settings=settings,
                definition=definitions.monitoring(settings),
                images=definitions.images(),
                models=ReleasedModels(
                    self,
                    "ReleasedModels",
                    config=config,
                    release=config.release_stage,
                    serving=stage,
                    encryption_key=encryption_key,
                ),
                monitoring_bucket=monitoring_bucket,
                encryption_key=encryption_key,
                deployed_prefix=stage_prefix(config, stage),
                schedule=stage.monitoring.schedule,
                fairness=contract.fairness is not None,
            )
            MetricsPublisher(
                self,
                "MetricsPublisher",
                endpoints=[endpoint],
                monitoring_bucket=monitoring_bucket,
                encryption_key=encryption_key,
                topic=topic,
                removal_policy=removal_policy(stage),
            )
            self.alarms = MonitoringAlarms(
                self,
                "Alarms",
                endpoint=endpoint,
                rules=alarm_rules(endpoint, contract, stage),
                period_hours=stage.monitoring.window_hours,
                topic_arn=topic.topic_arn,
            )
        StageDashboard(
            self,
            "Dashboard",
            dashboard_name=stage_prefix(config, stage),
            contract=contract,
            pipeline_name=pipeline,
            glue_job_name=glue_job_name(config, stage),
            endpoint_name=endpoint,
            monitoring_pipeline=self.monitoring.pipeline_name if self.monitoring else None,
            monitoring_period=cdk.Duration.hours(stage.monitoring.window_hours),
        )
        self.retrain = None
        release = config.release_stage
        alarms = retrain_alarm_names(config)
        if config.forwards_alarms(stage):
            # the release stage's guard retrains: our alarms go to its account or region
            ForwardEvents(
                self,
                "ForwardAlarms",
                pattern=as_event_pattern(alarm_pattern(alarm_names(endpoint))),
                account=release.account,
                region=release.region,
                description=f"Forward {endpoint}'s drift and quality alarms to the release stage's retrain guard",
            )
        if release is not None and release.name == stage.name and alarms:
            monitored_elsewhere = tuple(
                s.account
                for s in config.stages.values()
                if s.monitoring.enabled and s.account and config.serves_from_another_account(s)
            )
            if monitored_elsewhere:
                AcceptEvents(
                    self, "AlarmEvents", accounts=monitored_elsewhere, purpose=f"{stage_prefix(config, stage)}-alarms"
                )
            self.retrain = RetrainGuard(
                self,
                "Retrain",
                alarm_names=alarms,
                pipeline_name=pipeline,
                pipeline_arn=model_build_arn,
                cooldown_hours=stage.monitoring.retrain_cooldown_hours,
                topic=topic,
                encryption_key=encryption_key,
                removal_policy=removal_policy(stage),
            )
        cdk.CfnOutput(self, "DashboardName", value=stage_prefix(config, stage))
