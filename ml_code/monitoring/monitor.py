"""A monitoring run of an endpoint (the monitoring pipeline's network-isolated job): its captured traffic against
the served package's baselines, our own job (SageMaker Model Monitor is closed to new customers), writing Model
Monitor's file formats.

Reads what the pipeline's first step (ml_code/monitoring/served_model.py) chose: `served.json` (the package, the
window) and the files of `window.manifest`, downloaded as `<window input>/datacapture/<endpoint>/...` and
`<window input>/groundtruth/<endpoint>/...`; and the package's `statistics.json` and `constraints.json`. Writes
`statistics.json` and `constraint_violations.json` of the window; with ground truth, `model_quality/statistics.json`
(evaluation.json's schema); and the metrics to publish in `cloudwatch_metrics.json` (ml_code/monitoring/
published_metrics.py).

Checks: data type, completeness, missing and extra columns, categorical values and baseline drift. Drift is
the L-infinity distance Model Monitor uses: the largest gap between the baseline's and the window's
cumulative distributions (numeric) or category frequencies (categorical), against `comparison_threshold`.
Both completeness and drift allow the window's sampling noise: completeness three binomial standard deviations,
drift the two-sample critical value of the window's and the baseline's sizes (`DRIFT_SIGNIFICANCE`), so that
traffic from the training distribution raises no violation and no drift metric by chance, however small the window.
Model quality joins the predictions captured in the lookback (ground truth arrives after the request) with the
ground truth uploaded in it, by inference id.

Nothing a client sent wedges a run: a capture line that is not JSON, lacks its metadata or has a bad time, an
answer that cannot be read and a ground-truth line that is not JSON are skipped and counted. Fields a client sends
that the model does not take are named as extra columns; their values are never written. A metric that ground
truth leaves undefined (one class only, conflicting labels) is missing data, with a warning that says why; a window
with no readable request publishes no drift (missing data too).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ml_code.contracts.contract import DatasetContract, load_contract
from ml_code.inference.batch_score import load_packaged_model
from ml_code.inference.inference import LoadedModel
from ml_code.metrics import build_report
from ml_code.monitoring.fairness_drift import attribution_drift, bias_drift
from ml_code.monitoring.ground_truth import NEGATIVE, POSITIVE
from ml_code.monitoring.published_metrics import REPORT_FILE, metrics_report
from ml_code.monitoring.served_model import LOOKBACK
from ml_code.monitoring.window_summary import ColumnSummary, WindowSummary
from ml_code.paths import (
    ATTRIBUTION_DIR,
    BIAS_DIR,
    CLARIFY_ANALYSIS_FILE,
    CONSTRAINTS_FILE,
    DATA_CAPTURE_PREFIX,
    ENDPOINT_VARIANT,
    GROUND_TRUTH_PREFIX,
    MODEL_ARCHIVE,
    MODEL_QUALITY_DIR,
    MONITORING_CONSTRAINTS_INPUT,
    MONITORING_EXPLAINABILITY_INPUT,
    MONITORING_MODEL_INPUT,
    MONITORING_REPORTS_OUTPUT,
    MONITORING_STATISTICS_INPUT,
    MONITORING_WINDOW_INPUT,
    SERVED_MODEL_FILE,
    SERVED_MODEL_OUTPUT,
    STATISTICS_FILE,
    VIOLATIONS_FILE,
)
from ml_code.runtime import atomic_write_text, run_contract_step

logger = logging.getLogger(__name__)

COMPLETENESS_SIGMAS = 3.0
# The two-sample Kolmogorov-Smirnov critical value c(alpha) for alpha = 0.001: a distance above
# c * sqrt(1/n + 1/m) between samples of sizes n and m happens by chance once in a thousand windows.
DRIFT_SIGNIFICANCE = 0.001
DRIFT_CRITICAL = math.sqrt(-0.5 * math.log(DRIFT_SIGNIFICANCE / 2))
SUMMARY_CHUNK = 5_000  # records parsed before they are summarised: what a run holds of its window at once


class CaptureWindow:
    """The requests captured in [start, end), summarised (the baseline's columns, as text: `summary`), the fields no
    baseline column has (names only), and how many captured lines could not be read; with the answers (and their
    metadata and inputs) of the lookback's requests that have ground truth."""

    def __init__(self, summary: WindowSummary, events: list[dict], extra: set[str], skipped: int) -> None:
        self.summary, self.events, self.extra, self.skipped = summary, events, extra, skipped


def read_capture(
    source: Path,
    start: datetime,
    end: datetime,
    columns: list[str],
    *,
    labelled: frozenset[str] | set[str] = frozenset(),
    since: datetime | None = None,
) -> CaptureWindow:
    """Every readable captured request in [start, end), streamed into a summary (memory does not grow with the
    window), and the answers to requests in [since, end) whose inference id is `labelled` (with none, the earlier
    files are not read); a CSV without a header takes the baseline's column order."""
    since = min(since or start, start) if labelled else start
    summary = WindowSummary(columns)
    known = set(columns)
    rows, events, extra, skipped = [], [], set(), 0
    for path in window_files(source, since, end):
        with path.open(encoding="utf-8", errors="replace", newline="") as lines:
            for line in lines:
                if not line.endswith("\n") or not line.strip():  # a line the capture writer is still appending
                    continue
                try:
                    event = json.loads(line)
                    metadata = event["eventMetadata"]
                    when = _time(metadata["inferenceTime"])
                    in_window = start <= when < end
                    has_truth = since <= when < end and metadata.get("inferenceId") in labelled
                    if not (in_window or has_truth):
                        continue
                    records = _records(event["captureData"]["endpointInput"], columns) if in_window else None
                    output = event["captureData"]["endpointOutput"]
                except (ValueError, KeyError, TypeError, AttributeError) as error:  # no values: they may be personal
                    logger.warning("skipping a captured line that cannot be read: %s", type(error).__name__)
                    skipped += 1
                    continue
                if records is not None:
                    for record in records:  # an extra field's name is kept, never its value
                        extra |= record.keys() - known
                        rows.append({name: value for name, value in record.items() if name in known})
                    if len(rows) >= SUMMARY_CHUNK:
                        summary.add(pd.DataFrame(rows))
                        rows = []
                if has_truth:
                    events.append({**metadata, "output": output, "input": event["captureData"]["endpointInput"]})
    if rows:
        summary.add(pd.DataFrame(rows))
    return CaptureWindow(summary, events, extra, skipped)


def window_files(source: Path, start: datetime, end: datetime) -> list[Path]:
    """The capture files of the hours that overlap [start, end) (`yyyy/mm/dd/hh/` folders, as SageMaker files them);
    a file outside that layout is read too."""
    found = []
    for path in sorted(source.rglob("*.jsonl")):
        hour = _hour_of(path.relative_to(source).parts[-5:-1])
        if hour is None or (hour <= end and hour + timedelta(hours=1) > start):
            found.append(path)
    return found


def _hour_of(parts: tuple[str, ...]) -> datetime | None:
    try:
        return datetime(*map(int, parts), tzinfo=timezone.utc) if len(parts) == 4 else None
    except ValueError:
        return None


def _time(text: str) -> datetime:
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _decoded(payload: dict) -> str:
    data = payload["data"]
    return base64.b64decode(data).decode("utf-8") if payload["encoding"] == "BASE64" else data


def _records(payload: dict, columns: list[str]) -> list[dict[str, str]]:
    """A request's records as text by field name (a CSV without a header takes the baseline's column order)."""
    text = _decoded(payload)
    if payload["observedContentType"].split(";")[0].strip().lower() == "text/csv":
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
        if rows and set(rows[0]) >= set(columns):
            return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]
        if rows and len(rows[0]) != len(columns):
            raise ValueError("a CSV record without a header and with another width than the baseline")
        return [dict(zip(columns, row, strict=False)) for row in rows]
    payload_json = json.loads(text)
    if isinstance(payload_json, dict) and "instances" in payload_json:
        payload_json = payload_json["instances"]
    records = payload_json if isinstance(payload_json, list) else [payload_json]
    # as the values were sent: 2 stays "2", null becomes missing
    return [{str(name): "" if value is None else str(value) for name, value in record.items()} for record in records]


