"""Bias drift and feature-attribution drift of an endpoint's traffic: our own code on Clarify's definitions (Clarify's
monitors are closed to new customers). The monitoring job runs both when the contract has a fairness section.

Attribution drift: exact TreeSHAP (ml_code/inference/explanations.py) on the window's records (a seeded sample of at
most SHAP_RECORDS); the mean |SHAP| per raw column against the package's explainability report (the test split's),
compared as Clarify compares them: the nDCG of the baseline's global SHAP values ranked by the window's. 1 is the
same order; below ATTRIBUTION_NDCG_THRESHOLD (published_metrics.py: Clarify's 0.9) the model leans on other features
than it did.

Bias drift: the contract's limited post-training metrics (DPPL, ...) on the window's requests that have ground
truth, computed by ml_code/fairness/analyze.py as the pipeline's ModelBias job computes them, from the records the
endpoint saw, their labels and their facets. A facet the model takes is in the captured record; one it never sees
(measured only) comes with the ground truth: `"facets": [{"gender": "female"}, ...]`, an object per record of the
request, beside `groundTruthData` (ml_code/monitoring/ground_truth.py). What an alarm watches is, per limited
metric, how far outside its limits the worst facet is (0 inside them).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from ml_code.contracts.contract import POST_TRAINING_METRICS, POST_TRAINING_SECTION, DatasetContract
from ml_code.fairness.analyze import analyze
from ml_code.fairness.config import analysis_configs
from ml_code.inference.explanations import explain
from ml_code.inference.inference import LoadedModel
from ml_code.paths import MODEL_BIAS

logger = logging.getLogger(__name__)

SHAP_RECORDS = 2000  # TreeSHAP's cost grows with records x trees x depth: a sample ranks the features as well


def ndcg(baseline: dict[str, float], live: dict[str, float]) -> float:
    """Normalized discounted cumulative gain of the baseline's values (the relevance of each feature) in the order
    of the live ones, as scikit-learn's `ndcg_score([baseline], [live])` (ties in the live values share their
    gain); 1.0 when the baseline has no attribution at all."""
    features = sorted(baseline)
    relevance = np.array([baseline[feature] for feature in features], dtype=float)
    scores = np.array([live.get(feature, 0.0) for feature in features], dtype=float)
    discount = 1 / np.log2(np.arange(len(features)) + 2)
    ideal = float(np.sort(relevance)[::-1] @ discount)
    if ideal == 0:
        return 1.0
    gained = 0.0
    ranks = 0
    for score in np.unique(scores)[::-1]:  # ties: the average gain over the ranks they share
        tied = scores == score
        count = int(tied.sum())
        gained += relevance[tied].mean() * discount[ranks : ranks + count].sum()
        ranks += count
    return float(gained / ideal)


def baseline_attributions(explainability: dict) -> dict[str, float]:
    """The global SHAP values of an explainability report (Clarify's analysis.json)."""
    return explainability["explanations"]["kernel_shap"]["label0"]["global_shap_values"]


def attribution_drift(model: LoadedModel, records: pd.DataFrame, explainability: dict, *, seed: int = 0) -> dict:
    """{ndcg, records, global_shap_values} of the window's records against the baseline report."""
    sample = records.sample(n=SHAP_RECORDS, random_state=seed) if len(records) > SHAP_RECORDS else records
    live = explain(model.booster, model.transform, sample.reset_index(drop=True)).mean_absolute()
    return {
        "ndcg": ndcg(baseline_attributions(explainability), live),
        "records": len(sample),
        "global_shap_values": live,
    }


def bias_drift(contract: DatasetContract, model: LoadedModel, labelled: pd.DataFrame) -> tuple[dict, dict[str, float]]:
    """(the post-training section of Clarify's analysis.json, each limited metric's distance outside its limits)
    of `labelled`: the target as 1/0, the model's input columns, the measured-only facets. Only the metrics the
    contract limits are computed; one a facet leaves undefined is no figure (missing data), with a warning."""
    limits = {name: bounds for name, bounds in contract.fairness.limits.items() if name in POST_TRAINING_METRICS}
    if not limits:
        return {}, {}
    config = analysis_configs(contract, model.transform, instance_type="", seed=0)[MODEL_BIAS]
    config["methods"]["post_training_bias"]["methods"] = sorted(limits)
    analysis, _ = analyze(config, labelled, model)
    section = analysis[POST_TRAINING_SECTION]
    worst: dict[str, float] = {}
    for column, groups in section["facets"].items():
        for group in groups:
            for metric in group["metrics"]:
                value = metric["value"]
                if value is None or not math.isfinite(value):
                    where = f"{column}={group['value_or_threshold']}"
                    logger.warning("%s for %s is undefined in this window: no figure", metric["name"], where)
                    continue
                low, high = limits[metric["name"]]
                outside = max(0.0, low - value, value - high)
                worst[metric["name"]] = max(worst.get(metric["name"], 0.0), outside)
    return section, worst
