"""cdk-nag acknowledgements: each names one finding (a rule, or a rule with its evidence) and gives a reason."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, *resources: str) -> None:
    """Acknowledge `rule` on `scope` and its children; with `resources` (the ARNs or patterns the policy
    grants, tokens and all), only the finding for each of those, one acknowledgement each."""
    ids = [f"{rule}[Resource::{render(scope, resource)}]" for resource in resources] or [rule]
    cdk.Validations.of(scope).acknowledge(*[cdk.Acknowledgment(id=finding, reason=reason) for finding in ids])


def acknowledge_actions(scope: IConstruct, rule: str, reason: str, *actions: str) -> None:
    """Acknowledge `rule`'s finding for each of `actions` (wildcard actions such as `s3:GetObject*`) on `scope` and
    its children, one acknowledgement each."""
    cdk.Validations.of(scope).acknowledge(
        *[cdk.Acknowledgment(id=f"{rule}[Action::{action}]", reason=reason) for action in actions]
    )


def render(scope: IConstruct, value: str) -> str:
    """A value the way cdk-nag writes it in evidence: `<AWS::Region>` for pseudo parameters, `<Id.Attr>` for
    attributes, `<Id>` for references, text as it is."""
    return _render(cdk.Stack.of(scope).resolve(value))


def _render(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((function, argument),) = node.items()
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(_render(part) for part in parts)
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
    raise ValueError(f"cannot render {node!r} as cdk-nag evidence")