def check(
    baseline: dict, constraints: dict, window: WindowSummary, extra: set[str] = frozenset()
) -> tuple[list[dict], dict]:
    """Model Monitor's constraint checks: (violations, drift per feature). A feature's drift is its distance where
    that is beyond the window's chance (`drift_critical_value` of its sample's size), else 0."""
    config = constraints.get("monitoring_config", {})
    distribution = config.get("distribution_constraints", {})
    numeric_threshold = float(distribution.get("comparison_threshold", 0.1))
    categorical_threshold = float(distribution.get("categorical_comparison_threshold", 0.1))
    compare = distribution.get("perform_comparison", "Enabled") == "Enabled"
    baseline_features = {feature["name"]: feature for feature in baseline["features"]}
    violations, drift = [], {}

    def violation(feature: str, kind: str, description: str) -> None:
        violations.append({"feature_name": feature, "constraint_check_type": kind, "description": description})

    for column in sorted(extra):
        violation(column, "extra_column_check", f"Extra column {column} is not in the baseline")
    for constraint in constraints["features"]:
        name = constraint["name"]
        if name not in window.seen:
            violation(name, "missing_column_check", f"Column {name} of the baseline is missing from the data")
            continue
        column = window.summaries[name]
        conforming = column.conforming_share(constraint["inferred_type"])
        if conforming < config.get("datatype_check_threshold", 1.0):
            violation(
                name,
                "data_type_check",
                f"Data type match requirement is not met. Expected data type: {constraint['inferred_type']}, "
                f"Expected match: {100 * config.get('datatype_check_threshold', 1.0):g}%. "
                f"Observed: only {100 * conforming:.2f}% of data is {constraint['inferred_type']}.",
            )
        completeness = column.present / window.rows if window.rows else 0.0
        expected = constraint.get("completeness", 1.0)
        tolerance = COMPLETENESS_SIGMAS * math.sqrt(expected * (1 - expected) / max(window.rows, 1))
        if completeness < expected - tolerance:
            violation(
                name,
                "completeness_check",
                f"Data completeness requirement is not met. Expected: {expected:.4f}, observed: {completeness:.4f}",
            )
        domain = constraint.get("string_constraints", {}).get("domains")
        if domain is not None and column.present:
            frequencies = column.frequencies()
            inside = sum(frequencies.get(value, 0.0) for value in domain)
            if inside < config.get("domain_content_threshold", 1.0):
                violation(
                    name,
                    "categorical_values_check",
                    f"Data does not meet the requirement: {100 * (1 - inside):.2f}% of the values are outside "
                    f"the baseline's {len(domain)} categories",
                )
        if compare and column.present:
            baseline_feature = baseline_features[name]
            distance = _drift(baseline_feature, column)
            threshold = numeric_threshold if "numerical_statistics" in baseline_feature else categorical_threshold
            sampled = len(column.sample.items)
            chance = drift_critical_value(sampled, _present_count(baseline_feature))
            drift[name] = distance if distance > chance else 0.0
            if distance > max(threshold, chance):
                violation(
                    name,
                    "baseline_drift_check",
                    f"Baseline drift distance: {distance:.4f} exceeds threshold: {threshold:g} "
                    f"(and {chance:.4f}, what chance gives {sampled} records)",
                )
    return violations, drift


