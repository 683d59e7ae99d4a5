"""The Model Registry as the steps see it: boto3's clients on AWS; the local registry's when local mode runs the
step (it sets LOCAL_MODE_HOME), which answer the same calls, so the code that reads the registry is the same."""

from __future__ import annotations

import os
from pathlib import Path

from ml_code.paths import LOCAL_HOME_ENV


def registry_clients() -> tuple:
    """(SageMaker client, S3 client)."""
    home = os.environ.get(LOCAL_HOME_ENV)
    if home:
        from local_mode.registry import local_clients

        return local_clients(Path(home))
    import boto3

    return boto3.client("sagemaker"), boto3.client("s3")


def newest_approved(sagemaker, group: str) -> dict | None:
    """DescribeModelPackage of the group's newest Approved package, or None when none is approved."""
    listed = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    if not listed:
        return None
    return sagemaker.describe_model_package(ModelPackageName=listed[0]["ModelPackageArn"])
