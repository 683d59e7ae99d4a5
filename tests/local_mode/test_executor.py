"""The executor checks the definition's wiring instead of re-implementing it, and names what it cannot run."""

from __future__ import annotations

import copy
import json
import time

import pytest

from local_mode.deployment import code_objects, deploy, substitute
from local_mode.executor import PipelineExecutor, StepError
from local_mode.expressions import ExpressionError, Scope, follow, resolve
from local_mode.jobs import JobFailed, JobRunner, _max_runtime, default_python
from local_mode.registry import Registry


def executor(definition: dict, home, log=None) -> PipelineExecutor:
    return PipelineExecutor(
        definition, pipeline_name="test-pipeline", home=home, python=default_python(), log=log or (lambda _: None)
    )


def deployed(definition: dict, home) -> dict:
    return substitute(definition, deploy(home, code_objects()))


def step(definition: dict, name: str) -> dict:
    return next(s for s in definition["Steps"] if s["Name"] == name)


def test_fails_naming_the_step_and_the_missing_input_when_an_output_is_renamed(tmp_path, definition, churn_csv):
    rewired = copy.deepcopy(definition)
    outputs = step(rewired, "Preprocess")["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    baseline = next(output for output in outputs if output["OutputName"] == "baseline")
    baseline["OutputName"] = "baseline_features"
    result = executor(deployed(rewired, tmp_path), tmp_path).start({"InputDataUri": str(churn_csv)})
    assert result.status == "Failed"
    assert result.step("Preprocess").status == "Succeeded"
    assert result.step("DataQualityBaseline").status == "Failed"
    assert result.failure_reason.startswith("DataQualityBaseline: Steps.Preprocess.ProcessingOutputConfig")
    assert "no 'baseline' (there are: [" in result.failure_reason and "'baseline_features'" in result.failure_reason
    # Train started beside the baseline (as SageMaker starts both); nothing starts after a failure
    assert result.step("Evaluate").status == "NotRun"
    assert Registry(tmp_path).packages("mlops-dev-customer-churn") == []


def test_fails_naming_the_gate_when_its_json_path_is_not_in_the_report(tmp_path, definition, churn_csv):
    rewired = copy.deepcopy(definition)
    gate = step(rewired, "QualityGate")
    gate["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]["Path"] = "binary_classification_metrics.gini"
    result = executor(deployed(rewired, tmp_path), tmp_path).start({"InputDataUri": str(churn_csv)})
    assert result.status == "Failed" and not result.gate_failed
    assert result.failure_reason.startswith("QualityGate: Std:JsonGet 'binary_classification_metrics.gini': no 'gini'")


def tiny(threshold_default: float, *extra_steps: dict) -> dict:
    """A definition of a Condition on a parameter, with a Fail step on its else branch: no jobs."""
    return {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Score", "Type": "Float", "DefaultValue": threshold_default}],
        "Steps": [
            {
                "Name": "Gate",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Score"}, "RightValue": 0.5}
                    ],
                    "IfSteps": [],
                    "ElseSteps": [
                        {
                            "Name": "TooLow",
                            "Type": "Fail",
                            "Arguments": {
                                "ErrorMessage": {
                                    "Std:Join": {"On": " ", "Values": ["score", {"Get": "Parameters.Score"}, "< 0.5"]}
                                }
                            },
                        }
                    ],
                },
            },
            *extra_steps,
        ],
    }


def test_a_fail_step_ends_the_run_with_its_message(tmp_path):
    result = executor(tiny(0.2), tmp_path).start()
    assert (result.status, result.gate_failed, result.failure_reason) == ("Failed", True, "score 0.2 < 0.5")


def test_the_else_branch_does_not_run_when_the_condition_holds(tmp_path):
    lines = []
    result = executor(tiny(0.2), tmp_path, log=lines.append).start({"Score": "0.9"})
    assert result.status == "Succeeded"
    assert result.step("TooLow").status == "NotRun"
    assert any("Gate" in line and "true" in line for line in lines)


def test_fails_naming_the_step_whose_type_is_not_supported(tmp_path):
    lambda_step = {"Name": "Notify", "Type": "Lambda", "Arguments": {}}
    result = executor(tiny(0.9, lambda_step), tmp_path).start()
    assert result.failure_reason.startswith("Notify: step type 'Lambda' is not supported locally (supported: [")


def test_fails_when_a_parameter_override_is_not_the_pipelines_or_not_its_type(tmp_path):
    with pytest.raises(ValueError, match=r"the pipeline has no parameter\(s\) \['Scor'\]"):
        executor(tiny(0.9), tmp_path).start({"Scor": 1})
    with pytest.raises(ValueError, match="parameter Score is Float: 'high' is not one"):
        executor(tiny(0.9), tmp_path).start({"Score": "high"})


def test_fails_when_steps_read_from_a_step_the_definition_does_not_have(tmp_path):
    orphan = {"Name": "Orphan", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Steps.Ghost.Status"}}}
    with pytest.raises(StepError, match=r"Orphan: reads from step\(s\) \['Ghost'\]"):
        executor(tiny(0.9, orphan), tmp_path)


def test_fails_on_a_function_it_does_not_know():
    with pytest.raises(ExpressionError, match="function Std:Upper is not supported locally"):
        resolve({"Std:Upper": "x"}, Scope(parameters={}, execution={}))


def test_property_paths_index_lists_by_name_and_say_what_exists():
    properties = {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]}
    assert follow(properties, "Outputs['train'].S3Output.S3Uri", where="x") == "s3://b/train"
    with pytest.raises(ExpressionError, match=r"x: no 'test' \(there are: \['train'\]\)"):
        follow(properties, "Outputs['test'].S3Output.S3Uri", where="x")


def test_fails_on_a_placeholder_local_mode_does_not_know():
    with pytest.raises(ValueError, match=r"placeholder \$\{VpcId\} that local mode does not know"):
        substitute({"a": ["${VpcId}"]}, {"Known": "x"})
    assert substitute("${!Literal} ${Known}", {"Known": "x"}) == "${Literal} x"


def test_every_placeholder_of_the_definition_has_a_local_value(tmp_path, definition):
    text = json.dumps(substitute(definition, deploy(tmp_path, code_objects())))
    assert "${" not in text.replace("${!", "")


def test_a_job_past_its_stopping_condition_is_stopped_and_says_so(tmp_path):
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\nprint('working', flush=True)\ntime.sleep(60)\n")
    runner = JobRunner(tmp_path, default_python())
    failure = tmp_path / "job" / "failure"
    failure.parent.mkdir()
    started = time.monotonic()
    with pytest.raises(JobFailed) as caught:
        runner._run("slow-job", [default_python(), str(sleeper)], tmp_path / "job", failure, {}, limit=1)
    assert time.monotonic() - started < 30
    log = failure.parent / "slow-job.log"
    assert str(caught.value) == f"stopped: the job ran past its stopping condition, MaxRuntimeInSeconds 1 (log: {log})"
    assert "working" in log.read_text()


def test_local_jobs_get_the_definitions_stopping_condition(definition):
    processing, training = step(definition, "Preprocess")["Arguments"], step(definition, "Train")["Arguments"]
    assert _max_runtime(processing) == processing["StoppingCondition"]["MaxRuntimeInSeconds"] > 0
    assert _max_runtime(training) == training["StoppingCondition"]["MaxRuntimeInSeconds"] > 0
    assert _max_runtime({}) is None
