"""Guarded retraining: the drift and model-quality alarms start the model build through the retrain function."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.python_function import python_function

FUNCTION_CODE = Path(__file__).resolve().parents[1] / "functions" / "retrain_guard"
# An alarm's event is retried for as long as a retraining is still worth starting; a run that fails every time is told
# to the topic (the Lambda's on-failure destination), never dropped in silence.
EVENT_RETRIES, EVENT_MAX_AGE = 8, cdk.Duration.hours(2)
FUNCTION_RETRIES = 2


def alarm_pattern(alarm_names: list[str]) -> dict:
    """Our alarms, each entering ALARM (not leaving it, not INSUFFICIENT_DATA)."""
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": sorted(alarm_names), "state": {"value": ["ALARM"]}},
    }


class RetrainGuard(Construct):
    """A rule on `alarm_names` entering ALARM, and the function it starts (infra/functions/retrain_guard), which asks
    the shared guard whether to start `pipeline_name` (`pipeline_arn`): not while an execution runs, not within
    `cooldown_hours` of its last start, once per alarm episode. It tells `topic` (encrypted with `encryption_key`)
    every decision. Its role may list and start that pipeline's executions and publish to that topic, nothing
    else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_names: list[str],
        pipeline_name: str,
        pipeline_arn: str,
        cooldown_hours: float,
        topic: sns.ITopic,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if not alarm_names:
            raise ValueError("a retrain guard needs at least one alarm to listen to")
        self.function = python_function(
            self,
            "Function",
            code=FUNCTION_CODE,
            description=f"Starts {pipeline_name} on a drift or model-quality alarm, when the retrain guard allows",
            timeout=cdk.Duration.seconds(60),
            encryption_key=encryption_key,
            removal_policy=removal_policy,
            environment={
                "PIPELINE_NAME": pipeline_name,
                "COOLDOWN_HOURS": str(cooldown_hours),
                "TOPIC_ARN": topic.topic_arn,
            },
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
                resources=[pipeline_arn],
            )
        )
        self.function.add_to_role_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
        encryption_key.grant(self.function, "kms:GenerateDataKey", "kms:Decrypt")  # the topic is encrypted
        self.rule = events.CfnRule(
            self,
            "Rule",
            description=f"Retrain {pipeline_name} when a drift or model-quality alarm enters ALARM (guarded)",
            event_pattern=alarm_pattern(alarm_names),
            targets=[
                events.CfnRule.TargetProperty(
                    id="RetrainFunction",
                    arn=self.function.function_arn,
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_retry_attempts=EVENT_RETRIES,
                        maximum_event_age_in_seconds=int(EVENT_MAX_AGE.to_seconds()),
                    ),
                )
            ],
        )
        # a run that fails (a throttled StartPipelineExecution after the client's own retries, say) is retried, and
        # then the alarm's event and the error go to the topic
        self.function.configure_async_invoke(
            retry_attempts=FUNCTION_RETRIES, max_event_age=EVENT_MAX_AGE, on_failure=destinations.SnsDestination(topic)
        )
        self.function.add_permission(
            "FromRule",
            principal=iam.ServicePrincipal("events.amazonaws.com"),
            source_arn=self.rule.attr_arn,
        )
        self.alarm_names = sorted(alarm_names)
