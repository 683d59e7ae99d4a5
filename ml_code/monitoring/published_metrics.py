"""The metrics a monitoring run publishes to CloudWatch: their namespace, names and dimensions, in one place.

The monitoring job (ml_code/monitoring/monitor.py) writes them to `cloudwatch_metrics.json` beside its reports; on
AWS a function puts them when that file lands (infra/functions/publish_metrics, which links this file), locally the
metrics store keeps them; the alarms and the dashboard watch the same names. Every metric has the `Endpoint`
dimension; the per-feature drift also has `Feature` (for the dashboard, not the alarms, which watch one figure per
check: `LargestFeatureDrift`, `ModelQuality_<contract metric>`, `AttributionNDCG` and, per post-training bias metric
the contract limits, `BiasOutsideLimits_<metric>`).

Pure and standard-library only: the publishing function runs it as is.
"""

from __future__ import annotations

import math
from datetime import datetime

NAMESPACE = "MLOpsPlatform/Monitoring"  # never `AWS/...`: CloudWatch keeps those for AWS's own services
ENDPOINT_DIMENSION, FEATURE_DIMENSION = "Endpoint", "Feature"
LARGEST_DRIFT = "LargestFeatureDrift"
FEATURE_DRIFT = "FeatureDrift"
MODEL_QUALITY_PREFIX = "ModelQuality_"
ATTRIBUTION_NDCG = "AttributionNDCG"  # the window's feature ranking against the baseline's: 1 is the same order
ATTRIBUTION_NDCG_THRESHOLD = 0.9  # Clarify's: "If the score is less than 0.9, then a violation is logged"
BIAS_PREFIX = "BiasOutsideLimits_"  # how far outside the contract's limits a bias metric is, for its worst facet
REPORT_FILE = "cloudwatch_metrics.json"
MAX_METRICS_PER_CALL = 1000  # PutMetricData's limit (botocore's cloudwatch model)


class BadReport(ValueError):
    """A metrics report the publisher refuses: not ours, another endpoint's, or a value CloudWatch cannot take."""


def quality_metric(name: str) -> str:
    """The published name of a model-quality metric of evaluation.json (`auc` -> `ModelQuality_auc`)."""
    return f"{MODEL_QUALITY_PREFIX}{name}"


def bias_metric(name: str) -> str:
    """The published name of a limited bias metric (`DPPL` -> `BiasOutsideLimits_DPPL`)."""
    return f"{BIAS_PREFIX}{name}"


def dimensions(endpoint: str, feature: str | None = None) -> list[dict]:
    found = [{"Name": ENDPOINT_DIMENSION, "Value": endpoint}]
    return found + ([{"Name": FEATURE_DIMENSION, "Value": feature}] if feature is not None else [])


def metrics_report(
    endpoint: str,
    timestamp: datetime,
    *,
    drift: dict[str, float] | None,
    quality: dict[str, float],
    attribution: float | None = None,
    bias: dict[str, float] | None = None,
) -> dict:
    """What a run publishes: with data-quality results (`drift` per feature, 0 where within chance), the largest
    drift and each feature's; each defined model-quality metric of `quality`; the attribution nDCG; each limited
    bias metric's distance outside its limits. The timestamp is the window's end."""
    data = []
    if drift is not None:
        data.append(_datum(LARGEST_DRIFT, max(drift.values(), default=0.0), endpoint))
        data += [_datum(FEATURE_DRIFT, value, endpoint, feature) for feature, value in sorted(drift.items())]
    data += [_datum(quality_metric(name), value, endpoint) for name, value in sorted(quality.items())]
    data += [_datum(ATTRIBUTION_NDCG, attribution, endpoint)] if attribution is not None else []
    data += [_datum(bias_metric(name), value, endpoint) for name, value in sorted((bias or {}).items())]
    return {"Namespace": NAMESPACE, "Timestamp": timestamp.isoformat(), "MetricData": data}


def _datum(name: str, value: float, endpoint: str, feature: str | None = None) -> dict:
    return {"MetricName": name, "Dimensions": dimensions(endpoint, feature), "Value": float(value)}


def put_requests(report: dict, endpoint: str) -> list[dict]:
    """The PutMetricData requests (keyword arguments) that publish `report` for `endpoint` (which the report's
    location says: a job may write only its own endpoint's reports). Refuses anything else, naming what."""
    if not isinstance(report, dict) or report.get("Namespace") != NAMESPACE:
        raise BadReport(f"not a report of namespace {NAMESPACE}")
    try:
        timestamp = datetime.fromisoformat(report["Timestamp"])
    except (KeyError, TypeError, ValueError):
        raise BadReport("the report has no ISO 8601 Timestamp") from None
    data = report.get("MetricData")
    if not isinstance(data, list):
        raise BadReport("the report has no MetricData list")
    for datum in data:
        check_datum(datum, endpoint)
    stamped = [{**datum, "Timestamp": timestamp} for datum in data]
    return [
        {"Namespace": NAMESPACE, "MetricData": stamped[start : start + MAX_METRICS_PER_CALL]}
        for start in range(0, len(stamped), MAX_METRICS_PER_CALL)
    ]


def check_datum(datum: dict, endpoint: str) -> None:
    if not isinstance(datum, dict) or set(datum) != {"MetricName", "Dimensions", "Value"}:
        raise BadReport("a datum is not {MetricName, Dimensions, Value}")
    name, value = datum["MetricName"], datum["Value"]
    prefixed = str(name).startswith((MODEL_QUALITY_PREFIX, BIAS_PREFIX))
    expected = {LARGEST_DRIFT: 1, FEATURE_DRIFT: 2, ATTRIBUTION_NDCG: 1}.get(name, 1 if prefixed else 0)
    if not expected:
        raise BadReport(f"unknown metric {str(name)[:100]!r}")
    given = datum["Dimensions"]
    if not isinstance(given, list) or len(given) != expected or given[0] != dimensions(endpoint)[0]:
        raise BadReport(f"{name}: dimensions other than this endpoint's ({endpoint})")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise BadReport(f"{name}: value {value!r} is not a finite number")


def endpoint_of(key: str, reports_prefix: str) -> str:
    """The endpoint a report key belongs to:
    `<reports_prefix>/<endpoint>/<execution>/reports/cloudwatch_metrics.json`."""
    parts = key.split("/")
    if len(parts) < 4 or parts[0] != reports_prefix or parts[-1] != REPORT_FILE or not parts[1]:
        raise BadReport(f"{key} is not a monitoring run's {REPORT_FILE} under {reports_prefix}/")
    return parts[1]