def drift_critical_value(window: int, baseline: int) -> float:
    """The distance two samples of these sizes from one distribution exceed with probability DRIFT_SIGNIFICANCE."""
    return DRIFT_CRITICAL * math.sqrt(1 / max(window, 1) + 1 / max(baseline, 1))


def _present_count(feature: dict) -> int:
    block = feature.get("numerical_statistics") or feature["string_statistics"]
    return int(block["common"]["num_present"])


def _drift(baseline_feature: dict, column: ColumnSummary) -> float:
    """The L-infinity distance between the baseline's distribution and the window's (its sample's)."""
    numeric = baseline_feature.get("numerical_statistics")
    if numeric:
        current = column.sample_numbers()
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
    observed = column.frequencies()
    return float(max(abs(expected.get(value, 0.0) - observed.get(value, 0.0)) for value in {*expected, *observed}))


@dataclass(frozen=True)
class GroundTruth:
    """inferenceId -> the label of each record of the request; and, where the upload gave them, the facets of each
    record (a list of {column: value}, in the records' order)."""

    labels: dict[str, list[str]]
    facets: dict[str, list[dict]]


def read_ground_truth(source: Path) -> GroundTruth:
    """The ground truth of Model Monitor's lines `{"groundTruthData": {"data": "yes", "encoding": "CSV"},
    "eventMetadata": {"eventId": "<inferenceId>"}}`, with the facets of a line that has `"facets": [{...}, ...]` (one
    per label). A line that cannot be read is skipped; an id given two different answers is left out (which one is
    true?); facets that do not give one object per label are ignored."""
    labels: dict[str, list[str]] = {}
    facets: dict[str, list[dict]] = {}
    conflicting, skipped = set(), 0
    for path in sorted(source.rglob("*.jsonl")) if source.is_dir() else []:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                data = _decoded({**record["groundTruthData"], "observedContentType": ""})
                inference_id = str(record["eventMetadata"]["eventId"])
                answer = [row[0].strip() for row in csv.reader(io.StringIO(data)) if row]
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                logger.warning("skipping a ground-truth line that cannot be read: %s", type(error).__name__)
                skipped += 1
                continue
            if labels.get(inference_id, answer) != answer:
                conflicting.add(inference_id)
            labels[inference_id] = answer
            given = record.get("facets")
            if isinstance(given, list) and len(given) == len(answer) and all(isinstance(f, dict) for f in given):
                facets[inference_id] = given
    if conflicting:
        logger.warning("%d inference id(s) have conflicting ground truth: left out", len(conflicting))
    return GroundTruth(
        labels={key: value for key, value in labels.items() if key not in conflicting},
        facets={key: value for key, value in facets.items() if key not in conflicting},
    )


