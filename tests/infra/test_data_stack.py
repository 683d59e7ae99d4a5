"""DataStack: one KMS key with rotation and five private, SSL-only, versioned, encrypted buckets per stage."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Capture, Match, Template

from infra.constructs.secure_bucket import SecureBucket

DATA_BUCKETS = ("Raw", "Curated", "Artifacts", "Monitoring")


def bucket(template: Template, construct_id: str) -> dict:
    """The one bucket whose logical id starts with the construct id."""
    (found,) = [
        resource
        for logical_id, resource in template.find_resources("AWS::S3::Bucket").items()
        if logical_id.startswith(construct_id)
    ]
    return found["Properties"]


def test_every_configured_stage_has_a_data_stack(platform):
    assert sorted(platform.stacks) == ["dev", "prod", "staging"]
    names = {stack.stack_name for stack in platform.assembly.stacks}
    assert {"mlops-dev-data", "mlops-staging-data", "mlops-prod-data"} <= names


def test_the_key_rotates(dev):
    dev.resource_count_is("AWS::KMS::Key", 1)
    dev.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    dev.has_resource_properties("AWS::KMS::Alias", {"AliasName": "alias/mlops-dev-data"})


def test_data_buckets_are_encrypted_with_the_platform_key(dev):
    key_id = next(iter(dev.find_resources("AWS::KMS::Key")))
    for name in DATA_BUCKETS:
        encryption = bucket(dev, name)["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["BucketKeyEnabled"] is True
        assert encryption["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
        }


def test_access_log_bucket_uses_the_encryption_log_delivery_supports(dev):
    encryption = bucket(dev, "AccessLogs")["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_every_bucket_is_private_and_versioned(dev):
    dev.resource_count_is("AWS::S3::Bucket", 5)
    for name in (*DATA_BUCKETS, "AccessLogs"):
        properties = bucket(dev, name)
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}


def test_every_bucket_denies_requests_without_tls(dev):
    policies = dev.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 5
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in statements
        )


def test_data_buckets_log_access_to_the_access_log_bucket(dev):
    log_bucket_id = next(key for key in dev.find_resources("AWS::S3::Bucket") if key.startswith("AccessLogs"))
    for name in DATA_BUCKETS:
        assert bucket(dev, name)["LoggingConfiguration"] == {
            "DestinationBucketName": {"Ref": log_bucket_id},
            "LogFilePrefix": f"{name}/",
        }


def test_lifecycle_expires_noncurrent_versions_and_moves_raw_data_to_infrequent_access(dev):
    for name in (*DATA_BUCKETS, "AccessLogs"):
        (rule,) = bucket(dev, name)["LifecycleConfiguration"]["Rules"]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    (curated_rule,) = bucket(dev, "Curated")["LifecycleConfiguration"]["Rules"]
    assert "Transitions" not in curated_rule and "ExpirationInDays" not in curated_rule


def test_raw_exports_are_deleted_after_the_stages_retention(dev, prod):
    # prod keeps a year, Standard-IA after 30 days; dev keeps 30 days, too short for Standard-IA
    (prod_rule,) = bucket(prod, "Raw")["LifecycleConfiguration"]["Rules"]
    assert prod_rule["ExpirationInDays"] == 365
    assert prod_rule["Transitions"] == [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}]
    (dev_rule,) = bucket(dev, "Raw")["LifecycleConfiguration"]["Rules"]
    assert dev_rule["ExpirationInDays"] == 30
    assert "Transitions" not in dev_rule


def test_removal_policy_comes_from_the_stage(dev, prod):
    dev.has_resource("AWS::S3::Bucket", {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"})
    dev.has_resource("AWS::KMS::Key", {"DeletionPolicy": "Delete"})
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        policies = {resource["DeletionPolicy"] for resource in prod.find_resources(resource_type).values()}
        assert policies == {"Retain"}


def test_bucket_names_are_predictable_and_unique_per_account_and_region(dev):
    name = bucket(dev, "Raw")["BucketName"]["Fn::Join"]
    assert name == ["", ["mlops-dev-raw-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}]]


def test_bucket_names_are_outputs_for_operators(dev):
    name = Capture()
    dev.has_output("RawBucketName", {"Value": {"Ref": name}})
    assert name.as_string().startswith("Raw")
    for bucket_name in ("Curated", "Artifacts", "Monitoring"):
        dev.has_output(f"{bucket_name}BucketName", Match.any_value())


@pytest.mark.parametrize(
    ("lifecycle", "message"),
    [
        ({"infrequent_access_after": 7}, r"Raw: infrequent_access_after is 7 days; S3 needs at least 30"),
        (
            {"infrequent_access_after": 30, "expire_after": 30},
            r"Raw: expire_after is 30 days; it must be at least 1 and later than",
        ),
    ],
)
def test_fails_when_the_lifecycle_is_one_s3_refuses(lifecycle, message):
    stack = cdk.Stack(cdk.App(), "Scratch")
    with pytest.raises(ValueError, match=message):
        SecureBucket(
            stack,
            "Raw",
            bucket_name="scratch-raw",
            encryption_key=cdk.aws_kms.Key(stack, "Key"),
            access_logs=cdk.aws_s3.Bucket(stack, "Logs"),
            removal_policy=cdk.RemovalPolicy.RETAIN,
            **{name: cdk.Duration.days(days) for name, days in lifecycle.items()},
        )
