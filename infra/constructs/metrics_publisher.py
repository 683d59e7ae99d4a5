"""The function that publishes monitoring runs' metrics to CloudWatch when their reports land
(infra/functions/publish_metrics)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from blueprint.naming import MONITORING_REPORTS
from infra.constructs.python_function import python_function
from infra.nag import acknowledge
from ml_code.monitoring.published_metrics import NAMESPACE, REPORT_FILE

FUNCTION_CODE = Path(__file__).resolve().parents[1] / "functions" / "publish_metrics"
FUNCTION_RETRIES = 2
EVENT_MAX_AGE = cdk.Duration.hours(6)


class MetricsPublisher(Construct):
    """On each `cloudwatch_metrics.json` a monitoring run of `endpoints` writes to `monitoring_bucket` (the bucket
    sends its events to EventBridge), puts its metrics in our namespace. The function may read those reports and put
    metrics of that namespace only; an invocation that fails is retried, then the event goes to `topic`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoints: list[str],
        monitoring_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        topic: sns.ITopic,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        reports = [f"{MONITORING_REPORTS}/{endpoint}/*/{REPORT_FILE}" for endpoint in endpoints]
        self.function = python_function(
            self,
            "Function",
            code=FUNCTION_CODE,
            description=f"Publishes the monitoring runs' metrics of {', '.join(endpoints)} to CloudWatch",
            timeout=cdk.Duration.seconds(60),
            encryption_key=encryption_key,
            removal_policy=removal_policy,
            environment={"REPORTS_PREFIX": MONITORING_REPORTS},
        )
        objects = [monitoring_bucket.arn_for_objects(report) for report in reports]
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=objects))
        encryption_key.grant(self.function, "kms:Decrypt", "kms:GenerateDataKey")  # the reports; the failure topic
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource type: the namespace condition limits it
                conditions={"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
            )
        )
        acknowledge(
            self.function.role,
            "AwsSolutions-IAM5",
            "The function reads the monitoring runs' metric reports (one per execution) and puts metrics of the "
            "platform's namespace only (PutMetricData has no resource type; a condition names the namespace).",
            *objects,
            "*",
        )
        self.rule = events.CfnRule(
            self,
            "Rule",
            description="Publish a monitoring run's metrics when its report lands",
            event_pattern={
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [monitoring_bucket.bucket_name]},
                    "object": {"key": [{"wildcard": report} for report in reports]},
                },
            },
            targets=[events.CfnRule.TargetProperty(id="PublishFunction", arn=self.function.function_arn)],
        )
        self.function.configure_async_invoke(
            retry_attempts=FUNCTION_RETRIES, max_event_age=EVENT_MAX_AGE, on_failure=destinations.SnsDestination(topic)
        )
        self.function.add_permission(
            "FromRule", principal=iam.ServicePrincipal("events.amazonaws.com"), source_arn=self.rule.attr_arn
        )
