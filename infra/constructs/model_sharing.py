"""The release stage's side of serving from other accounts: its trained models, their drift baselines and their key,
readable there."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


def share_trained_models(
    *, bucket: s3.Bucket, key: kms.IKey, prefixes: list[str], accounts: tuple[str, ...], region: str
) -> None:
    """Let `accounts` (their roles, as their own policies allow) list and read what is under `prefixes` of `bucket`
    (the trained models, which their endpoints serve, and the drift baselines, which their monitoring reads), and
    decrypt it with `key` through S3 in `region` only."""
    if not accounts:
        return
    principals = [iam.AccountPrincipal(account) for account in accounts]
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=principals,
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes],
        )
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=principals,
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=principals,
            actions=["kms:Decrypt"],
            resources=["*"],  # in a key policy, `*` is this key
            conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
        )
    )
