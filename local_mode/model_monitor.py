"""The local stand-in for a Model Monitor monitoring job: captured traffic against the model's baseline.

Runs as the monitoring container does, configured by its environment: `dataset_source` (the endpoint's
capture folder), `start_time`/`end_time` (the window, by `inferenceTime`), `baseline_statistics`,
`baseline_constraints`, `output_path`, and for model quality `ground_truth_source` and `problem_type` (ground
truth as ml_code/monitoring/ground_truth.py writes it). It writes, in Model Monitor's formats, `statistics.json`
and `constraint_violations.json`; with ground truth, `model_quality/statistics.json` (evaluation.json's schema);
and the CloudWatch metrics the container would publish in `cloudwatch_metrics.json`.

Checks: data type, completeness, missing and extra columns, categorical values and baseline drift. Drift is
the L-infinity distance Model Monitor uses: the largest gap between the baseline's and the window's
cumulative distributions (numeric) or category frequencies (categorical), against `comparison_threshold`.
Completeness allows the window's sampling noise (three binomial standard deviations), so traffic from the
training distribution does not raise a violation by chance.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml_code.monitoring.data_quality import statistics
from ml_code.monitoring.ground_truth import POSITIVE
from ml_code.paths import DRIFT_METRIC_PREFIX, MONITOR_DATA_NAMESPACE, MONITOR_MODEL_NAMESPACE, STATISTICS_FILE
from ml_code.runtime import atomic_write_text, run_env_step

logger = logging.getLogger(__name__)

VIOLATIONS_FILE, METRICS_FILE = "constraint_violations.json", "cloudwatch_metrics.json"
MODEL_QUALITY_DIR = "model_quality"
DATA_NAMESPACE, MODEL_NAMESPACE = MONITOR_DATA_NAMESPACE, MONITOR_MODEL_NAMESPACE
COMPLETENESS_SIGMAS = 3.0


class CaptureWindow:
    """The requests captured in [start, end): their input records (as text) and what the model answered."""

    def __init__(self, records: pd.DataFrame, events: list[dict], skipped: int) -> None:
        self.records, self.events, self.skipped = records, events, skipped


def read_capture(source: Path, start: datetime, end: datetime, columns: list[str]) -> CaptureWindow:
    """Every captured request in the window; a CSV without a header takes the baseline's column order."""
    frames, events, skipped = [], [], 0
    for path in sorted(source.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not line.endswith("\n"):  # a line the capture writer is still appending
                continue
            event = json.loads(line)
            when = _time(event["eventMetadata"]["inferenceTime"])
            if not start <= when < end:
                continue
            try:
                frame = _records(event["captureData"]["endpointInput"], columns)
            except (ValueError, KeyError, TypeError) as error:  # no values in the log: they may be personal
                logger.warning("skipping a captured request that cannot be read: %s", type(error).__name__)
                skipped += 1
                continue
            frames.append(frame)
            events.append({**event["eventMetadata"], "output": event["captureData"]["endpointOutput"]})
    records = pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame(columns=columns)
    return CaptureWindow(records.astype(str), events, skipped)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _decoded(payload: dict) -> str:
    data = payload["data"]
    return base64.b64decode(data).decode("utf-8") if payload["encoding"] == "BASE64" else data


def _records(payload: dict, columns: list[str]) -> pd.DataFrame:
    text = _decoded(payload)
    if payload["observedContentType"].split(";")[0].strip().lower() == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        if rows and set(rows[0]) >= set(columns):
            return pd.DataFrame(rows[1:], columns=rows[0])
        if rows and len(rows[0]) != len(columns):
            raise ValueError("a CSV record without a header and with another width than the baseline")
        return pd.DataFrame(rows, columns=columns)
    payload_json = json.loads(text)
    if isinstance(payload_json, dict) and "instances" in payload_json:
        payload_json = payload_json["instances"]
    records = payload_json if isinstance(payload_json, list) else [payload_json]
    texts = [{name: "" if value is None else str(value) for name, value in record.items()} for record in records]
    return pd.DataFrame(texts, dtype=str)  # as the values were sent: 2 stays "2", null becomes missing


def check(baseline: dict, constraints: dict, current: dict, records: pd.DataFrame) -> tuple[list[dict], dict]:
    """Model Monitor's constraint checks: (violations, drift distance per feature)."""
    config = constraints.get("monitoring_config", {})
    distribution = config.get("distribution_constraints", {})
    numeric_threshold = float(distribution.get("comparison_threshold", 0.1))
    categorical_threshold = float(distribution.get("categorical_comparison_threshold", 0.1))
    compare = distribution.get("perform_comparison", "Enabled") == "Enabled"
    baseline_features = {feature["name"]: feature for feature in baseline["features"]}
    current_features = {feature["name"]: feature for feature in current["features"]}
    violations, drift = [], {}

    def violation(feature: str, kind: str, description: str) -> None:
        violations.append({"feature_name": feature, "constraint_check_type": kind, "description": description})

    for extra in sorted(set(current_features) - set(baseline_features)):
        violation(extra, "extra_column_check", f"Extra column {extra} is not in the baseline")
    for constraint in constraints["features"]:
        name = constraint["name"]
        if name not in current_features:
            violation(name, "missing_column_check", f"Column {name} of the baseline is missing from the data")
            continue
        values = records[name]
        present = values[values != ""]
        conforming = _conforming_share(present, constraint["inferred_type"])
        if conforming < config.get("datatype_check_threshold", 1.0):
            violation(
                name,
                "data_type_check",
                f"Data type match requirement is not met. Expected data type: {constraint['inferred_type']}, "
                f"Expected match: {100 * config.get('datatype_check_threshold', 1.0):g}%. "
                f"Observed: only {100 * conforming:.2f}% of data is {constraint['inferred_type']}.",
            )
        completeness = len(present) / len(values) if len(values) else 0.0
        expected = constraint.get("completeness", 1.0)
        tolerance = COMPLETENESS_SIGMAS * math.sqrt(expected * (1 - expected) / max(len(values), 1))
        if completeness < expected - tolerance:
            violation(
                name,
                "completeness_check",
                f"Data completeness requirement is not met. Expected: {expected:.4f}, observed: {completeness:.4f}",
            )
        domain = constraint.get("string_constraints", {}).get("domains")
        if domain is not None and len(present):
            inside = float(present.isin(domain).mean())
            if inside < config.get("domain_content_threshold", 1.0):
                violation(
                    name,
                    "categorical_values_check",
                    f"Data does not meet the requirement: {100 * (1 - inside):.2f}% of the values are outside "
                    f"the baseline's {len(domain)} categories",
                )
        if compare and len(present):
            baseline_feature = baseline_features[name]
            distance = _drift(baseline_feature, present)
            threshold = numeric_threshold if "numerical_statistics" in baseline_feature else categorical_threshold
            drift[name] = distance
            if distance > threshold:
                violation(
                    name,
                    "baseline_drift_check",
                    f"Baseline drift distance: {distance:.4f} exceeds threshold: {threshold:g}",
                )
    return violations, drift


def _conforming_share(present: pd.Series, expected: str) -> float:
    if not len(present) or expected in ("String", "Unknown"):
        return 1.0
    numbers = pd.to_numeric(present, errors="coerce")
    conforming = numbers.notna() & np.isfinite(numbers)
    if expected == "Integral":
        conforming &= present.str.fullmatch(r"[+-]?\d+")
    return float(conforming.mean())


def _drift(baseline_feature: dict, present: pd.Series) -> float:
    """The L-infinity distance between the baseline's distribution and the window's."""
    numeric = baseline_feature.get("numerical_statistics")
    if numeric:
        current = np.sort(pd.to_numeric(present, errors="coerce").dropna().to_numpy(float))
        if not len(current):
            return 1.0  # nothing numeric left: as far from the baseline as can be
        sketch = np.sort(np.asarray(numeric["distribution"]["kll"]["sketch"]["data"][0], dtype=float))
        points = np.union1d(sketch, current)
        baseline_cdf = np.searchsorted(sketch, points, side="right") / len(sketch)
        current_cdf = np.searchsorted(current, points, side="right") / len(current)
        return float(np.abs(baseline_cdf - current_cdf).max())
    buckets = baseline_feature["string_statistics"]["distribution"]["categorical"]["buckets"]
    total = sum(bucket["count"] for bucket in buckets)
    expected = {bucket["value"]: bucket["count"] / total for bucket in buckets}
    observed = present.value_counts(normalize=True).to_dict()
    return float(max(abs(expected.get(value, 0.0) - observed.get(value, 0.0)) for value in {*expected, *observed}))


def read_ground_truth(source: Path) -> dict[str, list[str]]:
    """inferenceId -> label(s), from Model Monitor's ground-truth lines
    `{"groundTruthData": {"data": "yes", "encoding": "CSV"}, "eventMetadata": {"eventId": "<inferenceId>"}}`."""
    labels = {}
    for path in sorted(source.rglob("*.jsonl")) if source.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                data = _decoded({**record["groundTruthData"], "observedContentType": ""})
                labels[record["eventMetadata"]["eventId"]] = [row[0] for row in csv.reader(io.StringIO(data)) if row]
    return labels


def model_quality(events: list[dict], labels: dict[str, list[str]], problem_type: str):
    """The captured predictions joined with their ground truth by inferenceId, scored as evaluate.py scores a
    test split; None when nothing in the window has ground truth yet."""
    from ml_code.evaluation.evaluate import build_report

    truth, predicted, classes = [], [], None
    for event in events:
        answer = labels.get(event.get("inferenceId", ""))
        predictions = json.loads(_decoded(event["output"])).get("predictions", [])
        if answer is None or len(answer) != len(predictions):
            continue
        for label, prediction in zip(answer, predictions, strict=True):
            if problem_type == "binary_classification":
                truth.append(float(label == POSITIVE))  # `1` or `0`, as Model Monitor takes a binary label
                predicted.append(prediction["probability"])
            elif problem_type == "multiclass_classification":
                classes = classes or list(prediction["probabilities"])
                truth.append(float(classes.index(label)) if label in classes else math.nan)
                predicted.append(list(prediction["probabilities"].values()))
            else:
                truth.append(float(label))
                predicted.append(prediction["value"])
    y = np.asarray(truth, dtype=float)
    keep = ~np.isnan(y)
    if not keep.any():
        return None
    report = build_report(problem_type, y[keep], np.asarray(predicted, dtype=float)[keep], seed=0)
    report["merged_records"] = int(keep.sum())
    return report


def monitor(env: dict[str, str]) -> dict:
    """One monitoring run, configured as the container is; returns what it wrote."""
    baseline = json.loads(Path(env["baseline_statistics"]).read_text())
    constraints = json.loads(Path(env["baseline_constraints"]).read_text())
    output = Path(env["output_path"])
    columns = [feature["name"] for feature in baseline["features"]]
    window = read_capture(Path(env["dataset_source"]), _time(env["start_time"]), _time(env["end_time"]), columns)
    if window.records.empty:
        raise ValueError(f"no captured requests between {env['start_time']} and {env['end_time']}")
    current = statistics(window.records)
    violations, drift = check(baseline, constraints, current, window.records)
    atomic_write_text(output / STATISTICS_FILE, json.dumps(current, indent=2, allow_nan=False))
    atomic_write_text(output / VIOLATIONS_FILE, json.dumps({"violations": violations}, indent=2))
    metrics = [_metric(DATA_NAMESPACE, DRIFT_METRIC_PREFIX + name, distance) for name, distance in drift.items()]
    quality = None
    if env.get("ground_truth_source"):
        labels = read_ground_truth(Path(env["ground_truth_source"]))
        quality = model_quality(window.events, labels, env["problem_type"])
        if quality is not None:
            atomic_write_text(output / MODEL_QUALITY_DIR / STATISTICS_FILE, json.dumps(quality, indent=2))
            block = quality[f"{env['problem_type']}_metrics"]
            metrics += [
                _metric(MODEL_NAMESPACE, name, value["value"])
                for name, value in block.items()
                if isinstance(value, dict) and "value" in value
            ]
    atomic_write_text(output / METRICS_FILE, json.dumps(metrics, indent=2))
    logger.info(
        "monitored %d records from %d requests (%d unreadable): %d violation(s)",
        len(window.records),
        len(window.events),
        window.skipped,
        len(violations),
    )
    return {"violations": violations, "drift": drift, "model_quality": quality, "records": len(window.records)}


def _metric(namespace: str, name: str, value: float) -> dict:
    return {"Namespace": namespace, "MetricName": name, "Value": float(value)}


def main(argv: list[str] | None = None) -> int:
    required = ("dataset_source", "start_time", "end_time", "baseline_statistics", "baseline_constraints")
    return run_env_step(argv, __doc__, (*required, "output_path"), monitor)


if __name__ == "__main__":
    sys.exit(main())
