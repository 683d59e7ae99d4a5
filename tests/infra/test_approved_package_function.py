"""The deploy-time approval check against moto's Model Registry, answering a real HTTP server on loopback as it
answers CloudFormation."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from moto import mock_aws

from tests.infra.functions import load_function
from tests.infra.registry import register_package

GROUP = "mlops-prod-customer-churn"


class CloudFormation(BaseHTTPRequestHandler):
    """Receives the function's PUT as CloudFormation's pre-signed URL would."""

    responses: list[dict] = []

    def do_PUT(self):  # noqa: N802 (the HTTP method)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        CloudFormation.responses.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture()
def cloudformation():
    CloudFormation.responses = []
    server = HTTPServer(("127.0.0.1", 0), CloudFormation)
    # a short poll: shutdown() waits for the loop to look (by default every 0.5 s)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", CloudFormation.responses
    server.shutdown()


@pytest.fixture()
def registry():
    with mock_aws():
        sagemaker = boto3.client("sagemaker")
        for group in (GROUP, "mlops-staging-customer-churn"):
            sagemaker.create_model_package_group(ModelPackageGroupName=group)
        yield sagemaker


def register(sagemaker, status: str, group: str = GROUP, **extra) -> str:
    return register_package(sagemaker, group, status, **extra)


BASELINES = {
    "ModelDataQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/baseline/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/baseline/constraints.json"},
    }
}


FAIRNESS_BASELINES = {
    "Bias": {
        "ConfigFile": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/cfg/model_bias_monitor.json"},
        "PreTrainingConstraints": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/data-bias.json"},
        "PostTrainingConstraints": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/model-bias.json"},
    },
    "Explainability": {
        "ConfigFile": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/cfg/explain_monitor.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://artifacts/run/explainability.json"},
    },
}


def invoke(url: str, request_type: str, arn: str, baselines: bool = False, fairness: bool = False, **extra) -> None:
    properties = {"ModelPackageArn": arn, "ModelPackageGroupName": GROUP}
    if fairness:
        properties["RequireFairnessBaselines"] = "true"
    event = {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/mlops-prod-serving/1",
        "RequestId": "request-1",
        "LogicalResourceId": "ApprovedPackage",
        "ResourceProperties": {**properties, "RequireDriftBaselines": "true"} if baselines else properties,
        **extra,
    }
    load_function("approved_package").handler(event, None)


def test_an_approved_package_of_the_group_lets_the_deployment_go_on(registry, cloudformation):
    url, responses = cloudformation
    arn = register(registry, "Approved")
    invoke(url, "Create", arn)
    (response,) = responses
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == arn
    assert response["Data"] == {"ModelPackageVersion": "1"}
    assert (response["RequestId"], response["LogicalResourceId"]) == ("request-1", "ApprovedPackage")


@pytest.mark.parametrize(
    ("status", "group", "reason"),
    [
        ("PendingManualApproval", GROUP, r"is PendingManualApproval, not Approved: approve it in the Model Registry"),
        ("Rejected", GROUP, r"is Rejected, not Approved"),
        (
            "Approved",
            "mlops-staging-customer-churn",
            r"'mlops-staging-customer-churn', not the released models' group",
        ),
    ],
)
def test_fails_the_deployment_when_the_package_may_not_be_served(registry, cloudformation, status, group, reason):
    url, responses = cloudformation
    invoke(url, "Update", register(registry, status, group), PhysicalResourceId="previous")
    (response,) = responses
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("PackageNotServable: model package arn:aws:sagemaker:")
    assert re.search(reason, response["Reason"])
    assert response["PhysicalResourceId"] == "previous"  # a failed update keeps the resource it had


def test_a_monitored_stage_gets_the_packages_drift_baselines(registry, cloudformation):
    url, responses = cloudformation
    invoke(url, "Create", register(registry, "Approved", DriftCheckBaselines=BASELINES), baselines=True)
    (response,) = responses
    assert response["Status"] == "SUCCESS"
    assert response["Data"] == {
        "ModelPackageVersion": "1",
        "DataQualityStatistics": "s3://artifacts/run/baseline/statistics.json",
        "DataQualityConstraints": "s3://artifacts/run/baseline/constraints.json",
    }


def test_fails_a_monitored_stages_deployment_when_the_package_has_no_drift_baselines(registry, cloudformation):
    url, responses = cloudformation
    invoke(url, "Create", register(registry, "Approved"), baselines=True)
    (response,) = responses
    assert response["Status"] == "FAILED"
    assert "has no data-quality drift baselines (DriftCheckBaselines)" in response["Reason"]


def test_a_monitored_stage_gets_the_packages_bias_and_explainability_baselines(registry, cloudformation):
    url, responses = cloudformation
    arn = register(registry, "Approved", DriftCheckBaselines={**BASELINES, **FAIRNESS_BASELINES})
    invoke(url, "Create", arn, baselines=True, fairness=True)
    (response,) = responses
    assert response["Status"] == "SUCCESS", response.get("Reason")
    assert {key: value for key, value in response["Data"].items() if not key.startswith("DataQuality")} == {
        "ModelPackageVersion": "1",
        "BiasConfig": "s3://artifacts/run/cfg/model_bias_monitor.json",
        "BiasConstraints": "s3://artifacts/run/model-bias.json",
        "ExplainabilityConfig": "s3://artifacts/run/cfg/explain_monitor.json",
        "ExplainabilityConstraints": "s3://artifacts/run/explainability.json",
    }


def test_fails_a_fairness_monitored_deployment_when_the_package_has_no_bias_baselines(registry, cloudformation):
    url, responses = cloudformation
    invoke(url, "Create", register(registry, "Approved", DriftCheckBaselines=BASELINES), baselines=True, fairness=True)
    (response,) = responses
    assert response["Status"] == "FAILED"
    assert "lacks the bias and explainability baselines ['BiasConfig', 'BiasConstraints'" in response["Reason"]
    assert "train it with the contract's fairness section" in response["Reason"]


def test_fails_the_deployment_when_the_package_does_not_exist(registry, cloudformation):
    url, responses = cloudformation
    invoke(url, "Create", f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/99")
    (response,) = responses
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("ClientError: ") and "(ValidationException)" in response["Reason"]


def test_deleting_checks_nothing(registry, cloudformation):
    url, responses = cloudformation
    gone = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/42"
    invoke(url, "Delete", gone, PhysicalResourceId=gone)
    (response,) = responses
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", gone)


def test_a_rollback_to_the_package_already_served_passes_though_it_was_rejected_since(registry, cloudformation):
    """The README's rollback: a deploy of v2 fails, CloudFormation updates the check back to v1, which someone
    rejected meanwhile. Failing there would leave the stack in UPDATE_ROLLBACK_FAILED."""
    url, responses = cloudformation
    served = register(registry, "Rejected")
    invoke(url, "Update", served, PhysicalResourceId=served)
    (response,) = responses
    assert (response["Status"], response["PhysicalResourceId"]) == ("SUCCESS", served)
    assert response["Data"]["ModelPackageVersion"] == "1"


@pytest.mark.parametrize("broken", [{"ResourceProperties": None}, {"StackId": None}, {"RequestType": "Replace"}])
def test_a_malformed_event_is_still_answered(registry, cloudformation, broken):
    url, responses = cloudformation
    event = {
        "RequestType": "Create",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "RequestId": "r",
        "LogicalResourceId": "ApprovedPackage",
        "ResourceProperties": {"ModelPackageArn": register(registry, "Approved"), "ModelPackageGroupName": GROUP},
    }
    event.update(broken)
    load_function("approved_package").handler({key: value for key, value in event.items() if value is not None}, None)
    (response,) = responses
    assert response["Status"] == ("SUCCESS" if "StackId" in broken else "FAILED")


def test_the_sagemaker_calls_end_before_the_function_must_answer():
    class Context:
        @staticmethod
        def get_remaining_time_in_millis():
            return 9_000

    client = load_function("approved_package").sagemaker_client(Context())
    config = client.meta.config
    attempts = config.retries["total_max_attempts"]
    assert (
        attempts * (config.connect_timeout + config.read_timeout)
        <= 9 - load_function("approved_package").ANSWER_SECONDS
    )