def labelled_records(
    events: list[dict], truth: GroundTruth, contract: DatasetContract, columns: list[str]
) -> pd.DataFrame:
    """The records of the answered requests that have ground truth, as the bias jobs read a dataset: the target as
    1/0 (the contract's positive label is 1), every field the client sent, and the facets the upload gave (a field
    the request had wins: it is what the model saw). A request that cannot be read is skipped."""
    frames = []
    for event in events:
        labels = truth.labels.get(event.get("inferenceId", ""))
        if labels is None:
            continue
        try:
            records = pd.DataFrame(_records(event["input"], columns))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if len(records) != len(labels):
            continue
        facets = pd.DataFrame(truth.facets.get(event["inferenceId"], [{}] * len(labels))).astype(str)
        records = pd.concat([facets.drop(columns=list(records.columns), errors="ignore"), records], axis=1)
        records[contract.target] = [_binary_truth(label, contract.positive_label) for label in labels]
        frames.append(records)
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[contract.target])
    return frame[frame[contract.target].notna()].astype({contract.target: int})


def model_quality(events: list[dict], labels: dict[str, list[str]], problem_type: str, positive_label=None):
    """The captured predictions joined with their ground truth by inferenceId, scored as evaluate.py scores a
    test split; None when nothing in the window has ground truth yet. An answer or a label that cannot be read is
    skipped; a metric the data leaves undefined (one class only) has no value."""
    truth, predicted, classes, skipped = [], [], None, 0
    for event in events:
        answer = labels.get(event.get("inferenceId", ""))
        if answer is None:
            continue
        try:
            predictions = _predictions(event["output"], problem_type, classes)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            skipped += 1
            continue
        if len(answer) != len(predictions):
            skipped += 1
            continue
        for label, prediction in zip(answer, predictions, strict=True):
            if problem_type == "binary_classification":
                truth.append(_binary_truth(label, positive_label))
                predicted.append(float(prediction["probability"]))
            elif problem_type == "multiclass_classification":
                classes = classes or list(prediction["probabilities"])
                truth.append(float(classes.index(label)) if label in classes else math.nan)
                predicted.append(list(prediction["probabilities"].values()))
            else:
                truth.append(_number(label))
                predicted.append(float(prediction["value"]))
    if skipped:
        logger.warning("skipped %d answer(s) that could not be read or matched with their ground truth", skipped)
    y = np.asarray(truth, dtype=float)
    keep = ~np.isnan(y)
    if not keep.any():
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        report = build_report(problem_type, y[keep], np.asarray(predicted, dtype=float)[keep], seed=0)
    for name, value in report[f"{problem_type}_metrics"].items():
        if isinstance(value, dict) and not math.isfinite(value.get("value", 0.0)):
            cause = "only one class in the window's ground truth" if len(set(y[keep])) < 2 else "no spread to score"
            logger.warning("%s is undefined for this window (%s): no datapoint", name, cause)
            value.update(value=None, standard_deviation=None)
    report["merged_records"] = int(keep.sum())
    return report


