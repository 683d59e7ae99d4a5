"""The pipeline with tuning on (a stage's `tuning_trials`): the Train step is a tuning job over the search space,
the best trial's model goes on to evaluation and registration, and the package records what it was trained with."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
from aws_cdk.assertions import Template

from blueprint.config import load_config
from blueprint.pipeline.definition import build_definition
from blueprint.pipeline.settings import PipelineSettings
from infra.platform import build_platform
from ml_code.contracts.contract import load_contract
from ml_code.training.search_space import load_search_space
from tests.infra.golden.regenerate import render
from tests.infra.request_shapes import validation_errors
from tests.infra.synth import cdk_json_context, new_app, role_statements
from tests.infra.test_iam_resource_types import mismatches
from tests.infra.test_pipeline_definition import CHURN, SETTINGS, all_steps, as_deployed, references

TUNED = dataclasses.replace(SETTINGS, tuning_trials=24, tuning_parallel=4)


@pytest.fixture(scope="module")
def tuned() -> dict:
    return build_definition(TUNED, CHURN)


def test_the_train_step_is_a_tuning_job_over_the_search_space(tuned):
    train = all_steps(tuned)["Train"]
    assert train["Type"] == "Tuning"
    config = train["Arguments"]["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 24, "MaxParallelTrainingJobs": 4}
    ranges = config["ParameterRanges"]
    declared = {r.name: r for r in load_search_space()}
    found = {r["Name"]: r for kind in ("IntegerParameterRanges", "ContinuousParameterRanges") for r in ranges[kind]}
    assert set(found) == set(declared)
    for name, spec in declared.items():
        assert (float(found[name]["MinValue"]), float(found[name]["MaxValue"])) == (spec.min, spec.max)
        assert found[name]["ScalingType"] == ("Logarithmic" if spec.scaling == "log" else "Linear")
    (metric,) = train["Arguments"]["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert metric == {"Name": "validation:auc", "Regex": "validation-final-auc: ([0-9.eE+-]+)"}


def test_a_lower_is_better_metric_is_minimized():
    regression = load_contract("abalone")  # rmse
    train = all_steps(build_definition(TUNED, regression))["Train"]
    objective = train["Arguments"]["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    assert objective == {"Type": "Minimize", "MetricName": "validation:rmse"}


def test_the_best_trials_model_is_evaluated_and_registered(tuned):
    steps = all_steps(tuned)
    best = "Steps.Train.TrainingJobSummaries[0].TrainingJobName"
    evaluate_model = json.dumps(steps["Evaluate"]["Arguments"]["ProcessingInputs"])
    assert best in evaluate_model
    register = steps["Register-RegisterModel"]["Arguments"]
    assert best in json.dumps(register["InferenceSpecification"])
    recorded = {key for key in register["CustomerMetadataProperties"] if key.startswith("hyperparameter_")}
    assert recorded == {f"hyperparameter_{r.name}" for r in load_search_space()}
    assert "Steps.Evaluate.PropertyFiles.TrainedHyperparameters" in json.dumps(register["CustomerMetadataProperties"])
    assert all(ref.split(".")[0] in ("Parameters", "Steps", "Execution") for ref in references(tuned))


def test_the_tuning_step_is_a_valid_api_request(tuned):
    arguments = dict(all_steps(as_deployed(tuned))["Train"]["Arguments"], HyperParameterTuningJobName="at-run-time")
    assert validation_errors("CreateHyperParameterTuningJob", arguments) == ""
    register = all_steps(as_deployed(tuned))["Register-RegisterModel"]["Arguments"]
    assert validation_errors("CreateModelPackage", register) == ""


def test_without_tuning_the_definition_keeps_its_training_job():
    plain = all_steps(build_definition(SETTINGS, CHURN))
    assert plain["Train"]["Type"] == "Training"
    assert not [
        k
        for k in plain["Register-RegisterModel"]["Arguments"]["CustomerMetadataProperties"]
        if k.startswith("hyperparameter_")
    ]


def test_a_stage_with_tuning_may_run_tuning_jobs_and_others_may_not(tmp_path):
    built = build_platform(new_app(tmp_path, stage="dev", **{"platform.stages.dev.tuning.trials": "8"}))
    statements = role_statements(Template.from_stack(built.stages["dev"].model_build), "TrainingRolesPipelineRole")
    actions = {
        action for s in statements for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
    } <= actions
    tuning = [s for s in statements if "sagemaker:CreateHyperParameterTuningJob" in s["Action"]]
    assert json.dumps(tuning[0]["Resource"]).endswith(':hyper-parameter-tuning-job/pipelines-*"]]}')
    assert mismatches(Template.from_stack(built.stages["dev"].model_build).to_json()) == []  # resource types


@pytest.mark.parametrize("tuning_trials", [0, 4], ids=["training", "tuning"])
@pytest.mark.parametrize("fairness", [True, False], ids=["fairness", "no-fairness"])
@pytest.mark.parametrize("stage", ["dev", "staging", "prod"])
def test_two_builds_of_every_configuration_are_byte_identical(stage, fairness, tuning_trials):
    """Every combination the config allows builds the same definition twice (the SDK would stamp the tuning job's
    static hyperparameters with the time: every deploy would update the pipeline)."""
    config = load_config(cdk_json_context())
    settings = dataclasses.replace(PipelineSettings.for_stage(config, config.stage(stage)), tuning_trials=tuning_trials)
    contract = CHURN if fairness else dataclasses.replace(CHURN, fairness=None)
    first = render(build_definition(settings, contract))
    time.sleep(0.002)  # the SDK's stamps have millisecond resolution
    assert render(build_definition(settings, contract)) == first
