"""The bias and explainability steps of the pipeline definition: our own jobs in the framework image, wired to the
right data and to the model's archive, valid API requests, their reports registered on the package and held to
the contract's limits by the gate; none without a fairness section."""

from __future__ import annotations

import dataclasses
import json

import pytest

from blueprint.pipeline.definition import build_definition
from blueprint.pipeline.fairness_steps import ANALYSIS_JOBS
from ml_code import paths
from tests.infra.golden.regenerate import GOLDEN_WITHOUT_FAIRNESS, golden_definition, render
from tests.infra.request_shapes import validation_errors
from tests.infra.test_pipeline_definition import (
    CHURN,
    FAIRNESS_STEPS,
    SETTINGS,
    all_steps,
    as_deployed,
    depends_on,
)

UNFAIR_FREE = dataclasses.replace(CHURN, fairness=None)


@pytest.fixture(scope="module")
def steps() -> dict[str, dict]:
    return all_steps(build_definition(SETTINGS, CHURN))


def inputs(step: dict) -> dict[str, dict]:
    return {i["InputName"]: i["S3Input"] for i in step["Arguments"]["ProcessingInputs"]}


def joined(value: dict) -> list:
    return value["Std:Join"]["Values"]


def test_the_analysis_jobs_read_their_config_dataset_and_model_in_the_framework_image(steps):
    for name, (analysis, dataset, reads_model) in ANALYSIS_JOBS.items():
        job = steps[name]["Arguments"]
        assert job["AppSpecification"]["ImageUri"] == "${XgboostImageUri}"
        assert job["AppSpecification"]["ContainerArguments"][:2] == ["--module", "ml_code.fairness.analyze"]
        assert job["RoleArn"] == "${JobRoleArn}"
        found = inputs(steps[name])
        assert found["analysis_config"]["LocalPath"] == "/opt/ml/processing/input/config"
        config_uri = joined(found["analysis_config"]["S3Uri"])
        assert config_uri[0] == {
            "Get": "Steps.AnalysisConfig.ProcessingOutputConfig.Outputs['clarify_config'].S3Output.S3Uri"
        }
        assert config_uri[1:] == [analysis, ""]  # the folder that holds that analysis' analysis_config.json
        assert found["dataset"]["LocalPath"] == "/opt/ml/processing/input/data"
        assert joined(found["dataset"]["S3Uri"]) == [
            {"Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['fairness'].S3Output.S3Uri"},
            dataset,
        ]
        if reads_model:  # the trained model's archive itself: no model, no endpoint
            assert found["model"] == {
                **found["model"],
                "S3Uri": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                "LocalPath": f"/opt/ml/processing/{paths.ANALYSIS_MODEL_INPUT}",
            }
        else:
            assert "model" not in found
        (output,) = job["ProcessingOutputConfig"]["Outputs"]
        assert output["S3Output"]["LocalPath"] == "/opt/ml/processing/output"
        assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
        assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"
        assert job["ProcessingOutputConfig"]["KmsKeyId"] == "${KmsKeyArn}"
    assert ANALYSIS_JOBS["DataBias"][1] == paths.FAIRNESS_TRAIN_FILE
    assert {ANALYSIS_JOBS[name][1] for name in ("ModelBias", "Explainability")} == {paths.FAIRNESS_TEST_FILE}


