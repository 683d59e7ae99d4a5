"""The release stage's side of serving from other accounts: its trained models and their key, readable there."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3


def share_trained_models(
    *, bucket: s3.Bucket, key: kms.IKey, model_data_prefix: str, accounts: tuple[str, ...], region: str
) -> None:
    """Let `accounts` (their roles, as their own policies allow) list and read the models under `model_data_prefix`
    of `bucket`, and decrypt them with `key` through S3 in `region` only."""
    if not accounts:
        return
    principals = [iam.AccountPrincipal(account) for account in accounts]
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=principals, actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{model_data_prefix}*")]
        )
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            principals=principals,
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": f"{model_data_prefix}*"}},
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
