"""The bias and explainability job of the model build, in place of SageMaker Clarify (closed to new customers).

The pipeline's DataBias, ModelBias and Explainability steps run it in the framework container, network-isolated.
It reads an analysis config in Clarify's format, a CSV dataset with a header and, for model bias and
explanations, the model's archive itself (loaded with the serving code: no shadow endpoint), and writes what
Clarify writes: `analysis.json` with the same sections and keys (every tabular bias metric, bias.py),
per-record SHAP values in `explanations_shap/out.csv`, and plots (bias metrics by facet, mean |SHAP| per
column). SHAP values are xgboost's exact TreeSHAP on the margin, told by raw column
(ml_code/inference/explanations.py), where Clarify estimated them with KernelSHAP.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ml_code.contracts.contract import BIAS_SECTIONS, POST_TRAINING_SECTION, ContractError, Facet
from ml_code.fairness.bias import (
    DESCRIPTIONS,
    BiasData,
    MetricUnavailable,
    compute,
    facet_group,
    group_name,
)
from ml_code.inference.batch_score import load_packaged_model
from ml_code.inference.explanations import Attributions, explain
from ml_code.inference.inference import LoadedModel, predict_fn
from ml_code.paths import (
    ANALYSIS_MODEL_INPUT,
    CLARIFY_ANALYSIS_FILE,
    CLARIFY_CONFIG_FILE,
    CLARIFY_CONFIG_INPUT,
    CLARIFY_DATA_INPUT,
    CLARIFY_RESULT_OUTPUT,
    MODEL_ARCHIVE,
)
from ml_code.runtime import StagedFiles, run_base_dir_step
from ml_code.transform.features import as_category_text, coerce_numeric

logger = logging.getLogger(__name__)

LOCAL_SHAP_FILE = "explanations_shap/out.csv"
# Clarify's rule for a facet given one number: a threshold when the column is continuous (numbers, mostly unique)
UNIQUENESS_THRESHOLD = 0.05


def analyze(config: dict, data: pd.DataFrame, model: LoadedModel | None) -> tuple[dict, Attributions | None]:
    """The analysis the config asks for, as Clarify's `analysis.json`, and the per-record attributions. One config
    may ask for both bias stages and SHAP at once (the shape the SageMaker SDK's `run_bias` writes)."""
    methods = config.get("methods", {})
    label_column = config["label"]
    if label_column not in data.columns:
        raise ContractError(f"the dataset has no label column {label_column!r} (its columns: {list(data.columns)})")
    positive = [str(value) for value in config.get("label_values_or_threshold", [])]
    label = as_category_text(data[label_column]).isin(positive).to_numpy()
    facets = [_facet(spec, data) for spec in config.get("facet", [])]
    group_variable = _group_variable(config, data)
    needs_model = "post_training_bias" in methods or "shap" in methods
    if needs_model and model is None:
        raise ValueError("post-training bias and SHAP need the model: give its archive")
    excluded = set(config.get("excluded_columns", [])) | {label_column}
    records = data[[column for column in data.columns if column not in excluded]]
    analysis: dict = {"version": "1.0"}
    attributions = None
    predicted = None
    if "post_training_bias" in methods:
        probability = np.array([row["probability"] for row in predict_fn(records, model)])
        predicted = probability >= float(config.get("probability_threshold", 0.5))
    if "shap" in methods:
        attributions = explain(model.booster, model.transform, records)
        analysis["explanations"] = {
            "kernel_shap": {
                "label0": {
                    "global_shap_values": attributions.mean_absolute(),
                    "expected_value": float(attributions.bias[0]),
                    "method": "xgboost TreeSHAP (pred_contribs) on the margin, summed per raw column",
                }
            }
        }
    for stage, names in BIAS_SECTIONS.items():
        method = stage.replace("_metrics", "")
        if method not in methods:
            continue
        wanted = _wanted(methods[method].get("methods", "all"), names)
        section: dict = {"label": label_column, "label_value_or_threshold": ",".join(positive), "facets": {}}
        for facet in facets:
            values = data[facet.column]
            bias_data = BiasData(
                label=label,
                group=facet_group(values, facet),
                predicted=predicted if stage == POST_TRAINING_SECTION else None,
                group_variable=group_variable,
                features=_flip_test_features(model, records, facet.column) if "FT" in wanted else None,
            )
            metrics = [_metric_entry(name, found) for name, found in compute(wanted, bias_data).items()]
            section["facets"][facet.column] = [{"value_or_threshold": group_name(values, facet), "metrics": metrics}]
        analysis[stage] = section
    return analysis, attributions


def _metric_entry(name: str, found: float | MetricUnavailable) -> dict:
    """One metric in Clarify's report shape; a rate that divides by zero has no value (JSON has no infinity), and
    a metric that cannot be computed says why, as Clarify's report does."""
    entry = {"name": name, "description": DESCRIPTIONS[name]}
    if isinstance(found, MetricUnavailable):
        return {**entry, "value": None, "error": str(found)}
    return {**entry, "value": float(found) if np.isfinite(found) else None}


def _group_variable(config: dict, data: pd.DataFrame) -> np.ndarray | None:
    column = config.get("group_variable")
    if column is None:
        return None
    if column not in data.columns:
        raise ContractError(f"the dataset has no group_variable column {column!r} (its columns: {list(data.columns)})")
    return as_category_text(data[column]).fillna("").to_numpy(dtype=str)


def _flip_test_features(model: LoadedModel | None, records: pd.DataFrame, facet: str) -> np.ndarray | None:
    """The flip test's features: the model's own (imputed, scaled, one-hot), without those made from the facet."""
    if model is None:
        return None
    sources = model.transform.source_columns()
    kept = [feature for feature in model.transform.features if sources[feature] != facet]
    return model.transform.encoded_matrix(records, kept)


def _facet(spec: dict, data: pd.DataFrame) -> Facet:
    """A facet of the config, as Clarify's config writes it: one number is a threshold when the column is
    continuous (Clarify's rule) or when no row holds that number (`0.5` on a 0/1 column); else the facet's values."""
    column = spec["name_or_index"]
    if column not in data.columns:
        raise ContractError(f"the dataset has no facet column {column!r} (its columns: {list(data.columns)})")
    values = spec["value_or_threshold"]
    if len(values) == 1 and _is_threshold(data[column], values[0]):
        return Facet(column=column, threshold=float(values[0]))
    return Facet(column=column, values=tuple(values))


def _is_threshold(values: pd.Series, value) -> bool:
    numbers = coerce_numeric(values, str(values.name), report=False).dropna()
    if len(numbers) < values.notna().sum() or numbers.empty:
        return False  # a column with text in it is categorical
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    whole = bool((numbers == numbers.round()).all())
    continuous = not whole or numbers.nunique() / len(numbers) >= UNIQUENESS_THRESHOLD
    return continuous or not (numbers == number).any()


def _wanted(selection: str | list[str], names: tuple[str, ...]) -> list[str]:
    if selection == "all":
        return list(names)
    unknown = sorted(set(selection) - set(names))
    if unknown:
        raise ValueError(f"bias metric(s) {unknown} are not computed here; known: {list(names)}")
    return [name for name in names if name in selection]


def write_results(output: Path, analysis: dict, attributions: Attributions | None) -> None:
    """analysis.json, the per-record SHAP values and the plots; all of them or none."""
    with StagedFiles() as staged:
        if attributions is not None:
            table = pd.DataFrame(attributions.values, columns=attributions.columns)
            with staged.open(output / LOCAL_SHAP_FILE) as handle:
                handle.write(table.to_csv(index=False, float_format="%.6g").encode())
        for name, png in plots(analysis).items():
            with staged.open(output / name) as handle:
                handle.write(png)
        with staged.open(output / CLARIFY_ANALYSIS_FILE) as handle:
            handle.write(json.dumps(analysis, indent=2, sort_keys=True, allow_nan=False).encode())


def plots(analysis: dict) -> dict[str, bytes]:
    """PNG plots by file name: each stage's bias metrics by facet, and the mean |SHAP| per column."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    def png(figure) -> bytes:
        buffer = io.BytesIO()
        figure.tight_layout()
        figure.savefig(buffer, format="png", dpi=90)
        plt.close(figure)
        return buffer.getvalue()

    found = {}
    for stage in BIAS_SECTIONS:
        for column, groups in analysis.get(stage, {}).get("facets", {}).items():
            for group in groups:
                metrics = [m for m in group["metrics"] if m["value"] is not None]
                figure, axes = plt.subplots(figsize=(6, 0.35 * len(metrics) + 1.5))
                axes.barh([m["name"] for m in metrics], [m["value"] for m in metrics])
                axes.axvline(0, color="grey", linewidth=0.8)
                axes.set(title=f"{stage.replace('_', ' ')}: {column} = {group['value_or_threshold']}")
                found[f"{stage}_{column}.png"] = png(figure)
    shap = analysis.get("explanations", {}).get("kernel_shap", {}).get("label0", {}).get("global_shap_values")
    if shap:
        ranked = sorted(shap.items(), key=lambda item: item[1])
        figure, axes = plt.subplots(figsize=(6, 0.3 * len(ranked) + 1.5))
        axes.barh([name for name, _ in ranked], [value for _, value in ranked])
        axes.set(xlabel="mean |SHAP| (margin)", title="Feature attribution")
        found["global_shap_values.png"] = png(figure)
    return found


def read_dataset(folder: Path, config: dict) -> pd.DataFrame:
    """The CSV file(s) of the data input, each with the header the config names."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"no dataset under {folder}")
    return pd.concat([read_dataset_file(path, config) for path in files], ignore_index=True)


def read_dataset_file(path: Path, config: dict) -> pd.DataFrame:
    """One CSV file with a header, as text (a facet's or label's values compare as text, as in the config)."""
    data = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    headers = config.get("headers")
    if headers and list(data.columns) != headers:
        raise ContractError(f"{path.name}: the header {list(data.columns)} is not the config's {headers}")
    return data


def run(base: Path) -> dict:
    """The analysis of the job's config and dataset; with a model input (`<base>/model/model.tar.gz`), of the
    model's predictions and attributions too."""
    config = json.loads((base / CLARIFY_CONFIG_INPUT / CLARIFY_CONFIG_FILE).read_text())
    data = read_dataset(base / CLARIFY_DATA_INPUT, config)
    archive = base / ANALYSIS_MODEL_INPUT / MODEL_ARCHIVE
    with tempfile.TemporaryDirectory() as workdir:
        model = load_packaged_model(archive, Path(workdir)) if archive.is_file() else None
    analysis, attributions = analyze(config, data, model)
    write_results(base / CLARIFY_RESULT_OUTPUT, analysis, attributions)
    logger.info("analysis of %d records: %s", len(data), sorted(key for key in analysis if key != "version"))
    return analysis


def main(argv: list[str] | None = None) -> int:
    return run_base_dir_step(argv, __doc__, run)


if __name__ == "__main__":
    sys.exit(main())
