"""A stage's role for one CI/CD build: the build (in the tooling account) assumes it to act in the stage."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import cicd_role_name, stage_access_role_name

# The CI/CD builds that act in a stage, each with a role of its own there.
START_TRAINING = "start-training"  # the commit pipeline starts the release stage's training
RELEASE = "release"  # the deploy pipeline finds the release stage's newest Approved package
SMOKE_TEST = "smoke-test"  # the deploy pipeline invokes a serving stage's endpoint


class CicdAccessRole(iam.Role):
    """A role named `<prefix>-<stage>-<build>` that only the CI/CD build role `<prefix>-cicd-<build>` of the tooling
    account may assume (in the stage's own account when the config names no tooling account). It may do nothing
    until the caller grants it what the build needs in this stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        stage: StageConfig,
        build: str,
    ) -> None:
        stack = cdk.Stack.of(scope)
        tooling = config.tooling_account or stack.account
        build_role = stack.format_arn(
            service="iam", region="", account=tooling, resource="role", resource_name=cicd_role_name(config, build)
        )
        super().__init__(
            scope,
            construct_id,
            role_name=stage_access_role_name(config, stage, build),
            description=f"Assumed by the CI/CD build {cicd_role_name(config, build)} to act in {stage.name}",
            assumed_by=iam.AccountPrincipal(tooling).with_conditions({"ArnEquals": {"aws:PrincipalArn": build_role}}),
            max_session_duration=cdk.Duration.hours(1),
        )
