"""S3 buckets that are secure by default: private, SSL-only, versioned, encrypted, with lifecycle rules."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge

NONCURRENT_VERSION_EXPIRATION = cdk.Duration.days(90)
ABORT_INCOMPLETE_UPLOADS = cdk.Duration.days(7)
ACCESS_LOG_RETENTION = cdk.Duration.days(365)
# S3 refuses a transition to Standard-IA earlier than 30 days after creation.
MIN_INFREQUENT_ACCESS_AFTER = cdk.Duration.days(30)


def _baseline(removal_policy: cdk.RemovalPolicy) -> dict[str, Any]:
    """What every bucket of the platform has, whatever it stores."""
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "enforce_ssl": True,
        "minimum_tls_version": 1.2,
        "versioned": True,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "removal_policy": removal_policy,
    }


def _expiring_rule(**extra: Any) -> s3.LifecycleRule:
    return s3.LifecycleRule(
        noncurrent_version_expiration=NONCURRENT_VERSION_EXPIRATION,
        abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS,
        **extra,
    )


class AccessLogsBucket(s3.Bucket):
    """The target of S3 server access logging for the platform's buckets.

    Encrypted with SSE-S3, the only encryption S3 log delivery writes to; logs expire after a year.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, bucket_name: str, removal_policy: cdk.RemovalPolicy
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            lifecycle_rules=[_expiring_rule(expiration=ACCESS_LOG_RETENTION)],
            **_baseline(removal_policy),
        )
        acknowledge(self, "AwsSolutions-S1", "This is the access-log bucket itself; logging into itself would loop.")


class SecureBucket(s3.Bucket):
    """A data bucket: KMS-encrypted with `encryption_key` (bucket keys on), access-logged to `access_logs`
    under `<construct id>/`, noncurrent versions expiring after 90 days, incomplete uploads aborted after 7.

    `infrequent_access_after` moves current objects to Standard-IA after that long (default: never; at least 30 days).
    `expire_after` deletes current objects that long after they were written (default: never; later than
    `infrequent_access_after`). `event_bridge` sends the bucket's events to EventBridge (default: off).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket_name: str,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        removal_policy: cdk.RemovalPolicy,
        infrequent_access_after: cdk.Duration | None = None,
        expire_after: cdk.Duration | None = None,
        event_bridge: bool = False,
    ) -> None:
        transitions = []
        if infrequent_access_after is not None:
            if infrequent_access_after.to_days() < MIN_INFREQUENT_ACCESS_AFTER.to_days():
                raise ValueError(
                    f"{construct_id}: infrequent_access_after is {infrequent_access_after.to_days()} days; "
                    f"S3 needs at least {MIN_INFREQUENT_ACCESS_AFTER.to_days()} days before Standard-IA"
                )
            transitions.append(
                s3.Transition(storage_class=s3.StorageClass.INFREQUENT_ACCESS, transition_after=infrequent_access_after)
            )
        if expire_after is not None and (
            expire_after.to_days() < 1
            or (infrequent_access_after is not None and expire_after.to_days() <= infrequent_access_after.to_days())
        ):
            raise ValueError(
                f"{construct_id}: expire_after is {expire_after.to_days()} days; it must be at least 1 and later "
                "than infrequent_access_after"
            )
        super().__init__(
            scope,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=f"{construct_id}/",
            lifecycle_rules=[_expiring_rule(transitions=transitions or None, expiration=expire_after)],
            **_baseline(removal_policy),
        )
        if event_bridge:
            # Set natively: the L2's notification support would add a custom-resource Lambda for this.
            self.node.default_child.add_property_override(
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
            )
