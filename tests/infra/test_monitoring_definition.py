"""The monitoring pipeline definition as data: the steps and their wiring to the scripts' files, the window from the
parameters, isolation of the job that reads the traffic, API shapes."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from blueprint.pipeline.monitoring_definition import build_monitoring_definition
from blueprint.pipeline.settings import MonitoringSettings
from ml_code import paths
from ml_code.contracts.contract import load_contract
from tests.infra.request_shapes import validation_errors
from tests.infra.test_pipeline_definition import all_steps, as_deployed, depends_on

SETTINGS = MonitoringSettings(pipeline_name="mlops-test-endpoint-monitoring", endpoint_name="mlops-test-endpoint")


@pytest.fixture(scope="module")
def definition() -> dict:
    return build_monitoring_definition(SETTINGS, load_contract("customer-churn"))


def arguments_of(step: dict) -> list:
    return step["Arguments"]["AppSpecification"]["ContainerArguments"]


def test_find_what_to_read_then_monitor_only_when_the_window_captured_something(definition):
    found = all_steps(definition)
    assert [step["Name"] for step in definition["Steps"]] == ["FindServedModel", "HasTraffic"]
    (condition,) = found["HasTraffic"]["Arguments"]["Conditions"]
    assert condition["Type"] == "GreaterThan" and condition["RightValue"] == 0
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "captured_files"
    assert [step["Name"] for step in found["HasTraffic"]["Arguments"]["IfSteps"]] == ["Monitor"]
    assert found["HasTraffic"]["Arguments"]["ElseSteps"] == []  # a quiet window: missing data, not a failure
    assert arguments_of(found["FindServedModel"])[1] == "ml_code.monitoring.served_model"
    assert arguments_of(found["Monitor"])[1] == "ml_code.monitoring.monitor"
    assert arguments_of(found["Monitor"])[-2:] == ["--contract", "customer-churn"]


def test_the_window_and_the_served_package_come_from_the_parameters(definition):
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert parameters == {
        "EndpointName": "mlops-test-endpoint",
        "WindowHours": 1,
        "WindowEnd": "",
        "WindowStart": "",
        "ModelPackageArn": "",
        "InstanceType": "ml.m5.large",
    }
    arguments = arguments_of(all_steps(definition)["FindServedModel"])
    given = dict(zip(arguments[3::2], arguments[4::2], strict=False))
    assert given["--endpoint"] == {"Get": "Parameters.EndpointName"}
    assert given["--model-package-arn"] == {"Get": "Parameters.ModelPackageArn"}
    assert given["--window-end"] == {"Get": "Parameters.WindowEnd"}
    assert given["--window-start"] == {"Get": "Parameters.WindowStart"}
    assert given["--monitoring-bucket"] == "${MonitoringBucket}"


def test_only_the_finder_has_a_network_and_every_job_has_a_time_limit_and_its_key(definition):
    found = all_steps(definition)
    assert found["FindServedModel"]["Arguments"]["NetworkConfig"] == {"EnableNetworkIsolation": False}
    assert found["Monitor"]["Arguments"]["NetworkConfig"] == {"EnableNetworkIsolation": True}
    assert found["FindServedModel"]["Arguments"]["RoleArn"] == "${FinderRoleArn}"
    assert found["Monitor"]["Arguments"]["RoleArn"] == "${JobRoleArn}"
    for name in ("FindServedModel", "Monitor"):
        arguments = found[name]["Arguments"]
        assert arguments["StoppingCondition"]["MaxRuntimeInSeconds"] > 0
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == "${KmsKeyArn}"
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == "${KmsKeyArn}"


def test_the_monitor_downloads_the_windows_manifest_and_the_packages_baselines(definition):
    found = all_steps(definition)
    assert depends_on(found["Monitor"]) >= {"FindServedModel"}
    (served_file,) = found["FindServedModel"]["PropertyFiles"]
    assert served_file == {
        "PropertyFileName": "ServedModel",
        "OutputName": paths.SERVED_MODEL_OUTPUT,
        "FilePath": paths.SERVED_MODEL_FILE,
    }
    inputs = {i["InputName"]: i["S3Input"] for i in found["Monitor"]["Arguments"]["ProcessingInputs"]}
    window = inputs[paths.MONITORING_WINDOW_INPUT]
    assert window["S3DataType"] == "ManifestFile"
    assert window["S3Uri"]["Std:Join"]["Values"][-1] == paths.WINDOW_MANIFEST_FILE
    assert window["LocalPath"] == f"{paths.PROCESSING_BASE}/input/{paths.MONITORING_WINDOW_INPUT}"
    assert inputs[paths.MONITORING_STATISTICS_INPUT]["S3Uri"]["Std:JsonGet"]["Path"] == "statistics_uri"
    assert inputs[paths.MONITORING_CONSTRAINTS_INPUT]["S3Uri"]["Std:JsonGet"]["Path"] == "constraints_uri"
    (output,) = found["Monitor"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    values = output["S3Output"]["S3Uri"]["Std:Join"]["Values"]
    assert values[-1] == paths.MONITORING_REPORTS_OUTPUT
    folder = values[0]["Std:Join"]["Values"]
    assert folder == [
        "s3://${MonitoringBucket}",
        "monitoring-reports",
        {"Get": "Parameters.EndpointName"},
        {"Get": "Execution.PipelineExecutionId"},
    ]


@pytest.mark.parametrize("step", ["FindServedModel", "Monitor"])
def test_step_arguments_are_valid_api_requests(definition, step):
    arguments = dict(all_steps(as_deployed(definition))[step]["Arguments"], ProcessingJobName="generated-at-run-time")
    assert validation_errors("CreateProcessingJob", arguments) == ""


def test_only_known_placeholders_are_left_for_the_stack(definition):
    names = set(re.findall(r"\$\{([^}!]+)\}", json.dumps(definition)))
    assert names == {
        "MonitoringBucket",
        "JobRoleArn",
        "FinderRoleArn",
        "KmsKeyArn",
        "CodeBucket",
        "SourceDirKey",
        "BootstrapKey",
        "XgboostImageUri",
    }


def test_with_a_fairness_section_the_monitor_gets_the_served_model_and_its_explainability_report(definition):
    found = all_steps(definition)
    assert "--fairness" in arguments_of(found["FindServedModel"])
    inputs = {i["InputName"]: i["S3Input"] for i in found["Monitor"]["Arguments"]["ProcessingInputs"]}
    assert inputs[paths.MONITORING_MODEL_INPUT]["S3Uri"]["Std:JsonGet"]["Path"] == "model_data_url"
    assert inputs[paths.MONITORING_EXPLAINABILITY_INPUT]["S3Uri"]["Std:JsonGet"]["Path"] == "explainability_uri"
    without = all_steps(
        build_monitoring_definition(SETTINGS, dataclasses.replace(load_contract("customer-churn"), fairness=None))
    )
    assert "--fairness" not in arguments_of(without["FindServedModel"])
    names = {i["InputName"] for i in without["Monitor"]["Arguments"]["ProcessingInputs"]}
    assert not names & {paths.MONITORING_MODEL_INPUT, paths.MONITORING_EXPLAINABILITY_INPUT}
