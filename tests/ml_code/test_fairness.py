"""Bias metrics by Clarify's definitions (by hand, metric by metric), TreeSHAP by raw column, and the whole local
analysis: an injected bias is found and fails the gate with the metric named; no bias stays within the limits."""

from __future__ import annotations

import dataclasses
import json
import logging
import tarfile

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from local_mode.churn_data import generate, write
from ml_code.contracts.contract import POST_TRAINING_METRICS, ContractError, Facet, parse_contract
from ml_code.fairness import analyze, bias, check, config
from ml_code.inference import explanations
from ml_code.inference.inference import model_fn
from ml_code.processing.preprocess import preprocess
from ml_code.training.train import Hyperparameters, train
from ml_code.transform.features import FeatureTransform, one_hot_name

# A small table: facet d is `f`; 4 rows in d, 6 in a.
#            d d d d a a a a a a
LABEL = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0], dtype=bool)
PREDICTED = np.array([1, 0, 0, 0, 1, 1, 0, 1, 0, 0], dtype=bool)
GROUP = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)


def test_pre_training_metrics_by_hand():
    metrics = bias.pre_training(LABEL, GROUP)
    # n_a = 6, n_d = 4; positive proportions q_a = 3/6, q_d = 2/4
    assert metrics["CI"] == pytest.approx((6 - 4) / 10)
    assert metrics["DPL"] == pytest.approx(3 / 6 - 2 / 4)
    # label distributions: P_a = (0.5, 0.5), P_d = (0.5, 0.5): no divergence
    assert metrics["KL"] == pytest.approx(0.0) and metrics["JS"] == pytest.approx(0.0)
    skewed = bias.pre_training(np.array([1, 0, 0, 0, 1, 1, 1, 1, 1, 0], dtype=bool), GROUP)
    p_a, p_d = np.array([1 / 6, 5 / 6]), np.array([3 / 4, 1 / 4])  # (negative, positive) shares
    middle = (p_a + p_d) / 2
    assert skewed["DPL"] == pytest.approx(5 / 6 - 1 / 4)
    assert skewed["KL"] == pytest.approx(np.sum(p_a * np.log(p_a / p_d)))
    assert skewed["JS"] == pytest.approx(
        0.5 * (np.sum(p_a * np.log(p_a / middle)) + np.sum(p_d * np.log(p_d / middle)))
    )


def test_post_training_metrics_by_hand():
    metrics = bias.post_training(LABEL, PREDICTED, GROUP)
    # facet a: TP 2, FN 1, FP 1, TN 2; facet d: TP 1, FN 1, FP 0, TN 2
    assert metrics["DPPL"] == pytest.approx(3 / 6 - 1 / 4)
    assert metrics["DI"] == pytest.approx((1 / 4) / (3 / 6))
    assert metrics["AD"] == pytest.approx(4 / 6 - 3 / 4)
    assert metrics["RD"] == pytest.approx(2 / 3 - 1 / 2)  # recall: TP / (TP + FN)
    assert metrics["SD"] == pytest.approx(2 / 2 - 2 / 3)  # specificity, d minus a: TN / (TN + FP)
    assert metrics["DAR"] == pytest.approx(2 / 3 - 1 / 1)  # precision: TP / predicted positives
    assert metrics["DRR"] == pytest.approx(2 / 3 - 2 / 3)  # TN / predicted negatives, d minus a


def test_a_rate_that_divides_by_zero_is_infinite_and_two_infinities_differ_by_zero():
    never_positive = np.zeros(10, dtype=bool)
    metrics = bias.post_training(LABEL, never_positive, GROUP)
    assert metrics["DI"] == 0.0  # 0 / 0 is 0, as in Clarify
    assert metrics["DAR"] == 0.0  # both groups' precisions are 0/0


def test_fails_when_a_facet_group_is_empty_or_everyone():
    with pytest.raises(ContractError, match="holds no row"):
        bias.pre_training(LABEL, np.zeros(10, dtype=bool))
    with pytest.raises(ContractError, match="holds every row"):
        bias.post_training(LABEL, PREDICTED, np.ones(10, dtype=bool))


def test_facet_groups_by_values_as_text_or_above_a_threshold():
    values = pd.Series(["female", "male", None, "female", "nonbinary"])
    assert bias.facet_group(values, Facet("gender", values=("female",))).tolist() == [True, False, False, True, False]
    ages = pd.Series(["70", "30", "", "61.5"])
    facet = Facet("age", threshold=60)
    assert bias.facet_group(ages, facet).tolist() == [True, False, False, True]
    assert bias.group_name(ages, facet) == "(60.0, 70.0]"


