"""The SageMaker Pipeline definition as data: steps, wiring, the gate, API shapes, determinism, offline."""

from __future__ import annotations

import json
import logging
import re
import socket
from typing import Any

import pytest

from blueprint.pipeline.definition import REFERENCE_REGION, build_definition, image_uri
from blueprint.pipeline.settings import IMAGE_PLACEHOLDERS, PLACEHOLDERS, PipelineSettings
from ml_code import paths
from ml_code.contracts.contract import REPORT_METRICS, load_contract
from tests.infra.golden.regenerate import GOLDEN, golden_definition, render
from tests.infra.request_shapes import validation_errors

CHURN = load_contract("customer-churn")
FAIRNESS_STEPS = [
    "AnalysisConfig",
    "DataBias",
    "ModelBias",
    "Explainability",
    "FairnessCheck",
]
SETTINGS = PipelineSettings(pipeline_name="mlops-test-model-build", model_package_group_name="mlops-test-models")
EXECUTION_VARIABLES = {"Execution.PipelineName", "Execution.PipelineExecutionId", "Execution.PipelineExecutionArn"}


@pytest.fixture(scope="module")
def definition() -> dict:
    return build_definition(SETTINGS, CHURN)


def all_steps(definition: dict) -> dict[str, dict]:
    """Every step by name, the ones inside condition branches included."""
    found = {}

    def visit(steps: list[dict]) -> None:
        for step in steps:
            found[step["Name"]] = step
            visit(step.get("Arguments", {}).get("IfSteps", []))
            visit(step.get("Arguments", {}).get("ElseSteps", []))

    visit(definition["Steps"])
    return found


def as_deployed(definition: dict) -> dict:
    """The definition with plausible values where Fn::Sub will put the real ones at deploy time."""
    text = json.dumps(definition)
    for name, stand_in in PLACEHOLDERS.items():
        text = text.replace("${" + name + "}", stand_in)
    for name, framework in IMAGE_PLACEHOLDERS.items():
        text = text.replace("${" + name + "}", image_uri(framework, REFERENCE_REGION))
    return json.loads(text.replace("${AWS::Region}", REFERENCE_REGION))


