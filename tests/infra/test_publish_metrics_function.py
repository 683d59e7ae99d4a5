"""The publishing function against moto's S3 and CloudWatch: a monitoring run's report in, its metrics out with the
endpoint's dimensions and the window's time, exactly what the alarms watch; a report that is not the endpoint's,
not ours or not numbers is refused whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from blueprint.naming import MONITORING_REPORTS
from ml_code.monitoring.published_metrics import (
    ATTRIBUTION_NDCG,
    FEATURE_DRIFT,
    LARGEST_DRIFT,
    MAX_METRICS_PER_CALL,
    NAMESPACE,
    bias_metric,
    metrics_report,
    put_requests,
    quality_metric,
)
from tests.infra.functions import load_function

BUCKET, ENDPOINT = "mlops-prod-monitoring-bucket", "mlops-prod-customer-churn"
WINDOW_END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


function = load_function("publish_metrics")


def report_key(endpoint: str = ENDPOINT) -> str:
    return f"{MONITORING_REPORTS}/{endpoint}/execution-1/reports/cloudwatch_metrics.json"


def event(key: str) -> dict:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}},
    }


@pytest.fixture()
def aws(monkeypatch):
    monkeypatch.setenv("REPORTS_PREFIX", MONITORING_REPORTS)
    with mock_aws():
        s3, cloudwatch = boto3.client("s3"), boto3.client("cloudwatch")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, cloudwatch


def upload(s3, report: dict, key: str = report_key()) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(report).encode())
    return key


def value_of(cloudwatch, name: str, dimensions: list[dict]) -> list[float]:
    answer = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=dimensions,
        StartTime=WINDOW_END - timedelta(hours=1),
        EndTime=WINDOW_END + timedelta(hours=1),
        Period=3600,
        Statistics=["Maximum"],
    )
    return [point["Maximum"] for point in answer["Datapoints"]]


def test_a_report_in_its_metrics_out_with_the_endpoints_dimensions(aws):
    s3, cloudwatch = aws
    report = metrics_report(
        ENDPOINT,
        WINDOW_END,
        drift={"plan": 0.31, "region": 0.0},
        quality={"auc": 0.82, "f1": 0.7},
        attribution=0.97,
        bias={"DPPL": 0.02},
    )
    result = function.handler(event(upload(s3, report)), None)
    assert result == {"endpoint": ENDPOINT, "metrics": 7}
    endpoint = [{"Name": "Endpoint", "Value": ENDPOINT}]
    assert value_of(cloudwatch, LARGEST_DRIFT, endpoint) == [0.31]
    assert value_of(cloudwatch, quality_metric("auc"), endpoint) == [0.82]
    assert value_of(cloudwatch, FEATURE_DRIFT, [*endpoint, {"Name": "Feature", "Value": "plan"}]) == [0.31]
    assert value_of(cloudwatch, ATTRIBUTION_NDCG, endpoint) == [0.97]
    assert value_of(cloudwatch, bias_metric("DPPL"), endpoint) == [0.02]
    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {(m["MetricName"], len(m["Dimensions"])) for m in listed} == {
        (LARGEST_DRIFT, 1),
        (FEATURE_DRIFT, 2),
        (quality_metric("auc"), 1),
        (quality_metric("f1"), 1),
        (ATTRIBUTION_NDCG, 1),
        (bias_metric("DPPL"), 1),
    }


def test_a_window_without_data_quality_publishes_no_drift(aws):
    s3, cloudwatch = aws
    function.handler(event(upload(s3, metrics_report(ENDPOINT, WINDOW_END, drift=None, quality={"auc": 0.8}))), None)
    assert [m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]] == [quality_metric("auc")]


def test_many_features_are_put_in_calls_of_at_most_the_apis_limit():
    drift = {f"feature_{index}": 0.01 for index in range(MAX_METRICS_PER_CALL + 5)}
    requests = put_requests(metrics_report(ENDPOINT, WINDOW_END, drift=drift, quality={}), ENDPOINT)
    assert [len(request["MetricData"]) for request in requests] == [MAX_METRICS_PER_CALL, 6]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(Namespace="AWS/SageMaker"), "not a report of namespace"),
        (lambda r: r["MetricData"][0]["Dimensions"][0].update(Value="someone-else"), "dimensions other than"),
        (lambda r: r["MetricData"][0].update(Value=float("nan")), "is not a finite number"),
        (lambda r: r["MetricData"][0].update(MetricName="Invocations"), "unknown metric 'Invocations'"),
        (lambda r: r["MetricData"][0].update(Unit="Count"), "is not {MetricName, Dimensions, Value}"),
        (lambda r: r.update(Timestamp="an hour ago"), "no ISO 8601 Timestamp"),
    ],
)
def test_fails_when_the_report_is_not_this_endpoints_metrics(aws, change, message):
    s3, cloudwatch = aws
    report = metrics_report(ENDPOINT, WINDOW_END, drift={"plan": 0.2}, quality={})
    change(report)
    with pytest.raises(ValueError, match=message):  # BadReport, as the function imports it
        function.handler(event(upload(s3, json.loads(json.dumps(report, allow_nan=True)))), None)
    assert cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"] == []  # nothing of a refused report


def test_fails_when_the_key_is_not_a_runs_report(aws):
    s3, _ = aws
    key = upload(s3, metrics_report(ENDPOINT, WINDOW_END, drift={}, quality={}), key="elsewhere/metrics.json")
    with pytest.raises(ValueError, match="is not a monitoring run's cloudwatch_metrics.json"):
        function.handler(event(key), None)