def small_transform() -> FeatureTransform:
    from ml_code.transform.features import CategoricalStats, NumericStats

    return FeatureTransform(
        contract_name="t",
        problem_type="binary_classification",
        input_columns=["opened", "plan", "spend"],
        numeric={
            "spend": NumericStats(median=1.0, mean=1.0, std=1.0),
            "tenure": NumericStats(median=30.0, mean=30.0, std=10.0),
        },
        categorical={"plan": CategoricalStats(mode="a", categories=["a", "b", "c"])},
        datetime_age={"opened": "tenure"},
        reference_date={"opened": "2026-01-31"},
        features=["spend", "tenure", one_hot_name("plan", "a"), one_hot_name("plan", "b"), one_hot_name("plan", "c")],
        classes=[],
        positive_label="yes",
    )


def test_attributions_sum_each_columns_one_hot_parts():
    transform = small_transform()
    contributions = np.array([[0.5, -0.25, 0.1, 0.2, 0.3, -1.0], [1.0, 2.0, -0.1, -0.2, 0.05, -1.0]])
    found = explanations.by_column(contributions, transform)
    assert found.columns == ["opened", "plan", "spend"]  # the input columns; a date's age is told by its date
    np.testing.assert_allclose(found.values, [[-0.25, 0.6, 0.5], [2.0, -0.25, 1.0]])
    np.testing.assert_allclose(found.bias, [-1.0, -1.0])
    assert found.top(1, 2) == [
        {"column": "opened", "contribution": 2.0},
        {"column": "spend", "contribution": 1.0},
    ]
    assert found.mean_absolute() == pytest.approx({"spend": 0.75, "opened": 1.125, "plan": 0.425})
    kept_fewer = dataclasses.replace(transform, features=transform.features[:2])  # plan's features were dropped
    np.testing.assert_allclose(explanations.by_column(contributions[:, [0, 1, 5]], kept_fewer).values[:, 1], 0.0)


def test_shap_values_and_bias_add_up_to_the_models_margin(churn_model_dir, churn_prepared):
    model = model_fn(str(churn_model_dir))
    records = pd.read_csv(churn_prepared.raw_csv, nrows=200)
    found = explanations.explain(model.booster, model.transform, records)
    features = model.transform.apply(records).to_numpy(dtype=float)
    margin = model.booster.predict(xgb.DMatrix(features, feature_names=model.transform.features), output_margin=True)
    np.testing.assert_allclose(found.values.sum(axis=1) + found.bias, margin, atol=1e-4)
    assert found.columns == model.transform.input_columns
    # a categorical column's contribution is the sum of its one-hot features'
    raw = explanations.feature_contributions(model.booster, features, model.transform.features)
    plan = [i for i, name in enumerate(model.transform.features) if name.startswith("plan=")]
    np.testing.assert_allclose(found.values[:, found.columns.index("plan")], raw[:, plan].sum(axis=1), atol=1e-6)


CONTRACT = {
    "name": "fair-churn",
    "problem_type": "binary_classification",
    "target": "churned",
    "positive_label": "yes",
    "categorical": ["plan", "region", "payment_method"],
    "numeric": ["monthly_charges", "total_charges", "data_usage_gb", "call_minutes", "support_calls", "late_payments"],
    "datetime_age": {"account_created": "account_age_days"},
    "pass_through": ["gender"],
    "metric": {"name": "auc", "threshold": 0.5},
    "fairness": {
        "facets": [{"column": "gender", "values": ["female"]}],
        "limits": {"DPL": [-0.1, 0.1], "DPPL": [-0.1, 0.1], "DI": [0.8, 1.25]},
    },
}


def trained_on_gender() -> dict:
    """The contract above, with gender a feature: the model can learn a bias in the labels."""
    return {**CONTRACT, "pass_through": [], "categorical": [*CONTRACT["categorical"], "gender"]}


