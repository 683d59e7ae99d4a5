"""ModelBuildStack: the Model Package Group, the pipeline with its substituted definition, roles and trigger."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from blueprint.pipeline.settings import PLACEHOLDERS
from tests.infra.synth import role_statements


@pytest.fixture(scope="module")
def model_build(platform) -> Template:
    return platform.template(platform.stacks["dev"].model_build)


def pipeline_body(template: Template) -> tuple[str, dict]:
    (pipeline,) = template.find_resources("AWS::SageMaker::Pipeline").values()
    body, variables = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    return body, variables


def test_the_registry_outlives_the_stack(model_build):
    (group,) = model_build.find_resources("AWS::SageMaker::ModelPackageGroup").values()
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_a_model_package_group_per_stage(model_build):
    model_build.has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "mlops-dev-customer-churn"}
    )
    model_build.has_output("ModelPackageGroupName", {"Value": "mlops-dev-customer-churn"})
    model_build.has_output("PipelineName", {"Value": "mlops-dev-model-build"})


def test_every_placeholder_of_the_definition_is_substituted(model_build):
    body, variables = pipeline_body(model_build)
    used = set(re.findall(r"\$\{([^}!]+)\}", body))
    assert used - {"AWS::Region"} == set(variables)
    monitoring_only = {"MonitoringBucket", "FinderRoleArn"}  # the monitoring pipeline's
    assert set(variables) == set(PLACEHOLDERS) - monitoring_only | {"XgboostImageUri"}  # the framework image only
    assert variables["XgboostImageUri"]["Fn::FindInMap"][1] == {"Ref": "AWS::Region"}
    json.loads(body)  # a JSON document once substituted (values are plain strings)


def test_images_are_mapped_for_the_regions_sagemaker_serves(model_build):
    (mapping,) = model_build.to_json()["Mappings"].values()
    assert mapping["eu-west-1"]["Xgboost"].endswith(".dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5")
    assert set(mapping["us-east-1"]) == {"Xgboost"}  # the only image the model build runs


def test_an_etl_run_that_wrote_new_rows_starts_the_pipeline(model_build):
    model_build.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["mlops-dev.etl"],
                "detail-type": ["ETL Run Wrote Rows"],
                "detail": {"jobName": ["mlops-dev-etl"]},
            },
            "Targets": [Match.object_like({"Arn": Match.any_value(), "RoleArn": Match.any_value()})],
        },
    )
    statements = role_statements(model_build, "TrainingStartRole")
    assert [s["Action"] for s in statements] == ["sagemaker:StartPipelineExecution"]


def test_no_role_uses_an_aws_managed_policy(model_build):
    for role in model_build.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def s3_access(template: Template, role_prefix: str) -> dict[str, list[str]]:
    """S3 action -> the object paths (after the bucket name) the role is granted it on."""
    access: dict[str, list[str]] = {}
    for statement in role_statements(template, role_prefix):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            if action.startswith("s3:") and action != "s3:ListBucket":
                access.setdefault(action, []).extend(
                    json.dumps(r).split('"]]}')[0].rsplit('"', 1)[-1] for r in resources if "Fn::Join" in r
                )
    return access


def test_each_kind_of_job_reaches_only_what_its_steps_need(model_build):
    processing = s3_access(model_build, "TrainingRolesJobRole")
    training = s3_access(model_build, "TrainingRolesTrainingRole")
    champion = s3_access(model_build, "TrainingRolesChampionRole")
    pipeline = "/pipelines/mlops-dev-model-build"
    fairness = ("analysis-config", "data-bias", "model-bias", "explainability", "fairness")
    assert sorted(processing["s3:PutObject"]) == sorted(
        f"{pipeline}/*/{s}/*" for s in ("preprocess", "baseline", "evaluate", *fairness)
    )
    assert sorted(training["s3:PutObject"]) == sorted(f"{pipeline}/*/{s}/*" for s in ("train", "checkpoints"))
    assert champion["s3:PutObject"] == [f"{pipeline}/*/champion/*"]
    assert "/data/customer-churn/*" in processing["s3:GetObject"]
    assert f"{pipeline}/*" in processing["s3:GetObject"]  # the model archive the bias and SHAP jobs read
    assert f"{pipeline}/*/evaluate/*" in champion["s3:GetObject"]
    assert not any("s3:DeleteObject" in access for access in (processing, training, champion))
    # only the champion check reads the registry
    for role, reads_registry in (("JobRole", False), ("TrainingRole", False), ("ChampionRole", True)):
        actions = {json.dumps(s["Action"]) for s in role_statements(model_build, f"TrainingRoles{role}")}
        assert ('"sagemaker:ListModelPackages"' in actions) is reads_registry


def test_no_role_of_the_model_build_may_start_an_endpoint_or_create_a_model(model_build):
    """Bias and SHAP read the model's archive: no shadow endpoint, no candidate model, no Clarify role."""
    assert not [name for name in model_build.find_resources("AWS::IAM::Role") if "Clarify" in name]
    for policy in model_build.find_resources("AWS::IAM::Policy").values():
        actions = json.dumps([s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]])
        for action in ("sagemaker:CreateEndpoint", "sagemaker:CreateModel", "sagemaker:InvokeEndpoint"):
            assert f'"{action}"' not in actions


def test_the_pipeline_role_passes_only_the_job_roles_to_sagemaker(model_build):
    (pass_role,) = [
        s for s in role_statements(model_build, "TrainingRolesPipelineRole") if s["Action"] == "iam:PassRole"
    ]
    passed = sorted(resource["Fn::GetAtt"][0] for resource in pass_role["Resource"])
    assert [name[: name.index("Role", len("TrainingRoles")) + 4] for name in passed] == [
        "TrainingRolesChampionRole",
        "TrainingRolesJobRole",
        "TrainingRolesTrainingRole",
    ]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