def _predictions(output: dict, problem_type: str, classes: list[str] | None) -> list[dict]:
    """The predictions of a captured answer, JSON (`{"predictions": [...]}`) or CSV (a line per record)."""
    text = _decoded(output)
    if output.get("observedContentType", "").split(";")[0].strip().lower() != "text/csv":
        return json.loads(text)["predictions"]
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if problem_type == "binary_classification":  # probability,label
        return [{"probability": float(row[0])} for row in rows]
    if problem_type == "regression":  # value
        return [{"value": float(row[0])} for row in rows]
    if classes is None:  # label,p_1,...,p_k: the classes' order is known from a JSON answer only
        raise ValueError("a multiclass CSV answer before any JSON answer named the classes")
    return [{"probabilities": dict(zip(classes, map(float, row[1:]), strict=True))} for row in rows]


def _binary_truth(label: str, positive_label) -> float:
    """1 or 0: as ground truth is uploaded (`1`/`0`), or as the data spells the labels (the contract's positive one
    is 1, anything else 0); NaN where neither tells."""
    if label in (POSITIVE, NEGATIVE):
        return float(label == POSITIVE)
    if positive_label is not None:
        return float(label == str(positive_label).strip())
    return math.nan


def _number(label: str) -> float:
    try:
        return float(label)
    except ValueError:
        return math.nan


