"""The data-quality baselines of a model: `statistics.json` and `constraints.json` of what its endpoint receives
(and, separately, of what it answers).

The pipeline's DataQualityBaseline step runs it in the framework container (SageMaker Model Monitor is closed to
new customers, so its analyzer image is not used), on the raw feature records of the training split that
preprocessing sets aside: exactly the columns a client sends, no target and no ids. The Evaluate step writes the
baseline of the answers (`answer_frame`: the fields the endpoint returns, for the test split). Both files keep Model
Monitor's formats (the keys and per-feature fields of its analyzer's output), so the model package's
`ModelMetrics`/`DriftCheckBaselines` and every reader of them keep working. Types are inferred from the text, as
Model Monitor does: a column is Integral when every present value is an integer, Fractional when every one is a
number, else String. The KLL sketch is exact here: its data are up to SKETCH_SIZE evenly spaced order
statistics of the column.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ml_code.paths import (
    CONSTRAINTS_FILE,
    DATA_QUALITY_INPUT,
    DATA_QUALITY_OUTPUT,
    STATISTICS_FILE,
)
from ml_code.runtime import StagedFiles, run_base_dir_step

logger = logging.getLogger(__name__)

BUCKETS = 10  # Model Monitor materializes distributions in 10 buckets
SKETCH_SIZE = 2048
SKETCH_PARAMETERS = {"c": 0.64, "k": 2048.0}
MAX_DOMAIN = 20  # a String column with at most this many distinct values gets a domain constraint
# The prebuilt container's monitoring defaults (constraints.json `monitoring_config`).
MONITORING_CONFIG = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def read_dataset(source: Path) -> pd.DataFrame:
    """Every CSV file (with a header) under `source`, as text (empty cells are missing)."""
    files = sorted(p for p in ([source] if source.is_file() else source.rglob("*")) if p.is_file())
    if not files:
        raise FileNotFoundError(f"no dataset file under {source}")
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False) for path in files]
    headers = {tuple(frame.columns) for frame in frames}
    if len(headers) > 1:
        raise ValueError(f"the dataset's files under {source} have different headers: {sorted(headers)}")
    return pd.concat(frames, ignore_index=True)


def inferred_type(values: pd.Series) -> str:
    present = values[values != ""]
    if present.empty:
        return "Unknown"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any() or not np.isfinite(numbers).all():
        return "String"
    return "Integral" if present.str.fullmatch(r"[+-]?\d+").all() else "Fractional"


def feature_statistics(name: str, values: pd.Series) -> dict:
    present = values[values != ""]
    common = {"num_present": int(len(present)), "num_missing": int(len(values) - len(present))}
    kind = inferred_type(values)
    if kind in ("Integral", "Fractional"):
        numbers = present.astype(float).to_numpy()
        return {
            "name": name,
            "inferred_type": kind,
            "numerical_statistics": {
                "common": common,
                "mean": float(numbers.mean()),
                "sum": float(numbers.sum()),
                "std_dev": float(numbers.std()),
                "min": float(numbers.min()),
                "max": float(numbers.max()),
                "distribution": {
                    "kll": {
                        "buckets": histogram_buckets(numbers, float(numbers.min()), float(numbers.max())),
                        "sketch": sketch(numbers),
                    }
                },
            },
        }
    counts = present.value_counts(sort=False).sort_index()
    return {
        "name": name,
        "inferred_type": "String" if kind == "String" else "Unknown",
        "string_statistics": {
            "common": common,
            "distinct_count": float(len(counts)),
            "distribution": {
                "categorical": {"buckets": [{"value": value, "count": int(n)} for value, n in counts.items()]}
            },
        },
    }


def histogram_buckets(numbers: np.ndarray, low: float, high: float, scale: float = 1.0) -> list[dict]:
    """BUCKETS equal buckets from `low` to `high` (the column's extremes) with the counts of `numbers` (times
    `scale`, when they are a sample of the column)."""
    edges = np.linspace(low, high, BUCKETS + 1) if high > low else np.array([low] * (BUCKETS + 1))
    counts = np.histogram(numbers, bins=edges)[0] if high > low else [len(numbers)] + [0] * (BUCKETS - 1)
    return [
        {"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i]) * scale}
        for i in range(BUCKETS)
    ]


def sketch(numbers: np.ndarray) -> dict:
    """The KLL sketch's entry: up to SKETCH_SIZE evenly spaced order statistics of `numbers`."""
    ordered = np.sort(numbers)
    if len(ordered) > SKETCH_SIZE:
        ordered = ordered[np.linspace(0, len(ordered) - 1, SKETCH_SIZE).round().astype(int)]
    return {"parameters": SKETCH_PARAMETERS, "data": [ordered.tolist()]}


def statistics(frame: pd.DataFrame) -> dict:
    return {
        "version": 0.0,
        "dataset": {"item_count": int(len(frame))},
        "features": [feature_statistics(str(name), frame[name]) for name in frame.columns],
    }


def constraints(stats: dict) -> dict:
    """The constraints Model Monitor suggests from a baseline's statistics."""
    features = []
    for feature in stats["features"]:
        numeric = feature.get("numerical_statistics")
        block = numeric or feature["string_statistics"]
        common = block["common"]
        total = common["num_present"] + common["num_missing"]
        entry = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": common["num_present"] / total if total else 0.0,
        }
        if numeric:
            entry["num_constraints"] = {"is_non_negative": numeric["min"] >= 0}
        else:
            values = [bucket["value"] for bucket in block["distribution"]["categorical"]["buckets"]]
            if len(values) <= MAX_DOMAIN:
                entry["string_constraints"] = {"domains": values}
        features.append(entry)
    return {"version": 0.0, "features": features, "monitoring_config": MONITORING_CONFIG}


def analyze(source: Path, output: Path) -> dict:
    """The statistics and suggested constraints of the records under `source`, written to `output` (both or none)."""
    return write_baseline(read_dataset(source), output)


def write_baseline(frame: pd.DataFrame, output: Path) -> dict:
    """`statistics.json` and `constraints.json` of `frame` (text) in `output`, both or none; the statistics."""
    stats = statistics(frame)
    with StagedFiles() as staged:
        for name, document in ((STATISTICS_FILE, stats), (CONSTRAINTS_FILE, constraints(stats))):
            with staged.open(output / name) as handle:
                handle.write(json.dumps(document, indent=2, allow_nan=False).encode())
    logger.info("baseline of %d features over %d records", len(stats["features"]), stats["dataset"]["item_count"])
    return stats


def answer_frame(answers: list[dict]) -> pd.DataFrame:
    """The endpoint's answers as columns of text, one per field (a nested field as `<field>.<key>`, e.g.
    `probabilities.<class>`): what a captured answer is compared with."""
    return pd.DataFrame([dict(_flat_fields(answer)) for answer in answers]).astype(str)


def _flat_fields(answer: dict, prefix: str = ""):
    for name, value in answer.items():
        if isinstance(value, dict):
            yield from _flat_fields(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def main(argv: list[str] | None = None) -> int:
    return run_base_dir_step(argv, __doc__, lambda base: analyze(base / DATA_QUALITY_INPUT, base / DATA_QUALITY_OUTPUT))


if __name__ == "__main__":
    sys.exit(main())