def test_the_analysis_config_is_made_from_the_transform_and_the_check_reads_both_bias_reports(steps):
    arguments = steps["AnalysisConfig"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments[1] == "ml_code.fairness.config" and "--model-name" not in arguments
    assert inputs(steps["AnalysisConfig"])["transform"]["S3Uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['transform'].S3Output.S3Uri"
    }
    assert depends_on(steps["FairnessCheck"]) == {"DataBias", "ModelBias"}
    check = steps["FairnessCheck"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert check[1] == "ml_code.fairness.check" and check[check.index("--contract") + 1] == "customer-churn"


def test_the_gate_fails_an_unfair_model_and_says_why(steps):
    conditions = steps["QualityGate"]["Arguments"]["Conditions"]
    fair = conditions[-1]
    assert fair["Type"] == "Equals" and fair["RightValue"] is True
    assert fair["LeftValue"]["Std:JsonGet"]["Path"] == "passes"
    assert fair["LeftValue"]["Std:JsonGet"]["PropertyFile"] == {
        "Get": "Steps.FairnessCheck.PropertyFiles.FairnessDecision"
    }
    message = joined(steps["GateFailed"]["Arguments"]["ErrorMessage"])
    reasons = [v["Std:JsonGet"] for v in message if isinstance(v, dict) and "Std:JsonGet" in v]
    assert {"Get": "Steps.FairnessCheck.PropertyFiles.FairnessDecision"} in [r["PropertyFile"] for r in reasons]
    decision = next(
        pf for pf in steps["FairnessCheck"]["PropertyFiles"] if pf["PropertyFileName"] == "FairnessDecision"
    )
    assert (decision["OutputName"], decision["FilePath"]) == (
        paths.FAIRNESS_DECISION_OUTPUT,
        paths.FAIRNESS_DECISION_FILE,
    )


def test_the_package_carries_the_reports_and_the_monitors_baselines(steps):
    register = steps["Register-RegisterModel"]["Arguments"]

    def report_of(value: dict) -> tuple[str, str]:
        uri = joined(value["S3Uri"])
        return uri[0]["Get"].split(".")[1], uri[-1]

    bias = register["ModelMetrics"]["Bias"]
    assert report_of(bias["PreTrainingReport"]) == ("DataBias", paths.CLARIFY_ANALYSIS_FILE)
    assert report_of(bias["PostTrainingReport"]) == ("ModelBias", paths.CLARIFY_ANALYSIS_FILE)
    assert report_of(register["ModelMetrics"]["Explainability"]["Report"]) == ("Explainability", "analysis.json")
    drift = register["DriftCheckBaselines"]
    assert report_of(drift["Bias"]["PreTrainingConstraints"])[0] == "DataBias"
    assert report_of(drift["Bias"]["PostTrainingConstraints"])[0] == "ModelBias"
    assert report_of(drift["Explainability"]["Constraints"])[0] == "Explainability"
    assert joined(drift["Bias"]["ConfigFile"]["S3Uri"])[1:] == [paths.MODEL_BIAS_MONITOR, paths.CLARIFY_CONFIG_FILE]
    assert joined(drift["Explainability"]["ConfigFile"]["S3Uri"])[1:] == [
        paths.EXPLAINABILITY_MONITOR,
        paths.CLARIFY_CONFIG_FILE,
    ]


@pytest.mark.parametrize(
    ("step", "operation", "name_field"),
    [
        *[
            (name, "CreateProcessingJob", "ProcessingJobName")
            for name in ("AnalysisConfig", *ANALYSIS_JOBS, "FairnessCheck")
        ],
        ("Register-RegisterModel", "CreateModelPackage", None),
    ],
)
def test_the_fairness_steps_are_valid_api_requests(steps, step, operation, name_field):
    arguments = dict(all_steps(as_deployed({"Steps": list(steps.values())}))[step]["Arguments"])
    if name_field:
        arguments[name_field] = "generated-at-run-time"
    assert validation_errors(operation, arguments) == ""


def test_without_a_fairness_section_the_definition_is_what_it_was_before_fairness():
    # the golden copy was written before fairness existed; `make golden` keeps it current
    assert render(golden_definition(fairness=False)) == GOLDEN_WITHOUT_FAIRNESS.read_text()


def test_without_a_fairness_section_the_definition_has_nothing_of_it():
    definition = build_definition(SETTINGS, UNFAIR_FREE)
    steps = all_steps(definition)
    assert not set(FAIRNESS_STEPS) & set(steps)
    text = json.dumps(definition)
    for trace in ("Clarify", "clarify", "FairnessCheck", "fairness"):
        assert trace not in text, trace
    assert len(steps["QualityGate"]["Arguments"]["Conditions"]) == 2
    register = steps["Register-RegisterModel"]["Arguments"]
    assert {name for name, value in register["ModelMetrics"].items() if value} == {"ModelQuality", "ModelDataQuality"}
    assert {name for name, value in register["DriftCheckBaselines"].items() if value} == {"ModelDataQuality"}
    outputs = {o["OutputName"] for o in steps["Preprocess"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == set(paths.PREPROCESS_OUTPUTS)
