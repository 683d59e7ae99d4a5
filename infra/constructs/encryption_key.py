"""The platform's customer-managed KMS key."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from constructs import Construct


class PlatformKey(kms.Key):
    """A customer-managed KMS key with yearly rotation on, for every store of the platform's data.

    The key policy is the CDK default (the account administers it); services get use of it through
    `grant_*` on the resources it encrypts.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alias: str, removal_policy: cdk.RemovalPolicy) -> None:
        super().__init__(
            scope,
            construct_id,
            alias=alias,
            description="Encrypts the MLOps platform's buckets, logs and jobs",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
