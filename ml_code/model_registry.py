"""The Model Registry as the steps see it: boto3's clients on AWS; the local registry's when local mode runs the
step, which answer the same calls, so the code that reads the registry is the same. Local mode names the function
that makes its clients in MLOPS_REGISTRY_CLIENTS: ml_code stands below local mode and imports nothing of it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from ml_code.settings import REGISTRY_CLIENTS_ENV

# The SageMaker API as ml_code calls it, for the clients below: the container's botocore (1.20.52) predates fields
# these calls read (DescribeModelPackage's DriftCheckBaselines) and would drop them. tests/ml_code/sagemaker_api.py
# writes it from the locked botocore, and its tests hold the two together.
API_MODELS = Path(__file__).resolve().parent / "aws_models"


def registry_clients() -> tuple:
    """(SageMaker client, S3 client); the SageMaker one reads the answers by ml_code's API model (`API_MODELS`)."""
    factory = os.environ.get(REGISTRY_CLIENTS_ENV)
    if factory:
        module, _, name = factory.partition(":")
        return getattr(importlib.import_module(module), name)()
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.set_config_variable("data_path", str(API_MODELS))  # found before botocore's own SageMaker model
    session = boto3.session.Session(botocore_session=core)
    return session.client("sagemaker"), session.client("s3")


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
