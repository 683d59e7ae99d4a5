"""DataStack: the stateful layer every other stack reads from and writes to."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from constructs import Construct

from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import (
    baselines_prefix,
    data_key_alias,
    etl_events_source,
    explainability_prefix,
    glue_job_name,
    glue_security_configuration_name,
    model_data_prefix,
    notification_topic_name,
)
from infra.constructs.encryption_key import PlatformKey
from infra.constructs.etl_trigger import EtlTrigger
from infra.constructs.glue_etl_job import GlueEtlJob
from infra.constructs.model_sharing import share_trained_models
from infra.constructs.notification_topic import NotificationTopic
from infra.constructs.secure_bucket import AccessLogsBucket, SecureBucket
from infra.deploying import removal_policy, stage_bucket_name

RAW_INFREQUENT_ACCESS_AFTER = cdk.Duration.days(30)


class DataStack(cdk.Stack):
    """The KMS key; the raw, curated, artifacts and monitoring buckets (plus their access-log bucket); the Glue
    ETL job that turns raw exports into curated CSV, and the trigger that starts it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PlatformConfig, stage: StageConfig, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = removal_policy(stage)
        self.key = PlatformKey(self, "Key", alias=data_key_alias(config, stage), removal_policy=removal)
        # The stage's topic: the first stack has it, so every later one can tell it something (by its name).
        self.notifications = NotificationTopic(
            self,
            "Notifications",
            topic_name=notification_topic_name(config, stage),
            encryption_key=self.key,
            emails=stage.notify,
        )
        self.access_logs_bucket = AccessLogsBucket(
            self,
            "AccessLogs",
            bucket_name=stage_bucket_name(config, stage, "access-logs"),
            removal_policy=removal,
        )

        def data_bucket(construct_id: str, **options) -> SecureBucket:
            return SecureBucket(
                self,
                construct_id,
                bucket_name=stage_bucket_name(config, stage, construct_id.lower()),
                encryption_key=self.key,
                access_logs=self.access_logs_bucket,
                removal_policy=removal,
                **options,
            )

        # personal data is kept `raw_retention_days` after ingestion (Standard-IA first, if it stays long enough)
        retention = cdk.Duration.days(stage.etl.raw_retention_days)
        keeps_long = retention.to_days() > RAW_INFREQUENT_ACCESS_AFTER.to_days()
        self.raw_bucket = data_bucket(
            "Raw",
            infrequent_access_after=RAW_INFREQUENT_ACCESS_AFTER if keeps_long else None,
            expire_after=retention,
            event_bridge=True,
        )
        self.curated_bucket = data_bucket("Curated")
        self.artifacts_bucket = data_bucket("Artifacts")
        release = config.release_stage
        if release is not None and release.name == stage.name:  # serving stages elsewhere read its models
            share_trained_models(
                bucket=self.artifacts_bucket,
                key=self.key,
                prefixes=[
                    model_data_prefix(config, stage),
                    baselines_prefix(config, stage),
                    explainability_prefix(config, stage),
                ],
                accounts=config.release_consumers,
                region=stage.region or self.region,
            )
        # a monitoring run's metrics report landing there starts the function that publishes it (MetricsPublisher)
        self.monitoring_bucket = data_bucket("Monitoring", event_bridge=True)

        for bucket in (self.raw_bucket, self.curated_bucket, self.artifacts_bucket, self.monitoring_bucket):
            cdk.CfnOutput(self, f"{bucket.node.id}BucketName", value=bucket.bucket_name)

        self.etl = GlueEtlJob(
            self,
            "Etl",
            job_name=glue_job_name(config, stage),
            events_source=etl_events_source(config, stage),
            security_configuration_name=glue_security_configuration_name(config, stage),
            contract_name=config.dataset_contract,
            raw_bucket=self.raw_bucket,
            curated_bucket=self.curated_bucket,
            encryption_key=self.key,
            removal_policy=removal,
            worker_type=stage.etl.worker_type,
            number_of_workers=stage.etl.workers,
        )
        self.etl_trigger = EtlTrigger(
            self,
            "EtlTrigger",
            raw_bucket=self.raw_bucket,
            job=self.etl,
            encryption_key=self.key,
            removal_policy=removal,
            schedule=events.Schedule.expression(stage.etl.schedule) if stage.etl.schedule else None,
        )
        self.etl_trigger.alarm_on_dead_letters(self.notifications.topic)
        cdk.CfnOutput(self, "EtlJobName", value=self.etl.job_name)
        # serving stages in other accounts name this key by ARN (config: the stage's `data_key_arn`)
        cdk.CfnOutput(self, "DataKeyArn", value=self.key.key_arn)
        cdk.CfnOutput(self, "NotificationTopicArn", value=self.notifications.topic.topic_arn)
