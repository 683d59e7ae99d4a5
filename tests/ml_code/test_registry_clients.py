"""The registry clients read SageMaker's answers by ml_code's own API model (ml_code/aws_models), so that the
container's older botocore keeps the fields ml_code reads; the model is the locked botocore's, trimmed."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
from moto import mock_aws

from ml_code.model_registry import registry_clients
from ml_code.settings import REGISTRY_CLIENTS_ENV
from tests.ml_code.sagemaker_api import MODEL_FILE, OPERATIONS, text

ML_CODE = Path(__file__).resolve().parents[2] / "ml_code"


def test_the_shipped_model_is_the_locked_botocores_trimmed():
    assert MODEL_FILE.read_text() == text(), "run .venv-ml/bin/python -m tests.ml_code.sagemaker_api"


def test_it_holds_every_sagemaker_call_ml_code_makes():
    called = {
        match for path in ML_CODE.rglob("*.py") for match in re.findall(r"\bsagemaker\.([a-z_]+)\(", path.read_text())
    }
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in OPERATIONS}
    assert called == snake


def test_the_registry_clients_load_it_and_keep_the_drift_baselines(monkeypatch):
    monkeypatch.delenv(REGISTRY_CLIENTS_ENV, raising=False)
    baselines = {"ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://a/s.json"}}}
    with mock_aws():
        boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName="churn")
        arn = boto3.client("sagemaker").create_model_package(
            ModelPackageGroupName="churn",
            InferenceSpecification={
                "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://a/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            DriftCheckBaselines=baselines,
        )["ModelPackageArn"]
        sagemaker, _ = registry_clients()
        assert sorted(sagemaker.meta.service_model.operation_names) == sorted(OPERATIONS)
        assert sagemaker.describe_model_package(ModelPackageName=arn)["DriftCheckBaselines"] == baselines


def named_clients() -> tuple[str, str]:
    return "sagemaker client", "s3 client"


def test_the_clients_are_those_of_the_function_the_environment_names(monkeypatch):
    """Local mode names its registry's clients this way: ml_code imports nothing of it."""
    monkeypatch.setenv(REGISTRY_CLIENTS_ENV, f"{__name__}:{named_clients.__name__}")
    assert registry_clients() == ("sagemaker client", "s3 client")
