"""Events that cross accounts: a rule that forwards them to another account's default bus, and the bus policy that
lets other accounts put them on ours."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct


class ForwardEvents(Construct):
    """Sends the events matching `pattern` from this account's default event bus to the default bus of `account`
    in `region` (whose policy, see AcceptEvents, lets this account put them)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pattern: events.EventPattern,
        account: str,
        region: str,
        description: str,
    ) -> None:
        super().__init__(scope, construct_id)
        bus = events.EventBus.from_event_bus_arn(
            self,
            "Bus",
            cdk.Stack.of(self).format_arn(
                service="events", resource="event-bus", resource_name="default", account=account, region=region
            ),
        )
        self.rule = events.Rule(
            self, "Rule", description=description, event_pattern=pattern, targets=[targets.EventBus(bus)]
        )


class AcceptEvents(Construct):
    """Lets each of `accounts` put events on this account's default event bus (what ForwardEvents sends)."""

    def __init__(self, scope: Construct, construct_id: str, *, accounts: tuple[str, ...], purpose: str) -> None:
        super().__init__(scope, construct_id)
        for account in dict.fromkeys(accounts):
            events.CfnEventBusPolicy(
                self,
                f"From{account}",
                statement_id=f"{purpose}-{account}",
                event_bus_name="default",
                action="events:PutEvents",
                principal=account,
            )


def as_event_pattern(pattern: dict) -> events.EventPattern:
    """An event pattern written as EventBridge writes it (`detail-type`), for an events.Rule."""
    return events.EventPattern(**{key.replace("-", "_"): value for key, value in pattern.items()})
