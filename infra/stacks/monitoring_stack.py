"""MonitoringStack: what a stage tells people and how it reacts: alerts, a dashboard, guarded retraining."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config import PlatformConfig, StageConfig
from infra.constructs.event_forwarding import AcceptEvents, ForwardEvents, as_event_pattern
from infra.constructs.retrain_guard import RetrainGuard, alarm_pattern
from infra.constructs.stage_alerts import StageAlerts
from infra.constructs.stage_dashboard import StageDashboard
from infra.naming import (
    DATA_QUALITY,
    MODEL_QUALITY,
    drift_alarm_name,
    endpoint_name,
    glue_job_name,
    model_package_group_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
    notification_topic_name,
    pipeline_name,
    stage_prefix,
)
from ml_code.contracts.contract import load_contract


def alarm_names(endpoint: str) -> list[str]:
    """An endpoint's alarms that may start a retraining: its drift and its model quality."""
    return [drift_alarm_name(endpoint), model_quality_alarm_name(endpoint)]


def retrain_alarm_names(config: PlatformConfig) -> list[str]:
    """The alarms that may start a retraining: those of every monitored endpoint."""
    return [name for stage in config.stages if stage.monitor for name in alarm_names(endpoint_name(config, stage))]


class MonitoringStack(cdk.Stack):
    """The stage's alerts on its topic (the DataStack's; a failed ETL run or model build, a model waiting for
    approval), its dashboard, and, in the release stage, the guarded retraining that the monitored endpoints' drift
    and model-quality alarms start (they serve its models). Deploy it after the stage's other stacks."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        stage: StageConfig,
        encryption_key: kms.IKey,
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
        pipeline_arn = self.format_arn(service="sagemaker", resource="pipeline", resource_name=pipeline.lower())
        StageAlerts(
            self,
            "Alerts",
            topic=topic,
            glue_job_name=glue_job_name(config, stage),
            pipeline_arn=pipeline_arn,
            model_package_group=model_package_group_name(config, stage),
        )
        endpoint = endpoint_name(config, stage) if stage.serving else None
        StageDashboard(
            self,
            "Dashboard",
            dashboard_name=stage_prefix(config, stage),
            contract=load_contract(config.dataset_contract),
            pipeline_name=pipeline,
            glue_job_name=glue_job_name(config, stage),
            endpoint_name=endpoint,
            monitoring_schedules=(
                (monitoring_schedule_name(endpoint, DATA_QUALITY), monitoring_schedule_name(endpoint, MODEL_QUALITY))
                if stage.monitor
                else None
            ),
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
                s.account for s in config.stages if s.monitor and s.account and config.serves_from_another_account(s)
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
                pipeline_arn=pipeline_arn,
                cooldown_hours=stage.retrain_cooldown_hours,
                topic=topic,
                encryption_key=encryption_key,
                removal_policy=stage.cdk_removal_policy,
            )
        cdk.CfnOutput(self, "DashboardName", value=stage_prefix(config, stage))
