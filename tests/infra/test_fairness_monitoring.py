"""Clarify's monitors on the monitored endpoint (prod): model bias and model explainability, baselined from the
served package at deploy time, on the stage's schedule; none where the stage does not monitor."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from tests.infra.synth import role_statements
from tests.infra.test_monitoring import ENDPOINT, approved_package_id, only


@pytest.fixture(scope="module")
def prod_serving(platform) -> Template:
    return platform.template(platform.stacks["prod"].serving)


def test_model_bias_checks_predictions_and_ground_truth_against_the_packages_baselines(prod_serving):
    job = only(prod_serving, "AWS::SageMaker::ModelBiasJobDefinition")
    check = approved_package_id(prod_serving)
    app = job["ModelBiasAppSpecification"]
    assert app["ConfigUri"] == {"Fn::GetAtt": [check, "BiasConfig"]}
    assert "Fn::FindInMap" in json.dumps(app["ImageUri"]) and "Clarify" in json.dumps(app["ImageUri"])
    baseline = job["ModelBiasBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    assert baseline == {"Fn::GetAtt": [check, "BiasConstraints"]}
    job_input = job["ModelBiasJobInput"]
    assert job_input["EndpointInput"]["EndpointName"] == ENDPOINT
    assert job_input["EndpointInput"]["ProbabilityAttribute"] == "predictions[0].probability"
    assert f"/groundtruth/{ENDPOINT}" in json.dumps(job_input["GroundTruthS3Input"]["S3Uri"])
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert "KmsKeyId" in job["ModelBiasJobOutputConfig"]


def test_model_explainability_checks_attributions_against_the_packages_baselines(prod_serving):
    job = only(prod_serving, "AWS::SageMaker::ModelExplainabilityJobDefinition")
    check = approved_package_id(prod_serving)
    assert job["ModelExplainabilityAppSpecification"]["ConfigUri"] == {"Fn::GetAtt": [check, "ExplainabilityConfig"]}
    baseline = job["ModelExplainabilityBaselineConfig"]["ConstraintsResource"]["S3Uri"]
    assert baseline == {"Fn::GetAtt": [check, "ExplainabilityConstraints"]}
    assert job["ModelExplainabilityJobInput"]["EndpointInput"]["EndpointName"] == ENDPOINT
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is False  # it calls the endpoint for attributions
    (check_resource,) = prod_serving.find_resources("Custom::ApprovedModelPackage").values()
    assert check_resource["Properties"]["RequireFairnessBaselines"] == "true"  # no baselines, no deployment


def test_both_run_on_the_stages_schedule(prod_serving):
    schedules = {
        s["Properties"]["MonitoringScheduleName"]: s["Properties"]["MonitoringScheduleConfig"]
        for s in prod_serving.find_resources("AWS::SageMaker::MonitoringSchedule").values()
    }
    bias, explainability = schedules[f"{ENDPOINT}-model-bias"], schedules[f"{ENDPOINT}-model-explainability"]
    assert (bias["MonitoringType"], explainability["MonitoringType"]) == ("ModelBias", "ModelExplainability")
    assert bias["ScheduleConfig"] == schedules[f"{ENDPOINT}-data-quality"]["ScheduleConfig"]


def test_the_monitors_role_invokes_only_its_endpoint_and_reads_only_the_fairness_baselines(prod_serving):
    (role_id,) = [
        logical_id
        for logical_id, role in prod_serving.find_resources("AWS::IAM::Role").items()
        if "Bias and explainability monitors" in role["Properties"].get("Description", "")
    ]
    statements = role_statements(prod_serving, role_id)
    (invoke,) = [s for s in statements if s["Action"] == "sagemaker:InvokeEndpoint"]
    assert f"endpoint/{ENDPOINT}" in json.dumps(invoke["Resource"])
    reads = json.dumps([s["Resource"] for s in statements if s["Action"] == "s3:GetObject"])
    for folder in ("analysis-config", "data-bias", "model-bias", "explainability"):
        assert f"/{folder}/*" in reads, folder
    assert "/baseline/*" not in reads and "/train/*" not in reads  # neither the data-quality baselines nor models
    assert not any("Delete" in json.dumps(s["Action"]) for s in statements)


def test_a_stage_that_does_not_monitor_has_no_clarify_monitor(platform):
    staging = platform.template(platform.stacks["staging"].serving)
    for kind in ("AWS::SageMaker::ModelBiasJobDefinition", "AWS::SageMaker::ModelExplainabilityJobDefinition"):
        assert not staging.find_resources(kind)
    (check_resource,) = staging.find_resources("Custom::ApprovedModelPackage").values()
    assert check_resource["Properties"]["RequireFairnessBaselines"] == "false"