def monitor(
    served: dict,
    window_input: Path,
    baseline: dict,
    constraints: dict,
    output: Path,
    *,
    contract: DatasetContract,
    model: LoadedModel | None = None,
    explainability: dict | None = None,
) -> dict:
    """One monitoring run of `served["endpoint"]` over `served`'s window; returns what it wrote. With the served
    `model` and its `explainability` report (a contract with a fairness section), bias and attribution drift too."""
    endpoint = served["endpoint"]
    start, end = _time(served["window_start"]), _time(served["window_end"])
    columns = [feature["name"] for feature in baseline["features"]]
    truth = read_ground_truth(window_input / GROUND_TRUTH_PREFIX / endpoint)
    window = read_capture(
        window_input / DATA_CAPTURE_PREFIX / endpoint / ENDPOINT_VARIANT,
        start,
        end,
        columns,
        labelled=set(truth.labels),
        since=end - LOOKBACK,
    )
    violations, drift = [], None
    if not window.summary.rows:
        logger.warning("no readable captured request between %s and %s: no data-quality metrics", start, end)
    else:
        violations, drift = check(baseline, constraints, window.summary, window.extra)
        statistics = window.summary.statistics()
        atomic_write_text(output / STATISTICS_FILE, json.dumps(statistics, indent=2, allow_nan=False))
        atomic_write_text(output / VIOLATIONS_FILE, json.dumps({"violations": violations}, indent=2))
    quality = model_quality(window.events, truth.labels, contract.problem_type, contract.positive_label)
    defined = {}
    if quality is not None:
        atomic_write_text(output / MODEL_QUALITY_DIR / STATISTICS_FILE, json.dumps(quality, indent=2, allow_nan=False))
        defined = {
            name: value["value"]
            for name, value in quality[f"{contract.problem_type}_metrics"].items()
            if isinstance(value, dict) and value.get("value") is not None
        }
    attribution, bias = None, {}
    if model is not None and explainability is not None and window.summary.rows:
        attribution = attribution_drift(model, window.summary.sampled_records(), explainability)
        atomic_write_text(
            output / ATTRIBUTION_DIR / CLARIFY_ANALYSIS_FILE, json.dumps(attribution, indent=2, allow_nan=False)
        )
    if model is not None and contract.fairness is not None:
        labelled = labelled_records(window.events, truth, contract, columns)
        if len(labelled):
            section, bias = bias_drift(contract, model, labelled)
            report = {"version": "1.0", "post_training_bias_metrics": section}
            atomic_write_text(output / BIAS_DIR / CLARIFY_ANALYSIS_FILE, json.dumps(report, indent=2, allow_nan=False))
    metrics = metrics_report(
        endpoint,
        end,
        drift=drift,
        quality=defined,
        attribution=attribution["ndcg"] if attribution else None,
        bias=bias,
    )
    atomic_write_text(output / REPORT_FILE, json.dumps(metrics, indent=2, allow_nan=False))
    logger.info(
        "monitored %d records (%d unreadable line(s)), %d answer(s) with ground truth: %d violation(s)",
        window.summary.rows,
        window.skipped,
        len(window.events),
        len(violations),
    )
    return {
        "violations": violations,
        "drift": drift,
        "model_quality": quality,
        "attribution": attribution,
        "bias": bias,
        "records": window.summary.rows,
        "unreadable": window.skipped,
    }


def run_job(contract_name: str, base: Path) -> dict:
    """The job as the pipeline runs it: its inputs and output under the processing base `base`."""
    contract = load_contract(contract_name)
    inputs = base / "input"
    model = explainability = None
    with tempfile.TemporaryDirectory() as unpacked:
        if contract.fairness is not None:  # the pipeline gives the served model and its explainability report
            model = load_packaged_model(inputs / MONITORING_MODEL_INPUT / MODEL_ARCHIVE, Path(unpacked))
            explainability = _single_json(inputs / MONITORING_EXPLAINABILITY_INPUT, CLARIFY_ANALYSIS_FILE)
        return monitor(
            json.loads((inputs / SERVED_MODEL_OUTPUT / SERVED_MODEL_FILE).read_text()),
            inputs / MONITORING_WINDOW_INPUT,
            _single_json(inputs / MONITORING_STATISTICS_INPUT, STATISTICS_FILE),
            _single_json(inputs / MONITORING_CONSTRAINTS_INPUT, CONSTRAINTS_FILE),
            base / MONITORING_REPORTS_OUTPUT,
            contract=contract,
            model=model,
            explainability=explainability,
        )


def _single_json(folder: Path, name: str) -> dict:
    """A baseline file an input downloaded (SageMaker keeps an object's name)."""
    if not (folder / name).is_file():
        raise FileNotFoundError(f"no {name} in {folder}: the served package's baseline is missing")
    return json.loads((folder / name).read_text())


def main(argv: list[str] | None = None) -> int:
    return run_contract_step(argv, __doc__, run_job)


if __name__ == "__main__":
    sys.exit(main())
