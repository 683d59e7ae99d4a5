"""What the config leaves to deploy time, as the CDK says it: the deploying stack's account and region in bucket names
the config does not fix, and what CloudFormation does with a stage's stateful resources."""

from __future__ import annotations

import aws_cdk as cdk

from blueprint.config import PlatformConfig, StageConfig
from blueprint.naming import bucket_name, cicd_bucket_name

HERE = {"account": cdk.Aws.ACCOUNT_ID, "region": cdk.Aws.REGION}  # resolved by CloudFormation in the stack


def stage_bucket_name(config: PlatformConfig, stage: StageConfig, purpose: str) -> str:
    """A stage's bucket, named in its account and region (the deploying stack's where the config names none)."""
    return bucket_name(config, stage, purpose, **HERE)


def cicd_stack_bucket_name(config: PlatformConfig, purpose: str) -> str:
    """A bucket of the CI/CD stack, in the tooling account and region (the deploying stack's where the config names
    none)."""
    return cicd_bucket_name(config, purpose, **HERE)


def removal_policy(stage: StageConfig) -> cdk.RemovalPolicy:
    """What CloudFormation does with the stage's stateful resources when they leave the template."""
    return cdk.RemovalPolicy.DESTROY if stage.removal_policy == "destroy" else cdk.RemovalPolicy.RETAIN
