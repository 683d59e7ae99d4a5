"""smclarify, AWS's open-source library behind SageMaker Clarify's bias metrics, as the oracle of ours: the same
records, labels, predicted labels, facets and group variable in, its report out, compared metric by metric.

Also a command (run in the ML environment) that checks a registered package's bias reports against it:
`python -m tests.ml_code.bias_oracle --config C --dataset D --report R [--model-archive model.tar.gz]`; it prints
how many metrics it compared and every difference, and exits 1 on any.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ml_code.fairness import analyze
from ml_code.inference.batch_score import load_packaged_model

TOLERANCE = 1e-9
PREDICTED = "__predicted_label"


def clarify_reports(config: dict, frame: pd.DataFrame, model) -> dict[str, dict[str, dict[str, float | None]]]:
    """stage -> facet column -> metric -> smclarify's value (None where it reports an error), for what `config`
    asks of `frame` (and of `model`'s predictions after training)."""
    from smclarify.bias import report

    label = frame[config["label"]].astype(int)
    excluded = set(config.get("excluded_columns", [])) | {config["label"]}
    records = frame[[column for column in frame.columns if column not in excluded]]
    methods = config["methods"]
    predicted = None
    if "post_training_bias" in methods:
        probability = np.array([row["probability"] for row in analyze.predict_fn(records, model)])
        predicted = pd.Series((probability >= config.get("probability_threshold", 0.5)).astype(int), name=PREDICTED)
    group_variable = frame[config["group_variable"]] if "group_variable" in config else None
    found: dict = {}
    for spec in config["facet"]:
        column = spec["name_or_index"]
        facet = analyze._facet(spec, frame)
        values = frame[column].astype(float) if facet.threshold is not None else frame[column]
        # the flip test's records: what our analysis uses (the model's features without the facet's), numeric
        features = (
            analyze._flip_test_features(model, records, column) if predicted is not None else np.empty((len(frame), 0))
        )
        data = pd.DataFrame(features, columns=[f"f{i}" for i in range(features.shape[1])]).assign(
            **{column: values.to_numpy(), config["label"]: label.to_numpy()}
        )
        facet_column = report.FacetColumn(
            column, [facet.threshold] if facet.threshold is not None else list(spec["value_or_threshold"])
        )
        label_column = report.LabelColumn(config["label"], label, [1])
        stages = []
        if "pre_training_bias" in methods:
            stages.append(("pre_training_bias_metrics", report.StageType.PRE_TRAINING, None))
        if predicted is not None:
            stages.append(
                (
                    "post_training_bias_metrics",
                    report.StageType.POST_TRAINING,
                    report.LabelColumn(PREDICTED, predicted, [1]),
                )
            )
        for section, stage, predicted_column in stages:
            (result,) = report.bias_report(
                data,
                facet_column,
                label_column,
                stage,
                predicted_column,
                metrics=["all"],
                group_variable=group_variable,
            )
            found.setdefault(section, {})[column] = {
                metric["name"]: (None if "error" in metric else _number(metric["value"]))
                for metric in result["metrics"]
            }
    return found


def _number(value) -> float | None:
    if isinstance(value, str):  # smclarify writes infinities as "Infinity"; our report has no value for them
        return None
    return None if not math.isfinite(float(value)) else float(value)


def differences(ours: dict, theirs: dict) -> list[str]:
    """Every metric where our report and smclarify's disagree (by more than TOLERANCE, or on having a value)."""
    problems = []
    for section, facets in theirs.items():
        for column, metrics in facets.items():
            (group,) = ours[section]["facets"][column]
            our_values = {metric["name"]: metric["value"] for metric in group["metrics"]}
            for name, value in metrics.items():
                if name not in our_values:
                    problems.append(f"{section} {column} {name}: missing from our report")
                    continue
                mine = our_values[name]
                if (mine is None) != (value is None) or (value is not None and abs(mine - value) > TOLERANCE):
                    problems.append(f"{section} {column} {name}: ours {mine}, smclarify {value}")
            extra = set(our_values) - set(metrics)
            if extra:
                problems.append(f"{section} {column}: metrics smclarify does not report: {sorted(extra)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--model-archive", type=Path, default=None)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    frame = analyze.read_dataset_file(args.dataset, config)
    with tempfile.TemporaryDirectory() as workdir:
        model = load_packaged_model(args.model_archive, Path(workdir)) if args.model_archive else None
    theirs = clarify_reports(config, frame, model)
    problems = differences(json.loads(args.report.read_text()), theirs)
    compared = sum(len(metrics) for facets in theirs.values() for metrics in facets.values())
    sys.stdout.write(json.dumps({"compared": compared, "problems": problems}) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
