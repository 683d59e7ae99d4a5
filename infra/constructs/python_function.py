"""The platform's small Python Lambda functions: each with its own encrypted log group and a role of its own."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


def python_function(
    scope: Construct,
    function_id: str,
    *,
    code: Path,
    description: str,
    timeout: cdk.Duration,
    encryption_key: kms.IKey,
    removal_policy: cdk.RemovalPolicy,
    environment: dict[str, str] | None = None,
) -> lambda_.Function:
    """A Python 3.14 function (`index.handler` in `code`) added to `scope` as `function_id`, with its log group
    (`Logs`, encrypted with `encryption_key`) and role (`Role`, which may write that log group and nothing else
    until the caller grants more)."""
    log_group = logs.LogGroup(
        scope, "Logs", encryption_key=encryption_key, retention=LOG_RETENTION, removal_policy=removal_policy
    )
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    log_streams = f"{log_group.log_group_arn}:*"
    role.add_to_policy(
        iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_streams])
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "The function writes only to its own log group, whose streams Lambda names at run time.",
        log_streams,
    )
    return lambda_.Function(
        scope,
        function_id,
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        handler="index.handler",
        # links are followed: a function may share a module with ml_code (the retrain guard's decision)
        code=lambda_.Code.from_asset(str(code), exclude=["__pycache__"], follow_symlinks=cdk.SymlinkFollowMode.ALWAYS),
        environment=environment,
        timeout=timeout,
        role=role,
        log_group=log_group,
    )
