"""Bias and attribution drift on an endpoint's traffic: the nDCG of the feature ranking as scikit-learn computes it
(the oracle, on real TreeSHAP values of a trained model), and the contract's post-training limits on labelled
traffic whose facets came with the ground truth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from local_mode.churn_data import generate
from ml_code.fairness.bias import Facet, facet_group, post_training
from ml_code.inference.explanations import explain
from ml_code.inference.inference import model_fn, predict_fn
from ml_code.monitoring.fairness_drift import SHAP_RECORDS, attribution_drift, bias_drift, ndcg


@pytest.fixture(scope="module")
def model(churn_model_dir):
    return model_fn(str(churn_model_dir))


def records(rows: int, seed: int, *, drift: bool = False, bias: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(list(generate(rows, seed=seed, drift=drift, bias=bias)))


def global_shap(model, frame: pd.DataFrame) -> dict[str, float]:
    return explain(model.booster, model.transform, frame[list(model.transform.input_columns)]).mean_absolute()


def oracle(baseline: dict[str, float], live: dict[str, float]) -> float:
    features = sorted(baseline)
    return float(ndcg_score([[baseline[f] for f in features]], [[live[f] for f in features]]))


def test_ndcg_is_scikit_learns_on_real_attributions(model):
    baseline = global_shap(model, records(800, seed=1))
    for live in (global_shap(model, records(800, seed=2)), global_shap(model, records(800, seed=3, drift=True))):
        assert ndcg(baseline, live) == pytest.approx(oracle(baseline, live), abs=1e-12)
    reversed_order = {feature: -value for feature, value in baseline.items()}
    assert ndcg(baseline, reversed_order) == pytest.approx(oracle(baseline, reversed_order), abs=1e-12)
    assert ndcg(baseline, reversed_order) < 0.9 < ndcg(baseline, global_shap(model, records(800, seed=2)))


def test_tied_live_values_share_their_gain_as_scikit_learn_does():
    baseline = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}
    live = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 2.0}
    assert ndcg(baseline, live) == pytest.approx(oracle(baseline, live), abs=1e-12)
    assert ndcg({"a": 0.0}, {"a": 1.0}) == 1.0  # no attribution at all: nothing to drift from


def test_attribution_drift_ranks_a_sample_of_the_window_against_the_report(model):
    window = records(SHAP_RECORDS + 500, seed=4)[list(model.transform.input_columns)].astype(str)
    report = {"explanations": {"kernel_shap": {"label0": {"global_shap_values": global_shap(model, records(800, 1))}}}}
    found = attribution_drift(model, window, report)
    assert found["records"] == SHAP_RECORDS
    assert found["ndcg"] > 0.9 and set(found["global_shap_values"]) == set(model.transform.input_columns)


def labelled(model, contract, frame: pd.DataFrame) -> pd.DataFrame:
    data = frame[[*model.transform.input_columns, *contract.measured_only]].astype(str)
    return data.assign(**{contract.target: [int(contract.is_positive(v)) for v in frame[contract.target]]})


def test_bias_drift_is_how_far_outside_its_limits_the_contracts_post_training_metric_is(model, churn_contract):
    frame = records(3000, seed=5, bias=1.5)
    data = labelled(model, churn_contract, frame)
    facet = Facet(column="gender", values=("female",))
    predicted = np.array(
        [p["probability"] >= 0.5 for p in predict_fn(data[list(model.transform.input_columns)], model)]
    )
    dppl = post_training(data[churn_contract.target].to_numpy() == 1, predicted, facet_group(data["gender"], facet))[
        "DPPL"
    ]
    tight = dataclasses.replace(
        churn_contract,
        fairness=dataclasses.replace(churn_contract.fairness, limits={"DPL": (-1, 1), "DPPL": (-1e-4, 1e-4)}),
    )
    section, outside = bias_drift(tight, model, data)
    assert set(outside) == {"DPPL"}  # a pre-training limit is the model build's, not the endpoint's
    assert outside["DPPL"] == pytest.approx(max(0.0, abs(dppl) - 1e-4), abs=1e-12)
    (group,) = section["facets"]["gender"]
    assert [metric["name"] for metric in group["metrics"]] == ["DPPL"]  # only what the contract limits
    within, inside = bias_drift(churn_contract, model, data)
    assert inside == {"DPPL": 0.0} and math.isfinite(within["facets"]["gender"][0]["metrics"][0]["value"])
