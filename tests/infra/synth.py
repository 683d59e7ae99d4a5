"""Helpers to build and synthesize the app the way app.py does, with cdk.json's context."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template
from aws_cdk.cx_api import CloudAssembly

from infra.platform import StageStacks
from infra.stacks.cicd_stack import CicdStack

ROOT = Path(__file__).resolve().parents[2]


def cdk_json_context() -> dict[str, Any]:
    """The context cdk.json gives the app, as `cdk synth` would pass it."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def new_app(outdir: Path, **context: Any) -> cdk.App:
    """An app with cdk.json's context plus `context`, asset bundling off."""
    return cdk.App(
        outdir=str(outdir),
        context={**cdk_json_context(), "aws:cdk:bundling-stacks": [], **context},
    )


@dataclass(frozen=True)
class SynthesizedPlatform:
    stacks: dict[str, StageStacks]
    cicd: CicdStack | None
    assembly: CloudAssembly
    outdir: Path

    def template(self, stack: cdk.Stack) -> Template:
        return Template.from_json(self.assembly.get_stack_by_name(stack.stack_name).template)


def role_statements(template: Template, role_prefix: str) -> list[dict]:
    """Every policy statement attached to the role whose logical id starts with `role_prefix`."""
    (role_id,) = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(role_prefix)]
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