def local_analysis(tmp_path, raw_contract: dict, *, bias_amount: float) -> tuple[dict, dict, check.FairnessDecision]:
    """Generate, preprocess, train, then the three analyses as the pipeline runs them, and the gate's decision."""
    contract = parse_contract(raw_contract)
    data = tmp_path / "data"
    write(data / "churn.csv", generate(6000, seed=5, bias=bias_amount), fmt="csv")
    base = tmp_path / "processing"
    preprocess(data, base, contract, seed=42)
    model_dir = tmp_path / "model"
    logging.disable(logging.INFO)
    try:
        train(base / "train", base / "validation", base / "transform", model_dir, Hyperparameters(num_round=60))
    finally:
        logging.disable(logging.NOTSET)
    transform = FeatureTransform.from_json((base / "transform" / "transform.json").read_text())
    configs = config.analysis_configs(contract, transform, instance_type="ml.m5.xlarge", seed=1)
    model = model_fn(str(model_dir))
    reports = {}
    for name, dataset in (("data_bias", "train.csv"), ("model_bias", "test.csv"), ("explainability", "test.csv")):
        frame = analyze.read_dataset_file(base / "fairness" / dataset, configs[name])
        reports[name], _ = analyze.analyze(configs[name], frame, model if name != "data_bias" else None)
    decision = check.decide([reports["data_bias"], reports["model_bias"]], contract.fairness.limits)
    return reports, configs, decision


def metric(report: dict, stage: str, name: str) -> float:
    (group,) = report[stage]["facets"]["gender"]
    return next(m["value"] for m in group["metrics"] if m["name"] == name)


def test_an_injected_bias_is_found_and_fails_the_gate_naming_the_metrics(tmp_path):
    reports, _, decision = local_analysis(tmp_path, trained_on_gender(), bias_amount=2.0)
    dppl = metric(reports["model_bias"], "post_training_bias_metrics", "DPPL")
    di = metric(reports["model_bias"], "post_training_bias_metrics", "DI")
    assert dppl < -0.1 and di > 1.25  # women are predicted to churn far more often
    assert not decision.passes
    assert "DPPL" in decision.reason and "DI" in decision.reason and "gender=female" in decision.reason
    assert metric(reports["data_bias"], "pre_training_bias_metrics", "DPL") < -0.1


def test_without_an_injected_bias_the_metrics_are_within_the_limits(tmp_path):
    reports, _, decision = local_analysis(tmp_path, trained_on_gender(), bias_amount=0.0)
    assert decision.passes, decision.reason
    assert abs(metric(reports["model_bias"], "post_training_bias_metrics", "DPPL")) <= 0.1
    assert 0.8 <= metric(reports["model_bias"], "post_training_bias_metrics", "DI") <= 1.25


