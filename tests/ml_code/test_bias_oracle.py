"""Every bias metric of Clarify's developer guide, computed by our analysis on a real public dataset (loanapp:
a categorical facet, a 0/1 facet above a threshold, a group variable) and held to smclarify's values to 1e-9."""

from __future__ import annotations

import logging

import pytest

from ml_code.contracts.contract import POST_TRAINING_METRICS, PRE_TRAINING_METRICS, load_contract
from ml_code.fairness import analyze, config
from ml_code.inference.inference import model_fn
from ml_code.processing.preprocess import preprocess
from ml_code.training.train import Hyperparameters, train
from ml_code.transform.features import FeatureTransform
from tests.data import loanapp
from tests.ml_code.bias_oracle import clarify_reports, differences


@pytest.fixture(scope="module")
def loanapp_model(tmp_path_factory):
    """loanapp preprocessed and a model trained on it, as the pipeline makes them; the analysis configs."""
    root = tmp_path_factory.mktemp("loanapp")
    contract = load_contract(str(loanapp.CONTRACT_FILE))
    loanapp.write_csv(root / "data" / "loanapp.csv")
    base = root / "processing"
    preprocess(root / "data", base, contract, seed=42)
    logging.disable(logging.INFO)
    try:
        train(base / "train", base / "validation", base / "transform", root / "model", Hyperparameters(num_round=60))
    finally:
        logging.disable(logging.NOTSET)
    transform = FeatureTransform.from_json((base / "transform" / "transform.json").read_text())
    configs = config.analysis_configs(contract, transform, instance_type="ml.m5.xlarge", seed=1)
    return base, configs, model_fn(str(root / "model"))


@pytest.mark.parametrize(("analysis", "dataset"), [("data_bias", "train.csv"), ("model_bias", "test.csv")])
def test_every_bias_metric_equals_smclarifys_on_real_data(loanapp_model, analysis, dataset):
    base, configs, model = loanapp_model
    frame = analyze.read_dataset_file(base / "fairness" / dataset, configs[analysis])
    ours, _ = analyze.analyze(configs[analysis], frame, model)
    theirs = clarify_reports(configs[analysis], frame, model)
    names = PRE_TRAINING_METRICS if analysis == "data_bias" else POST_TRAINING_METRICS
    for facets in theirs.values():
        assert set(facets) == {"prop", "white"}
        for metrics in facets.values():
            assert set(metrics) == set(names)
            assert all(value is not None for value in metrics.values()), metrics  # every one has a value here
    assert differences(ours, theirs) == []


def test_one_config_with_both_stages_reports_both(loanapp_model):
    """The shape the SDK's run_bias writes: pre- and post-training bias in one analysis config."""
    base, configs, model = loanapp_model
    both = {
        **configs["model_bias"],
        "methods": {"pre_training_bias": {"methods": "all"}, "post_training_bias": {"methods": "all"}},
    }
    frame = analyze.read_dataset_file(base / "fairness" / "test.csv", both)
    ours, _ = analyze.analyze(both, frame, model)
    assert {"pre_training_bias_metrics", "post_training_bias_metrics"} <= set(ours)
    assert differences(ours, clarify_reports(both, frame, model)) == []


def test_a_threshold_facet_on_a_0_1_column_singles_out_the_ones(loanapp_model):
    base, configs, model = loanapp_model
    frame = analyze.read_dataset_file(base / "fairness" / "train.csv", configs["data_bias"])
    ours, _ = analyze.analyze(configs["data_bias"], frame, None)
    (white,) = ours["pre_training_bias_metrics"]["facets"]["white"]
    assert white["value_or_threshold"] == "(0.5, 1.0]"
    ones = (frame["white"].astype(float) == 1).mean()
    ci = next(metric["value"] for metric in white["metrics"] if metric["name"] == "CI")
    assert ci == pytest.approx((1 - ones) - ones)


def test_values_on_a_numeric_column_compare_as_numbers(loanapp_model):
    base, configs, _ = loanapp_model
    as_values = {**configs["data_bias"], "facet": [{"name_or_index": "white", "value_or_threshold": [1]}]}
    frame = analyze.read_dataset_file(base / "fairness" / "train.csv", as_values)
    ours, _ = analyze.analyze(as_values, frame.assign(white=frame["white"].astype(float).astype(str)), None)
    by_threshold, _ = analyze.analyze(configs["data_bias"], frame, None)
    (by_value,) = ours["pre_training_bias_metrics"]["facets"]["white"]
    (threshold,) = by_threshold["pre_training_bias_metrics"]["facets"]["white"]
    assert [m["value"] for m in by_value["metrics"]] == [m["value"] for m in threshold["metrics"]]
