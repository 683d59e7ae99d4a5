"""An encrypted SNS topic that people subscribe to, and the events and alarms that tell it something."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class NotificationTopic(Construct):
    """An SNS topic named `topic_name`, KMS-encrypted with `encryption_key` (whose policy lets EventBridge and
    CloudWatch alarms publish), SSL only, with an e-mail subscription per address of `emails`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, topic_name: str, encryption_key: kms.IKey, emails: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", topic_name=topic_name, master_key=encryption_key, enforce_ssl=True)
        for address in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        account = cdk.Stack.of(self).account
        for service in ("events.amazonaws.com", "cloudwatch.amazonaws.com"):
            encryption_key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey")
            # rules and alarms of this account's other stacks publish to it by its ARN
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[self.topic.topic_arn],
                    conditions={"StringEquals": {"aws:SourceAccount": account}},
                )
            )

    def tell_on(
        self, construct_id: str, *, description: str, pattern: events.EventPattern, message: str
    ) -> events.Rule:
        """A rule that sends `message` to the topic on matching events (see `tell`)."""
        return tell(self, construct_id, self.topic, description=description, pattern=pattern, message=message)


def tell(
    scope: Construct,
    construct_id: str,
    topic: sns.ITopic,
    *,
    description: str,
    pattern: events.EventPattern,
    message: str,
) -> events.Rule:
    """A rule `construct_id` in `scope` that sends `message` (which may hold events.EventField values) to `topic` on
    events matching `pattern`."""
    return events.Rule(
        scope,
        construct_id,
        description=description,
        event_pattern=pattern,
        targets=[targets.SnsTopic(topic, message=events.RuleTargetInput.from_text(message))],
    )


def topic_arn(scope: Construct, topic_name: str) -> str:
    """The ARN of the topic `topic_name` in `scope`'s account and region (a stage's topic is the DataStack's; the
    later stacks name it)."""
    return cdk.Stack.of(scope).format_arn(service="sns", resource=topic_name, arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)


def notify(alarm: cloudwatch.CfnAlarm, topic_arn: str) -> None:
    """Make `alarm` tell the topic `topic_arn` when it enters ALARM and when it is OK again."""
    alarm.alarm_actions = [*(alarm.alarm_actions or []), topic_arn]
    alarm.ok_actions = [*(alarm.ok_actions or []), topic_arn]