def references(node: Any) -> list[str]:
    """Every `Get` path under a node."""
    if isinstance(node, dict):
        found = [node["Get"]] if isinstance(node.get("Get"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in references(item)]
    return []


def depends_on(step: dict) -> set[str]:
    return {m.group(1) for ref in references(step) if (m := re.match(r"Steps\.([^.\[]+)", ref))}


def test_the_steps_of_the_model_build(definition):
    assert [step["Name"] for step in definition["Steps"]] == [
        "Preprocess",
        "DataQualityBaseline",
        "Train",
        "Evaluate",
        "CompareWithChampion",
        *FAIRNESS_STEPS,  # the shipped churn contract has a fairness section (test_fairness_definition.py)
        "QualityGate",
    ]
    gate = all_steps(definition)["QualityGate"]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["Register-RegisterModel"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["GateFailed"]


def test_the_steps_are_wired_in_order(definition):
    steps = all_steps(definition)
    assert depends_on(steps["DataQualityBaseline"]) == {"Preprocess"}
    assert depends_on(steps["Train"]) == {"Preprocess"}
    assert depends_on(steps["Evaluate"]) == {"Preprocess", "Train"}
    assert depends_on(steps["CompareWithChampion"]) == {"Evaluate"}
    assert depends_on(steps["QualityGate"]) >= {"Evaluate", "CompareWithChampion"}
    fairness_reports = {"AnalysisConfig", "DataBias", "ModelBias", "Explainability"}
    assert depends_on(steps["Register-RegisterModel"]) == {
        "Preprocess",
        "DataQualityBaseline",
        "Train",
        "Evaluate",
        *fairness_reports,
    }


def test_every_reference_resolves(definition):
    parameters = {parameter["Name"] for parameter in definition["Parameters"]}
    steps = all_steps(definition)
    property_files = {
        (name, pf["PropertyFileName"]) for name, step in steps.items() for pf in step.get("PropertyFiles", [])
    }
    for ref in references(definition):
        kind, _, rest = ref.partition(".")
        if kind == "Parameters":
            assert rest in parameters, ref
        elif kind == "Execution":
            assert ref in EXECUTION_VARIABLES, ref
        else:
            assert kind == "Steps", ref
            step_name = re.match(r"([^.\[]+)", rest).group(1)
            assert step_name in steps, ref
            if ".PropertyFiles." in ref:
                assert (step_name, ref.rsplit(".", 1)[1]) in property_files, ref


def test_parameters_and_their_defaults(definition):
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert defaults == {
        "InputDataUri": "s3://${CuratedBucket}/data/customer-churn/",
        "ProcessingInstanceType": "ml.m5.xlarge",
        "ProcessingInstanceCount": 1,
        "TrainingInstanceType": "ml.m5.xlarge",
        "TrainingInstanceCount": 1,
        "GateThreshold": 0.75,
        "ChampionTolerance": 0.01,
        "ModelApprovalStatus": "PendingManualApproval",
        "GitCommit": "unknown",
        "StartReason": "unspecified",
        "Seed": 42,
    }


def test_one_seed_parameter_reaches_the_split_the_model_and_the_bootstrap(definition):
    steps = all_steps(definition)
    seed = {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Seed"}]}}
    for name in ("Preprocess", "Evaluate"):
        arguments = steps[name]["Arguments"]["AppSpecification"]["ContainerArguments"]
        assert arguments[arguments.index("--seed") + 1] == seed, name
    assert steps["Train"]["Arguments"]["HyperParameters"]["seed"] == seed


def test_the_gate_reads_the_metric_evaluate_writes_in_the_right_direction(definition):
    steps = all_steps(definition)
    evaluation = next(pf for pf in steps["Evaluate"]["PropertyFiles"] if pf["PropertyFileName"] == "EvaluationReport")
    assert (evaluation["OutputName"], evaluation["FilePath"]) == (paths.EVALUATION_OUTPUT, paths.REPORT_FILE)
    threshold, champion, _fair = steps["QualityGate"]["Arguments"]["Conditions"]
    assert threshold["Type"] == "GreaterThanOrEqualTo"  # auc: higher is better
    assert threshold["LeftValue"]["Std:JsonGet"]["Path"] == CHURN.report_metric_path
    assert threshold["RightValue"] == {"Get": "Parameters.GateThreshold"}
    problem, metric, _ = CHURN.report_metric_path.split(".")
    assert metric in REPORT_METRICS[problem.removesuffix("_metrics")]  # a key evaluate.py writes
    assert champion["Type"] == "Equals" and champion["LeftValue"]["Std:JsonGet"]["Path"] == "passes"


def test_a_lower_is_better_metric_gates_the_other_way():
    steps = all_steps(build_definition(SETTINGS, load_contract("abalone")))
    (threshold, _champion) = steps["QualityGate"]["Arguments"]["Conditions"]  # abalone: no fairness section
    assert threshold["Type"] == "LessThanOrEqualTo"
    assert threshold["LeftValue"]["Std:JsonGet"]["Path"] == "regression_metrics.rmse.value"


def test_the_fail_step_carries_the_metric_and_the_threshold(definition):
    message = all_steps(definition)["GateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    assert {"Get": "Parameters.GateThreshold"} in message
    assert any(
        isinstance(v, dict) and v.get("Std:JsonGet", {}).get("Path") == CHURN.report_metric_path for v in message
    )


def test_preprocess_and_baseline_are_cached_and_jobs_retry_on_throttling_and_capacity(definition):
    steps = all_steps(definition)
    for name in ("Preprocess", "DataQualityBaseline"):
        assert steps[name]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    for name in ("Preprocess", "Train", "Evaluate", "CompareWithChampion"):
        kinds = {e for policy in steps[name]["RetryPolicies"] for e in policy["ExceptionType"]}
        assert {"Step.THROTTLING", "SageMaker.CAPACITY_ERROR"} <= kinds, name


def test_training_is_script_mode_with_metric_definitions_and_code_from_the_sourcedir(definition):
    train = all_steps(definition)["Train"]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == "${XgboostImageUri}"
    assert [m["Name"] for m in train["AlgorithmSpecification"]["MetricDefinitions"]] == ["train:auc", "validation:auc"]
    assert json.loads(train["HyperParameters"]["sagemaker_program"]) == "ml_code/training/train.py"
    channels = {c["ChannelName"] for c in train["InputDataConfig"]}
    assert channels == {*paths.TRAINING_CHANNELS, "code"}
    assert train["EnableNetworkIsolation"] is True
    assert "EnableManagedSpotTraining" not in train


def test_spot_training_adds_max_wait_and_checkpoints():
    spot = PipelineSettings(**{**SETTINGS.__dict__, "use_spot": True})
    train = all_steps(build_definition(spot, CHURN))["Train"]["Arguments"]
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    # SageMaker syncs /opt/ml/checkpoints (paths.CHECKPOINT_DIR, where train.py looks) with this S3 location
    assert set(train["CheckpointConfig"]) == {"S3Uri"}


def test_register_records_metrics_baselines_and_provenance(definition):
    register = all_steps(definition)["Register-RegisterModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == "mlops-test-models"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert set(register["ModelMetrics"]) >= {"ModelQuality", "ModelDataQuality"}
    assert set(register["DriftCheckBaselines"]["ModelDataQuality"]) == {"Statistics", "Constraints"}
    # the data-quality baseline step's two files, in Model Monitor's formats, for the metrics and the monitors
    baseline = "Steps.DataQualityBaseline.ProcessingOutputConfig.Outputs['data_quality'].S3Output.S3Uri"
    for block in (register["ModelMetrics"]["ModelDataQuality"], register["DriftCheckBaselines"]["ModelDataQuality"]):
        for field, name in (("Statistics", paths.STATISTICS_FILE), ("Constraints", paths.CONSTRAINTS_FILE)):
            assert block[field]["S3Uri"]["Std:Join"]["Values"] == [{"Get": baseline}, name]
    metadata = register["CustomerMetadataProperties"]
    assert metadata["git_commit"] == {"Get": "Parameters.GitCommit"}
    assert metadata["data_sha256"]["Std:JsonGet"]["Path"] == "data_sha256"
    assert metadata["contract"] == "customer-churn"
    (container,) = register["InferenceSpecification"]["Containers"]
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": paths.SERVING_PROGRAM,
        "SAGEMAKER_SUBMIT_DIRECTORY": f"{paths.MODEL_DIR}/{paths.SERVING_CODE_DIR}",
    }


def test_processing_steps_run_their_module_through_the_bootstrap(definition):
    steps = all_steps(definition)
    modules = {}
    for name in ("Preprocess", "DataQualityBaseline", "Evaluate", "CompareWithChampion"):
        app = steps[name]["Arguments"]["AppSpecification"]
        assert app["ContainerEntrypoint"] == ["python3", "/opt/ml/processing/input/code/${BootstrapKey}"]
        modules[name] = app["ContainerArguments"][1]
        inputs = {i["InputName"]: i["S3Input"] for i in steps[name]["Arguments"]["ProcessingInputs"]}
        assert inputs["code_package"]["LocalPath"] == paths.CODE_PACKAGE_INPUT
    assert modules == {
        "Preprocess": "ml_code.processing.preprocess",
        "DataQualityBaseline": "ml_code.monitoring.data_quality",
        "Evaluate": "ml_code.evaluation.evaluate",
        "CompareWithChampion": "ml_code.evaluation.champion",
    }
    outputs = {o["OutputName"] for o in steps["Preprocess"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == {*paths.PREPROCESS_OUTPUTS, paths.FAIRNESS_DATA_OUTPUT}


@pytest.mark.parametrize(
    ("step", "operation", "name_field"),
    [
        ("Preprocess", "CreateProcessingJob", "ProcessingJobName"),
        ("DataQualityBaseline", "CreateProcessingJob", "ProcessingJobName"),
        ("Evaluate", "CreateProcessingJob", "ProcessingJobName"),
        ("CompareWithChampion", "CreateProcessingJob", "ProcessingJobName"),
        ("Train", "CreateTrainingJob", "TrainingJobName"),
        ("Register-RegisterModel", "CreateModelPackage", None),
    ],
)
def test_step_arguments_are_valid_api_requests(definition, step, operation, name_field):
    arguments = dict(all_steps(as_deployed(definition))[step]["Arguments"])
    if name_field:
        arguments[name_field] = "generated-at-run-time"  # the pipeline names each job
    assert validation_errors(operation, arguments) == ""


def test_the_validator_catches_a_bad_request(definition):
    arguments = dict(all_steps(as_deployed(definition))["Train"]["Arguments"], TrainingJobName="x")
    arguments["ResourceConfig"] = {**arguments["ResourceConfig"], "VolumeSizeInGB": "thirty"}
    del arguments["RoleArn"]
    errors = validation_errors("CreateTrainingJob", arguments)
    assert "Missing required parameter" in errors and "RoleArn" in errors and "VolumeSizeInGB" in errors


def test_only_declared_placeholders_are_left_for_the_stack(definition):
    text = json.dumps(definition)
    names = set(re.findall(r"\$\{([^}!]+)\}", text))
    assert names <= set(PLACEHOLDERS) | set(IMAGE_PLACEHOLDERS) | {"AWS::Region"}
    assert {"JobRoleArn", "KmsKeyArn", "ArtifactsBucket", "SourceDirKey", "BootstrapKey"} <= names


def test_two_builds_are_byte_identical(definition):
    assert render(build_definition(SETTINGS, CHURN)) == render(definition)


def test_the_build_makes_no_connection_at_all(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the pipeline definition build opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert build_definition(SETTINGS, CHURN)["Steps"]


def test_builds_offline_with_an_mlflow_tracking_uri_set(monkeypatch):
    """The SDK waits for a network-isolated training job to end when MLFLOW_TRACKING_URI is set (local mode sets it
    to log runs to a server): the build hides it, and gives the definition it gives without it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert render(golden_definition()) == GOLDEN.read_text()


def test_the_golden_copy_is_current():
    # A failure here means the definition changed: review the diff, then `make golden` and commit.
    assert render(golden_definition()) == GOLDEN.read_text()


def test_the_build_drops_the_sdks_job_name_notices_and_nothing_else(caplog):
    with caplog.at_level(logging.WARNING):
        build_definition(SETTINGS, CHURN)
        logging.getLogger("sagemaker.workflow.utilities").warning("another warning")
    messages = [record.getMessage() for record in caplog.records]
    assert not [message for message in messages if message.startswith("Popping out")]
    assert "another warning" in messages


def test_every_job_stops_in_time_encrypts_and_only_the_registry_reader_has_a_network(definition):
    steps = all_steps(definition)
    for name in ("Preprocess", "DataQualityBaseline", "Evaluate", "CompareWithChampion"):
        arguments = steps[name]["Arguments"]
        assert arguments["StoppingCondition"]["MaxRuntimeInSeconds"] > 0, name
        isolated = arguments["NetworkConfig"]["EnableNetworkIsolation"]
        assert isolated is (name != "CompareWithChampion"), name
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}", name
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == "${KmsKeyArn}", name
    train = steps["Train"]["Arguments"]
    assert train["StoppingCondition"]["MaxRuntimeInSeconds"] > 0 and train["EnableNetworkIsolation"] is True
    names = ("Preprocess", "DataQualityBaseline", "Train", "CompareWithChampion")
    roles = {name: steps[name]["Arguments"]["RoleArn"] for name in names}
    assert roles == {
        "Preprocess": "${JobRoleArn}",
        "DataQualityBaseline": "${JobRoleArn}",
        "Train": "${TrainingRoleArn}",
        "CompareWithChampion": "${ChampionRoleArn}",
    }