def test_a_facet_the_model_is_not_trained_on_is_measured_but_never_sent_to_it(tmp_path):
    reports, configs, decision = local_analysis(tmp_path, CONTRACT, bias_amount=2.0)
    assert configs["model_bias"]["excluded_columns"] == ["gender"]
    assert "gender" not in reports["explainability"]["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    # the labels are biased, the model (blind to gender here) is not: the data report is what fails the gate
    assert not decision.passes and decision.violations == [v for v in decision.violations if v.startswith("DPL ")]
    assert abs(metric(reports["model_bias"], "post_training_bias_metrics", "DPPL")) <= 0.1


def test_the_report_has_clarifys_sections_and_keys(tmp_path):
    reports, _, _ = local_analysis(tmp_path, CONTRACT, bias_amount=0.0)
    section = reports["model_bias"]["post_training_bias_metrics"]
    assert section["label"] == "churned" and section["label_value_or_threshold"] == "1"
    (group,) = section["facets"]["gender"]
    assert group["value_or_threshold"] == "female"
    assert [m["name"] for m in group["metrics"]] == list(POST_TRAINING_METRICS)
    # without a group variable, CDDPL says why it has no value, as Clarify's report does
    assert all(set(m) == {"name", "description", "value"} for m in group["metrics"] if m["name"] != "CDDPL")
    (cddpl,) = [m for m in group["metrics"] if m["name"] == "CDDPL"]
    assert cddpl["value"] is None and "group_variable" in cddpl["error"]
    shap = reports["explainability"]["explanations"]["kernel_shap"]["label0"]
    assert set(shap) >= {"global_shap_values", "expected_value"}


def test_the_analysis_job_writes_the_report_and_plots_and_no_personal_data(tmp_path, churn_prepared, churn_model_dir):
    transform = FeatureTransform.from_json((churn_prepared.base / "transform" / "transform.json").read_text())
    configs = config.analysis_configs(churn_prepared.contract, transform, instance_type="ml.m5.xlarge", seed=1)
    job = tmp_path / "job"
    (job / "input" / "config").mkdir(parents=True)
    (job / "input" / "config" / "analysis_config.json").write_text(json.dumps(configs["explainability"]))
    (job / "input" / "data").mkdir(parents=True)
    (job / "input" / "data" / "test.csv").write_bytes((churn_prepared.base / "fairness" / "test.csv").read_bytes())
    archive = job / "model" / "model.tar.gz"  # the model input: the training job's archive, as it is
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for path in churn_model_dir.iterdir():
            tar.add(path, arcname=path.name)
    assert analyze.main(["--base-dir", str(job)]) == 0
    output = job / "output"
    assert json.loads((output / "analysis.json").read_text())["explanations"]
    assert (output / "global_shap_values.png").read_bytes()[:4] == b"\x89PNG"
    local = pd.read_csv(output / "explanations_shap" / "out.csv")
    assert list(local.columns) == transform.input_columns and len(local) == len(
        pd.read_csv(churn_prepared.base / "fairness" / "test.csv")
    )


def test_fails_clearly_without_the_model_or_the_label(churn_prepared):
    transform = FeatureTransform.from_json((churn_prepared.base / "transform" / "transform.json").read_text())
    configs = config.analysis_configs(churn_prepared.contract, transform, instance_type="ml.m5.xlarge", seed=1)
    frame = pd.read_csv(churn_prepared.base / "fairness" / "test.csv", dtype=str)
    with pytest.raises(ValueError, match="need the model"):
        analyze.analyze(configs["model_bias"], frame, None)
    with pytest.raises(ContractError, match="no label column 'churned'"):
        analyze.analyze(configs["data_bias"], frame.drop(columns="churned"), None)


def test_the_decision_names_every_metric_out_of_bounds_or_missing():
    report = {
        "post_training_bias_metrics": {
            "facets": {
                "gender": [
                    {
                        "value_or_threshold": "female",
                        "metrics": [{"name": "DPPL", "value": -0.3}, {"name": "DI", "value": None}],
                    }
                ]
            }
        }
    }
    decision = check.decide([report], {"DPPL": (-0.1, 0.1), "DI": (0.8, 1.25), "CI": (-0.5, 0.5)})
    assert decision.violations == [
        "DPPL -0.3 for gender=female is outside [-0.1, 0.1]",
        "DI for gender=female is undefined (a group with no positive outcomes)",
        "CI is missing from the bias reports",
    ]
    assert check.decide([report], {"DPPL": (-0.5, 0.5)}).passes


def test_the_shap_baseline_is_a_typical_training_record():
    transform = small_transform()
    assert config.baseline_record(transform) == ["2026-01-01", "a", 1.0]


def test_the_fairness_datasets_hold_the_label_inputs_and_facets(churn_prepared):
    transform = FeatureTransform.from_json((churn_prepared.base / "transform" / "transform.json").read_text())
    test = pd.read_csv(churn_prepared.base / "fairness" / "test.csv")
    assert list(test.columns) == ["churned", *transform.input_columns, "gender"]
    assert set(test["churned"]) <= {0, 1}
    train = pd.read_csv(churn_prepared.base / "fairness" / "train.csv")
    assert list(train.columns) == ["churned", "gender", "region"]  # the label, the facet, the group variable
    rows = json.loads((churn_prepared.base / "metadata" / "metadata.json").read_text())["rows"]
    assert (len(train), len(test)) == (rows["train"], rows["test"])


def test_without_a_fairness_section_there_is_nothing_to_configure(churn_prepared):
    transform = FeatureTransform.from_json((churn_prepared.base / "transform" / "transform.json").read_text())
    contract = dataclasses.replace(churn_prepared.contract, fairness=None)
    with pytest.raises(ValueError, match="no fairness section"):
        config.analysis_configs(contract, transform, instance_type="ml.m5.xlarge", seed=1)


def test_one_number_on_a_continuous_column_is_a_threshold_as_clarify_reads_it():
    data = pd.DataFrame(
        {"label": ["1", "0", "1", "0", "1", "0"], "age": ["71", "25.5", "64", "33", "45", "80"], "band": list("aabbaa")}
    )
    config_ = {
        "label": "label",
        "label_values_or_threshold": [1],
        "facet": [
            {"name_or_index": "age", "value_or_threshold": [60]},
            {"name_or_index": "band", "value_or_threshold": ["b"]},
        ],
        "methods": {"pre_training_bias": {"methods": ["CI"]}},
    }
    report, _ = analyze.analyze(config_, data, None)
    facets = report["pre_training_bias_metrics"]["facets"]
    assert facets["age"][0]["value_or_threshold"] == "(60.0, 80.0]"  # above 60: three of six
    assert facets["age"][0]["metrics"] == [{"name": "CI", "description": "Class Imbalance (CI)", "value": 0.0}]
    assert facets["band"][0]["value_or_threshold"] == "b"  # text: a category
    assert facets["band"][0]["metrics"][0]["value"] == pytest.approx((4 - 2) / 6)
