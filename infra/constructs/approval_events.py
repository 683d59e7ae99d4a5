"""The Model Registry's approval events: which ones the deploy pipeline acts on, and their way to the tooling
account when the release stage has an account of its own."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
APPROVED = "Approved"
REJECTED = "Rejected"


def approval_pattern(group: str, *statuses: str) -> dict:
    """State changes of `group`'s packages to one of `statuses`. The event also fires on registration
    (PendingManualApproval), which must never deploy."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [group], "ModelApprovalStatus": list(statuses)},
    }


class ForwardApprovals(Construct):
    """Sends `group`'s approval and rejection events from this account's default event bus to the default bus of
    `account` in `region` (the tooling account's, whose bus policy lets this account put them)."""

    def __init__(self, scope: Construct, construct_id: str, *, group: str, account: str, region: str) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        bus = events.EventBus.from_event_bus_arn(
            self,
            "ToolingBus",
            stack.format_arn(
                service="events", resource="event-bus", resource_name="default", account=account, region=region
            ),
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Forward {group}'s approvals and rejections to the CI/CD account {account}",
            event_pattern=as_event_pattern(approval_pattern(group, APPROVED, REJECTED)),
            targets=[targets.EventBus(bus)],
        )


def as_event_pattern(pattern: dict) -> events.EventPattern:
    """An event pattern written as EventBridge writes it (`detail-type`), for an events.Rule."""
    return events.EventPattern(**{key.replace("-", "_"): value for key, value in pattern.items()})
