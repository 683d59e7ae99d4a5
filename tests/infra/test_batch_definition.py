"""The batch-scoring pipeline definition as data: steps, wiring to the scripts' files, isolation, API shapes."""

from __future__ import annotations

import json
import re

import pytest

from blueprint.pipeline.batch_definition import build_batch_definition
from blueprint.pipeline.settings import BatchScoringSettings
from ml_code import paths
from ml_code.contracts.contract import load_contract
from tests.infra.request_shapes import validation_errors
from tests.infra.test_pipeline_definition import as_deployed, depends_on

SETTINGS = BatchScoringSettings(pipeline_name="mlops-test-batch-scoring", model_package_group_name="mlops-test-models")


@pytest.fixture(scope="module")
def definition() -> dict:
    return build_batch_definition(SETTINGS, load_contract("customer-churn"))


def steps(definition: dict) -> dict[str, dict]:
    return {step["Name"]: step for step in definition["Steps"]}


def test_find_the_approved_model_then_score_with_it(definition):
    found = steps(definition)
    assert list(found) == ["FindApprovedModel", "Score"]
    assert depends_on(found["Score"]) == {"FindApprovedModel"}
    modules = {name: step["Arguments"]["AppSpecification"]["ContainerArguments"][1] for name, step in found.items()}
    assert modules == {
        "FindApprovedModel": "ml_code.inference.approved_model",
        "Score": "ml_code.inference.batch_score",
    }
    assert found["FindApprovedModel"]["Arguments"]["AppSpecification"]["ContainerArguments"][-2:] == [
        "--model-package-group",
        "mlops-test-models",
    ]
    assert found["Score"]["Arguments"]["AppSpecification"]["ContainerArguments"][-2:] == [
        "--contract",
        "customer-churn",
    ]


def test_only_the_registry_lookup_has_a_network_and_every_job_has_a_time_limit(definition):
    found = steps(definition)
    assert found["FindApprovedModel"]["Arguments"]["NetworkConfig"] == {"EnableNetworkIsolation": False}
    assert found["Score"]["Arguments"]["NetworkConfig"] == {"EnableNetworkIsolation": True}
    for step in found.values():
        assert step["Arguments"]["StoppingCondition"]["MaxRuntimeInSeconds"] > 0
        assert step["Arguments"]["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"


def test_the_scorer_gets_the_model_the_lookup_names(definition):
    (approved_file,) = steps(definition)["FindApprovedModel"]["PropertyFiles"]
    assert approved_file == {
        "PropertyFileName": "ApprovedModel",
        "OutputName": paths.APPROVED_MODEL_OUTPUT,
        "FilePath": paths.APPROVED_MODEL_FILE,
    }
    inputs = {i["InputName"]: i["S3Input"] for i in steps(definition)["Score"]["Arguments"]["ProcessingInputs"]}
    model = inputs["model"]
    assert model["LocalPath"] == f"{paths.PROCESSING_BASE}/{paths.SCORING_MODEL_INPUT}"
    assert model["S3Uri"]["Std:JsonGet"]["Path"] == "model_data_url"
    assert inputs["data"]["S3Uri"] == {"Get": "Parameters.InputDataUri"}
    assert inputs["data"]["LocalPath"] == f"{paths.PROCESSING_BASE}/{paths.PROCESSING_INPUT_DATA}"
    assert inputs[paths.APPROVED_MODEL_OUTPUT]["LocalPath"] == f"{paths.PROCESSING_BASE}/{paths.APPROVED_MODEL_OUTPUT}"


def test_predictions_go_next_to_the_curated_data_one_folder_per_execution(definition):
    ((output,),) = [steps(definition)["Score"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]]
    assert output["OutputName"] == paths.PREDICTIONS_OUTPUT
    assert output["S3Output"]["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [
                "s3://${CuratedBucket}",
                "predictions",
                "customer-churn",
                {"Get": "Execution.PipelineExecutionId"},
            ],
        }
    }
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert parameters == {"InputDataUri": "s3://${CuratedBucket}/data/customer-churn/", "InstanceType": "ml.m5.xlarge"}


@pytest.mark.parametrize("step", ["FindApprovedModel", "Score"])
def test_step_arguments_are_valid_api_requests(definition, step):
    arguments = dict(steps(as_deployed(definition))[step]["Arguments"], ProcessingJobName="generated-at-run-time")
    assert validation_errors("CreateProcessingJob", arguments) == ""


def test_only_known_placeholders_are_left_for_the_stack(definition):
    names = set(re.findall(r"\$\{([^}!]+)\}", json.dumps(definition)))
    assert names == {
        "ArtifactsBucket",
        "CuratedBucket",
        "JobRoleArn",
        "KmsKeyArn",
        "CodeBucket",
        "SourceDirKey",
        "BootstrapKey",
        "XgboostImageUri",
    }
