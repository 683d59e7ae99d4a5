"""What an execution's report files say, as a run's metrics, parameters and tags: read from the files the jobs
write (their names in ml_code/paths.py), never computed again.

- `evaluation.json` (model-quality schema): `test/<metric>` and `test/<metric>_std`, its bootstrap deviation;
- `analysis.json` (Clarify's schema): `bias/<pre|post>/<facet>/<group>/<metric>` and `shap/<feature>` (the mean
  absolute SHAP value; `shap/<label>/<feature>` when there are several labels);
- `cloudwatch_metrics.json` (a monitoring run's): `monitor/<metric>[/<feature>]`, as CloudWatch gets them;
- `constraint_violations.json`: `monitor/violations`, their count;
- `hyperparameters.json`: parameters; `metadata.json`: the contract, the data's hash and row counts;
- `decision.json` (the champion and fairness gates): whether it passed and why, as tags.
"""

from __future__ import annotations

from ml_code.monitoring.published_metrics import ENDPOINT_DIMENSION
from ml_code.monitoring.published_metrics import REPORT_FILE as PUBLISHED_METRICS_FILE
from ml_code.paths import (
    CHAMPION_FILE,
    CLARIFY_ANALYSIS_FILE,
    HYPERPARAMETERS_FILE,
    METADATA_FILE,
    REPORT_FILE,
    VIOLATIONS_FILE,
)
from tracking.runs import metric_name

BIAS_SECTIONS = {"pre_training_bias_metrics": "pre", "post_training_bias_metrics": "post"}
DATA_HASH_TAG = "data_sha256"


def report_values(path: str, document: dict) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """(metrics, params, tags) of the report at `path` (relative to the execution's folder: `<step>/<output>/...`);
    empty for a file that is no report of these."""
    name = path.rsplit("/", 1)[-1]
    if name == REPORT_FILE:
        return evaluation_metrics(document), {}, {}
    if name == CLARIFY_ANALYSIS_FILE:
        return {**bias_metrics(document), **shap_metrics(document)}, {}, {}
    if name == PUBLISHED_METRICS_FILE:
        return monitoring_metrics(document), {}, {}
    if name == VIOLATIONS_FILE:
        return {metric_name("monitor", "violations"): float(len(document["violations"]))}, {}, {}
    if name == HYPERPARAMETERS_FILE:
        return {}, {key: str(value) for key, value in document.items()}, {}
    if name == METADATA_FILE and DATA_HASH_TAG in document:
        rows = {metric_name("rows", split): float(count) for split, count in document.get("rows", {}).items()}
        return rows, {"contract": document["contract"]}, {DATA_HASH_TAG: document[DATA_HASH_TAG]}
    if name == CHAMPION_FILE and "passes" in document:  # the champion's and the fairness check's decisions
        step = path.split("/", 1)[0]
        return {}, {}, {f"{step}.passes": str(document["passes"]).lower(), f"{step}.reason": document["reason"]}
    return {}, {}, {}


def evaluation_metrics(report: dict) -> dict[str, float]:
    """Every metric of an evaluation report with a value, and its bootstrap standard deviation."""
    found = {}
    for section in (value for key, value in report.items() if key.endswith("_metrics")):
        for name, metric in section.items():
            if isinstance(metric, dict) and "value" in metric:
                found[metric_name("test", name)] = float(metric["value"])
                if "standard_deviation" in metric:
                    found[metric_name("test", f"{name}_std")] = float(metric["standard_deviation"])
    return found


def bias_metrics(analysis: dict) -> dict[str, float]:
    """Every bias metric of a Clarify analysis, by training stage, facet and group."""
    found = {}
    for section, stage in BIAS_SECTIONS.items():
        for facet, groups in analysis.get(section, {}).get("facets", {}).items():
            for group in groups:
                for metric in group["metrics"]:
                    if metric.get("value") is not None:
                        where = (stage, facet, group.get("value_or_threshold", ""), metric["name"])
                        found[metric_name("bias", *where)] = float(metric["value"])
    return found


def shap_metrics(analysis: dict) -> dict[str, float]:
    """The global SHAP value of every feature, per label when there are several."""
    labels = analysis.get("explanations", {}).get("kernel_shap", {})
    found = {}
    for label, explanation in labels.items():
        for feature, value in explanation.get("global_shap_values", {}).items():
            found[metric_name("shap", *([label] if len(labels) > 1 else []), feature)] = float(value)
    return found


def monitoring_metrics(report: dict) -> dict[str, float]:
    """The metrics a monitoring run publishes, named by metric and by every dimension but the endpoint."""
    return {
        metric_name(
            "monitor",
            datum["MetricName"],
            *(d["Value"] for d in datum.get("Dimensions", []) if d["Name"] != ENDPOINT_DIMENSION),
        ): float(datum["Value"])
        for datum in report["MetricData"]
    }
