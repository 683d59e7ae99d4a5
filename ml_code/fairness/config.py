"""The analysis configs of the pipeline's bias and explainability jobs and of the endpoint's monitors, made from
the contract and the fitted transform (the `AnalysisConfig` step writes them). Their keys are the ones the
SageMaker SDK's clarify module writes (a test compares them), less the jobs' predictor: they read the model's
archive.

Datasets (preprocess.py writes them, CSV with a header): `train.csv` (the label, the facets and the group
variable, for the data bias before training) and `test.csv` (the label, the model's input columns in order,
then the bias columns the model is not trained on, which are never sent to it: `excluded_columns`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ml_code.contracts.contract import POST_TRAINING_METRICS, PRE_TRAINING_METRICS, DatasetContract, load_contract
from ml_code.paths import (
    CLARIFY_CONFIG_FILE,
    CLARIFY_CONFIG_OUTPUT,
    DATA_BIAS,
    EXPLAINABILITY,
    EXPLAINABILITY_MONITOR,
    MODEL_BIAS,
    MODEL_BIAS_MONITOR,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
    TRANSFORM_FILE,
    TRANSFORM_OUTPUT,
)
from ml_code.runtime import StagedFiles, configure_logging, parse_known, run_step
from ml_code.transform.features import FeatureTransform

CSV = "text/csv"
PROBABILITY_THRESHOLD = 0.5  # the serving code's own: a probability of 0.5 or more is the positive label
SHAP_SAMPLES = 100  # KernelSHAP's samples per record on AWS: Clarify's suggested start for tabular data


def train_headers(contract: DatasetContract) -> list[str]:
    """The columns of the data-bias dataset: the label, the facets and the group variable."""
    return [contract.target, *contract.bias_columns]


def test_headers(contract: DatasetContract, transform: FeatureTransform) -> list[str]:
    """The columns of the model-bias and explanation dataset: the label, the model's inputs, unused facets."""
    return [contract.target, *transform.input_columns, *contract.measured_only]


def bias_config(contract: DatasetContract) -> dict:
    """The label's positive value (preprocessing writes the label as 1/0), each facet's group and the group
    variable (CDDL and CDDPL)."""
    facets = [
        {
            "name_or_index": facet.column,
            "value_or_threshold": [facet.threshold] if facet.threshold is not None else list(facet.values),
        }
        for facet in contract.fairness.facets
    ]
    group_variable = contract.fairness.group_variable
    return {
        "label_values_or_threshold": [1],
        "facet": facets,
        **({"group_variable": group_variable} if group_variable else {}),
    }


def baseline_record(transform: FeatureTransform) -> list:
    """SHAP's baseline: a typical training record (each number's median, each category's mode, each date at the
    median age), in the model's input order."""
    ages = {column: feature for column, feature in transform.datetime_age.items()}
    record = []
    for column in transform.input_columns:
        if column in transform.categorical:
            record.append(transform.categorical[column].mode)
        elif column in ages:
            days = transform.numeric[ages[column]].median
            record.append((pd.Timestamp(transform.reference_date[column]) - pd.Timedelta(days=days)).date().isoformat())
        else:
            record.append(transform.numeric[column].median)
    return record


def monitor_predictor(instance_type: str) -> dict:
    """How the explainability monitor calls the endpoint it watches: CSV rows without a header in and
    `probability,label` rows out."""
    return {
        "content_type": CSV,
        "accept_type": CSV,
        "probability": 0,
        "instance_type": instance_type,
        "initial_instance_count": 1,
    }


def shap_config(transform: FeatureTransform, *, seed: int) -> dict:
    return {
        "shap": {
            "use_logit": False,
            "save_local_shap_values": True,
            "baseline": [baseline_record(transform)],
            "num_samples": SHAP_SAMPLES,
            "agg_method": "mean_abs",
            "seed": seed,
        }
    }


def analysis_configs(
    contract: DatasetContract, transform: FeatureTransform, *, instance_type: str, seed: int
) -> dict[str, dict]:
    """Every analysis config by name: the three jobs' (which load the model archive itself: no predictor) and the
    two monitors' (which call the endpoint, an instance of `instance_type`)."""
    if contract.fairness is None:
        raise ValueError(f"contract {contract.name!r} has no fairness section: there is no bias to analyze")
    report = {"report": {"name": "report", "title": "Analysis Report"}}
    test = {"dataset_type": CSV, "headers": test_headers(contract, transform), "label": contract.target}
    if contract.measured_only:
        test["excluded_columns"] = list(contract.measured_only)
    bias = bias_config(contract)
    explanation = shap_config(transform, seed=seed)
    return {
        DATA_BIAS: {
            "dataset_type": CSV,
            "headers": train_headers(contract),
            "label": contract.target,
            **bias,
            "methods": {**report, "pre_training_bias": {"methods": list(PRE_TRAINING_METRICS)}},
        },
        MODEL_BIAS: {
            **test,
            **bias,
            "methods": {**report, "post_training_bias": {"methods": list(POST_TRAINING_METRICS)}},
            "probability_threshold": PROBABILITY_THRESHOLD,
        },
        EXPLAINABILITY: {**test, "methods": {**report, **explanation}},
        # the endpoint's monitors: the same analyses on captured traffic, the endpoint as the predictor
        MODEL_BIAS_MONITOR: {**bias, "headers": test["headers"], "label": contract.target},
        EXPLAINABILITY_MONITOR: {
            "methods": explanation,
            "predictor": monitor_predictor(instance_type),
            "headers": test["headers"],
        },
    }


def write_configs(base: Path, contract: DatasetContract, *, instance_type: str, seed: int) -> None:
    transform = FeatureTransform.from_json((base / TRANSFORM_OUTPUT / TRANSFORM_FILE).read_text())
    configs = analysis_configs(contract, transform, instance_type=instance_type, seed=seed)
    with StagedFiles() as staged:
        for name, config in configs.items():
            # a job reads `analysis_config.json` from its config input: one folder per config
            with staged.open(base / CLARIFY_CONFIG_OUTPUT / name / CLARIFY_CONFIG_FILE) as handle:
                handle.write(json.dumps(config, indent=2, sort_keys=True, allow_nan=False).encode())


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contract", required=True)
    parser.add_argument("--instance-type", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    args = parse_known(parser, argv)
    return run_step(
        lambda: write_configs(
            args.base_dir,
            load_contract(args.contract),
            instance_type=args.instance_type,
            seed=args.seed,
        ),
        args.failure_file,
    )


if __name__ == "__main__":
    sys.exit(main())
