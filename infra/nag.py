"""cdk-nag acknowledgements: each names one finding (a rule, or a rule with its evidence) and gives a reason."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct, IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, *evidence: str) -> None:
    """Acknowledge `rule` on `scope` and its children; with evidence, only those findings (one each)."""
    ids = [f"{rule}[{item}]" for item in evidence] or [rule]
    cdk.Validations.of(scope).acknowledge(*[cdk.Acknowledgment(id=finding, reason=reason) for finding in ids])


def arn_of(resource: Construct, suffix: str = "") -> str:
    """How cdk-nag writes a resource's ARN in evidence: `Resource::<LogicalId.Arn><suffix>`."""
    child = resource.node.default_child if isinstance(resource.node.default_child, cdk.CfnElement) else resource
    logical_id = cdk.Stack.of(resource).get_logical_id(child)
    return f"Resource::<{logical_id}.Arn>{suffix}"


def literal(resource_arn: str) -> str:
    """A literal ARN or pattern in evidence, e.g. `Resource::*`."""
    return f"Resource::{resource_arn}"
