"""The monitoring pipeline's first step: the package an endpoint serves (through its config and model, as SageMaker
describes them, in moto) and the files of the window and of the lookback, never older ones."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from ml_code.monitoring import served_model
from ml_code.paths import SERVED_MODEL_FILE, WINDOW_MANIFEST_FILE

BUCKET, ENDPOINT = "mlops-prod-monitoring", "mlops-prod-churn"
BASELINES = {
    "ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/constraints.json"},
    }
}
EXPLAINABILITY = {
    "Explainability": {
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/explainability/analysis.json"}
    }
}
END = datetime(2026, 12, 4, 10, tzinfo=timezone.utc)


@pytest.fixture()
def aws():
    with mock_aws():
        sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        sagemaker.create_model_package_group(ModelPackageGroupName="churn")
        yield sagemaker, s3


def serve(sagemaker, *, baselines: dict | None = BASELINES, from_package: bool = True) -> str:
    arn = sagemaker.create_model_package(
        ModelPackageGroupName="churn",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://artifacts/run/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        **({"DriftCheckBaselines": baselines} if baselines else {}),
    )["ModelPackageArn"]
    container = {"ModelPackageName": arn} if from_package else {"Image": "xgboost", "ModelDataUrl": "s3://m"}
    sagemaker.create_model(
        ModelName="mlops-prod-model-v1-abc", PrimaryContainer=container, ExecutionRoleArn="arn:aws:iam::1:role/r"
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "mlops-prod-model-v1-abc", "InitialInstanceCount": 1}
    sagemaker.create_endpoint_config(
        EndpointConfigName="mlops-prod-config-v1-abc", ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="mlops-prod-config-v1-abc")
    return arn


def put(s3, key: str) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")
    return key


def capture_key(hours_before_end: float) -> str:
    when = END - timedelta(hours=hours_before_end)
    return f"datacapture/{ENDPOINT}/AllTraffic/{when:%Y/%m/%d/%H}/{when:%M}-capture.jsonl"


def test_the_endpoints_package_and_the_files_of_the_window_and_the_lookback_only(aws, tmp_path):
    sagemaker, s3 = aws
    arn = serve(sagemaker)
    in_window = [put(s3, capture_key(0.5)), put(s3, capture_key(0.1))]
    earlier = put(s3, capture_key(5))  # before the window, within the lookback: ground truth may match it
    put(s3, capture_key(30))  # older than the lookback: never downloaded
    truth = put(s3, f"groundtruth/{ENDPOINT}/{END - timedelta(hours=2):%Y/%m/%d/%H}/labels.jsonl")
    put(s3, f"datacapture/{ENDPOINT}-other/AllTraffic/{END - timedelta(hours=1):%Y/%m/%d/%H}/x.jsonl")

    served = served_model.write_served(
        tmp_path, endpoint=ENDPOINT, package_arn="", bucket=BUCKET, hours=1, end=END.isoformat()
    )

    assert served["model_package_arn"] == arn
    assert served["statistics_uri"] == "s3://artifacts/run/statistics.json"
    assert served["model_data_url"] == "s3://artifacts/run/model.tar.gz"
    assert (served["window_start"], served["window_end"]) == ((END - timedelta(hours=1)).isoformat(), END.isoformat())
    assert served["captured_files"] == len(in_window)
    manifest = json.loads((tmp_path / WINDOW_MANIFEST_FILE).read_text())
    assert manifest[0] == {"prefix": f"s3://{BUCKET}/"}
    assert sorted(manifest[1:]) == sorted([*in_window, earlier, truth])
    assert json.loads((tmp_path / SERVED_MODEL_FILE).read_text()) == served


def test_a_named_package_is_used_without_asking_the_endpoint(aws, tmp_path):
    sagemaker, _ = aws
    arn = serve(sagemaker)
    served = served_model.served_package(sagemaker, "no-such-endpoint", arn)
    assert served["model_package_arn"] == arn


def test_fails_when_the_package_has_no_baselines_naming_it(aws):
    sagemaker, _ = aws
    arn = serve(sagemaker, baselines=None)
    with pytest.raises(ValueError, match=rf"package {arn} has no data-quality baselines to monitor against"):
        served_model.served_package(sagemaker, ENDPOINT)


def test_fails_when_the_endpoints_model_comes_from_no_package(aws):
    sagemaker, _ = aws
    serve(sagemaker, from_package=False)
    with pytest.raises(ValueError, match=r"serves model mlops-prod-model-v1-abc, made from no model package"):
        served_model.served_package(sagemaker, ENDPOINT)


def test_the_default_window_is_the_hour_before_the_current_one():
    start, end = served_model.window(1, now=datetime(2026, 12, 4, 10, 7, 31, tzinfo=timezone.utc))
    assert (start, end) == (
        datetime(2026, 12, 4, 9, tzinfo=timezone.utc),
        datetime(2026, 12, 4, 10, tzinfo=timezone.utc),
    )
    start, _ = served_model.window(1, end="2026-12-04T10:30:00Z", start="2026-12-04T10:00:00Z")
    assert start == datetime(2026, 12, 4, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("hours", "end", "start", "message"),
    [
        (25, "", "", "last at most 1 day"),
        (0, "", "", "must end after it starts"),
        (1, "2026-12-04T10:00:00Z", "2026-12-04T11:00:00Z", "must end after it starts"),
        (1, "yesterday", "", "'yesterday' is not an ISO 8601 time"),
    ],
)
def test_fails_when_the_window_is_not_one(hours, end, start, message):
    with pytest.raises(ValueError, match=message):
        served_model.window(hours, end=end, start=start)


def test_with_fairness_the_packages_explainability_report_is_named_or_its_absence_is_an_error(aws):
    sagemaker, _ = aws
    arn = serve(sagemaker, baselines={**BASELINES, **EXPLAINABILITY})
    served = served_model.served_package(sagemaker, ENDPOINT, fairness=True)
    assert served["explainability_uri"] == "s3://artifacts/run/explainability/analysis.json"
    assert "explainability_uri" not in served_model.served_package(sagemaker, ENDPOINT, arn)
    bare = sagemaker.create_model_package(
        ModelPackageGroupName="churn",
        InferenceSpecification={
            "Containers": [{"Image": "xgboost", "ModelDataUrl": "s3://artifacts/run/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        DriftCheckBaselines=BASELINES,
    )["ModelPackageArn"]
    with pytest.raises(ValueError, match=r"has no explainability baseline: train it with the contract's fairness"):
        served_model.served_package(sagemaker, ENDPOINT, bare, fairness=True)
