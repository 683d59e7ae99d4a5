"""Starts the ETL when raw data arrives (and, optionally, on a schedule)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.glue_etl_job import GlueEtlJob
from infra.constructs.python_function import python_function

FUNCTION_CODE = Path(__file__).resolve().parents[1] / "functions" / "start_etl"
RAW_SUFFIXES = (".json", ".jsonl", ".ndjson")
# A busy job hands the batch back: retried every 5 minutes for 4 hours, then kept in the dead-letter queue.
RETRY_VISIBILITY = cdk.Duration.minutes(5)
MAX_RECEIVES = 48


class EtlTrigger(Construct):
    """Raw-bucket `Object Created` events (EventBridge) -> SQS (batched) -> a function that starts the job.

    The queue batches bursts of uploads into one run and keeps events while a run is in progress; a
    `schedule` (default: none) adds a periodic catch-up run. Queues and logs are encrypted with `encryption_key`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        raw_bucket: s3.IBucket,
        job: GlueEtlJob,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
        schedule: events.Schedule | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
            removal_policy=removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Events",
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            visibility_timeout=RETRY_VISIBILITY,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
            removal_policy=removal_policy,
        )

        self.function = python_function(
            self,
            "StartJob",
            code=FUNCTION_CODE,
            description=f"Starts the {job.job_name} Glue job for new raw objects",
            timeout=cdk.Duration.seconds(30),
            encryption_key=encryption_key,
            removal_policy=removal_policy,
            environment={"JOB_NAME": job.job_name},
        )
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["glue:StartJobRun"], resources=[job.job_arn]))
        self.function.node.add_dependency(job.job)  # it names the job: the job exists before any run is asked for
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=100,
                max_batching_window=cdk.Duration.minutes(1),
                report_batch_item_failures=True,
            )
        )

        self.rule = events.Rule(
            self,
            "RawObjectCreated",
            description="New raw exports start the ETL",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [raw_bucket.bucket_name]},
                    "object": {"key": [{"suffix": suffix} for suffix in RAW_SUFFIXES]},
                },
            ),
            targets=[targets.SqsQueue(self.queue)],
        )
        self.schedule_rule = None
        if schedule is not None:
            self.schedule_rule = events.Rule(
                self,
                "Schedule",
                description="Periodic catch-up run of the ETL",
                schedule=schedule,
                targets=[targets.SqsQueue(self.queue)],
            )

    def alarm_on_dead_letters(self, topic: sns.ITopic) -> cloudwatch.Alarm:
        """An alarm that tells `topic` when a raw object's event lands in the dead-letter queue (its ETL run could
        not be started after every retry: the object waits for the next run or for a person)."""
        alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_description=(
                "Events of new raw objects whose ETL run could not be started; see the StartJob function's logs, then "
                "redrive the dead-letter queue"
            ),
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(topic))
        return alarm
