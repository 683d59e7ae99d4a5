"""Champion/challenger against moto's Model Registry: no champion, better, worse within and beyond tolerance."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from ml_code import paths
from ml_code.evaluation.champion import champion_metric, decide, main

GROUP = "mlops-test-models"
AUC_PATH = "binary_classification_metrics.auc.value"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"


def report(auc: float) -> dict:
    return {"binary_classification_metrics": {"auc": {"value": auc, "standard_deviation": 0.01}}}


@pytest.fixture()
def registry():
    with mock_aws():
        sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
        s3.create_bucket(Bucket="artifacts")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield sagemaker, s3


def register(sagemaker, s3, auc: float, status: str, name: str) -> None:
    s3.put_object(Bucket="artifacts", Key=f"{name}/evaluation.json", Body=json.dumps(report(auc)))
    sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://artifacts/{name}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://artifacts/{name}/evaluation.json"}
            }
        },
    )


def run_main(tmp_path, candidate_auc: float, tolerance: float) -> dict:
    evaluation = tmp_path / paths.EVALUATION_OUTPUT
    evaluation.mkdir(parents=True, exist_ok=True)
    (evaluation / paths.REPORT_FILE).write_text(json.dumps(report(candidate_auc)))
    code = main(
        [
            f"--base-dir={tmp_path}",
            f"--model-package-group={GROUP}",
            f"--metric-path={AUC_PATH}",
            "--direction=higher",
            f"--tolerance={tolerance}",
            f"--failure-file={tmp_path / 'message'}",
        ]
    )
    assert code == 0, (tmp_path / "message").read_text()
    return json.loads((tmp_path / paths.CHAMPION_OUTPUT / paths.CHAMPION_FILE).read_text())


def test_the_first_model_passes_when_there_is_no_champion(registry, tmp_path):
    register(*registry, 0.95, "PendingManualApproval", "pending")  # not approved: not a champion
    decision = run_main(tmp_path, 0.70, tolerance=0.01)
    assert decision["passes"] is True and decision["champion"] is None


def test_a_better_candidate_passes(registry, tmp_path):
    register(*registry, 0.80, "Approved", "v1")
    decision = run_main(tmp_path, 0.85, tolerance=0.0)
    assert decision["passes"] is True and decision["champion"] == pytest.approx(0.80)


def test_a_worse_candidate_within_tolerance_passes(registry, tmp_path):
    register(*registry, 0.80, "Approved", "v1")
    assert run_main(tmp_path, 0.795, tolerance=0.01)["passes"] is True


def test_a_worse_candidate_beyond_tolerance_fails(registry, tmp_path):
    register(*registry, 0.80, "Approved", "v1")
    decision = run_main(tmp_path, 0.70, tolerance=0.01)
    assert decision["passes"] is False
    assert "beyond" in decision["reason"] and decision["champion_package"].endswith("/1")


def test_the_newest_approved_package_is_the_champion(registry):
    sagemaker, s3 = registry
    register(sagemaker, s3, 0.70, "Approved", "v1")
    register(sagemaker, s3, 0.90, "Approved", "v2")
    register(sagemaker, s3, 0.99, "Rejected", "v3")
    value, arn = champion_metric(sagemaker, s3, GROUP, AUC_PATH)
    assert value == pytest.approx(0.90) and arn.endswith("/2")


@pytest.mark.parametrize(("candidate", "champion", "passes"), [(2.0, 2.1, True), (2.15, 2.1, True), (2.3, 2.1, False)])
def test_lower_is_better_metrics_compare_the_other_way(candidate, champion, passes):
    decision = decide(candidate, champion, tolerance=0.1, higher_is_better=False)
    assert decision.passes is passes


def test_fails_when_the_tolerance_is_negative():
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        decide(0.8, 0.8, tolerance=-0.1, higher_is_better=True)


def test_fails_when_the_report_lacks_the_metric(registry, tmp_path):
    evaluation = tmp_path / paths.EVALUATION_OUTPUT
    evaluation.mkdir()
    (evaluation / paths.REPORT_FILE).write_text(json.dumps({"regression_metrics": {}}))
    failure = tmp_path / "message"
    code = main(
        [
            f"--base-dir={tmp_path}",
            f"--model-package-group={GROUP}",
            f"--metric-path={AUC_PATH}",
            "--direction=higher",
            "--tolerance=0",
            f"--failure-file={failure}",
        ]
    )
    assert code == 1
    assert "has no 'binary_classification_metrics.auc.value'" in failure.read_text()
    assert not (tmp_path / paths.CHAMPION_OUTPUT).exists()
