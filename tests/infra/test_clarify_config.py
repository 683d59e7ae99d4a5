"""The analysis configs ml_code/fairness/config.py writes at run time are the ones the SageMaker SDK's clarify module
would write for the same analyses (its own generator, offline), less the predictor: our jobs read the model's
archive, so no endpoint is named. The monitors' are what its monitors upload."""

from __future__ import annotations

import pytest
from sagemaker import clarify
from sagemaker.model_monitor.clarify_model_monitoring import BiasAnalysisConfig, ExplainabilityAnalysisConfig

from ml_code import paths
from ml_code.contracts.contract import POST_TRAINING_METRICS, PRE_TRAINING_METRICS, load_contract
from ml_code.fairness import config
from ml_code.transform.features import CategoricalStats, FeatureTransform, NumericStats, one_hot_name

CHURN = load_contract("customer-churn")
MODEL, INSTANCE, SEED = "a-model", "ml.m5.xlarge", 42
TRANSFORM = FeatureTransform(
    contract_name=CHURN.name,
    problem_type=CHURN.problem_type,
    input_columns=["account_created", "plan", "monthly_charges"],
    numeric={
        "monthly_charges": NumericStats(median=60.0, mean=61.0, std=20.0),
        "account_age_days": NumericStats(median=365.0, mean=500.0, std=300.0),
    },
    categorical={"plan": CategoricalStats(mode="basic", categories=["basic", "premium"])},
    datetime_age={"account_created": "account_age_days"},
    reference_date={"account_created": "2026-06-30"},
    features=["monthly_charges", "account_age_days", one_hot_name("plan", "basic"), one_hot_name("plan", "premium")],
    classes=[],
    positive_label="yes",
)


@pytest.fixture(scope="module")
def configs() -> dict[str, dict]:
    return config.analysis_configs(CHURN, TRANSFORM, instance_type=INSTANCE, seed=SEED)


def without_predictor(analysis_config: dict) -> dict:
    return {key: value for key, value in analysis_config.items() if key != "predictor"}


def data_config(headers: list[str], **extra) -> clarify.DataConfig:
    return clarify.DataConfig(
        s3_data_input_path="s3://bucket/in",
        s3_output_path="s3://bucket/out",
        label=CHURN.target,
        headers=headers,
        dataset_type="text/csv",
        **extra,
    )


BIAS = clarify.BiasConfig(
    label_values_or_threshold=[1], facet_name=["gender"], facet_values_or_threshold=[["female"]], group_name="region"
)
MODEL_CONFIG = clarify.ModelConfig(
    model_name=MODEL, instance_type=INSTANCE, instance_count=1, content_type="text/csv", accept_type="text/csv"
)
TEST_HEADERS = ["churned", *TRANSFORM.input_columns, "gender"]
SHAP = clarify.SHAPConfig(
    baseline=[["2025-06-30", "basic", 60.0]], num_samples=config.SHAP_SAMPLES, agg_method="mean_abs", seed=SEED
)


def test_the_data_bias_config_is_the_sdks(configs):
    expected = clarify._AnalysisConfigGenerator.bias_pre_training(
        data_config(["churned", "gender", "region"]), BIAS, methods=list(PRE_TRAINING_METRICS)
    )
    assert configs[paths.DATA_BIAS] == expected


def test_the_model_bias_config_is_the_sdks(configs):
    expected = clarify._AnalysisConfigGenerator.bias_post_training(
        data_config(TEST_HEADERS, excluded_columns=["gender"]),
        BIAS,
        clarify.ModelPredictedLabelConfig(probability=0, probability_threshold=config.PROBABILITY_THRESHOLD),
        methods=list(POST_TRAINING_METRICS),
        model_config=MODEL_CONFIG,
    )
    assert configs[paths.MODEL_BIAS] == without_predictor(expected)


def test_the_explainability_config_is_the_sdks(configs):
    expected = clarify._AnalysisConfigGenerator.explainability(
        data_config(TEST_HEADERS, excluded_columns=["gender"]),
        MODEL_CONFIG,
        clarify.ModelPredictedLabelConfig(probability=0),
        SHAP,
    )
    assert configs[paths.EXPLAINABILITY] == without_predictor(expected)


def test_the_monitors_configs_are_what_the_sdks_monitors_upload(configs):
    assert (
        configs[paths.MODEL_BIAS_MONITOR] == BiasAnalysisConfig(BIAS, headers=TEST_HEADERS, label="churned")._to_dict()
    )
    explainability = ExplainabilityAnalysisConfig(SHAP, MODEL_CONFIG, headers=TEST_HEADERS)._to_dict()
    explainability["predictor"].pop("model_name")  # as the SDK's ClarifyCheckStep does: the monitor has an endpoint
    explainability["predictor"]["probability"] = 0  # the score's position in the endpoint's CSV response
    assert configs[paths.EXPLAINABILITY_MONITOR] == explainability
