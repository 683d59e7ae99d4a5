"""ServingStack: the endpoint of an Approved package named at deploy time, its rollout, alarms, autoscaling and
capture; batch scoring."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from blueprint.naming import MODEL_PACKAGE_PARAMETER
from infra.constructs.endpoint_autoscaling import SCALE_IN_COOLDOWN_SECONDS, SCALE_OUT_COOLDOWN_SECONDS
from infra.constructs.model_endpoint import Rollout
from infra.constructs.rollback_alarms import RollbackAlarms
from infra.platform import build_platform
from tests.infra.synth import new_app, role_statements

ENDPOINT = "mlops-prod-customer-churn"
GROUP = "mlops-staging-customer-churn"  # the release stage's (cdk.json: the first serving stage)
ARN = f"arn:aws:sagemaker:eu-west-1:111122223333:model-package/{GROUP}/7"


@pytest.fixture(scope="module")
def prod(platform) -> Template:
    return platform.template(platform.stacks["prod"].serving)


@pytest.fixture(scope="module")
def staging(platform) -> Template:
    return platform.template(platform.stacks["staging"].serving)


def only(template: Template, kind: str) -> dict:
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


def test_a_serving_stack_where_serving_is_on_and_none_where_it_is_off(platform):
    assert platform.stacks["dev"].serving is None
    names = {stack.stack_name for stack in platform.assembly.stacks}
    assert {"mlops-staging-serving", "mlops-prod-serving"} <= names
    assert "mlops-dev-serving" not in names


def test_the_package_is_a_deploy_time_parameter_of_the_release_stages_group(prod):
    parameter = prod.to_json()["Parameters"][MODEL_PACKAGE_PARAMETER]
    assert "Default" not in parameter  # the deploy pipeline must say which package
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.match(ARN)
    assert pattern.match(ARN.replace("arn:aws:", "arn:aws-cn:").replace("eu-west-1", "cn-north-1"))
    for wrong in (
        ARN.replace(GROUP, "mlops-prod-customer-churn"),  # a group that releases nothing
        ARN.replace(GROUP, "mlops-dev-customer-churn"),
        ARN.rsplit("/", 1)[0],  # the group, not a version
        ARN.replace("model-package/", "model-package-group/"),
        ARN + "/extra",
    ):
        assert not pattern.match(wrong), wrong


def test_nothing_is_looked_up_at_synth(platform, prod):
    manifest = json.loads((platform.outdir / "manifest.json").read_text())
    assert "missing" not in manifest  # no context lookups (AMIs, VPCs, SSM values...)
    parameters = prod.to_json()["Parameters"]
    assert sorted(parameters) == ["BootstrapVersion", MODEL_PACKAGE_PARAMETER]


def test_the_deployment_fails_before_any_model_unless_the_package_is_approved(prod):
    (check_id, check) = next(iter(prod.find_resources("Custom::ApprovedModelPackage").items()))
    assert check["Properties"]["ModelPackageArn"] == {"Ref": MODEL_PACKAGE_PARAMETER}
    assert check["Properties"]["ModelPackageGroupName"] == GROUP
    (model,) = prod.find_resources("AWS::SageMaker::Model").values()
    assert check_id in model["DependsOn"]
    statements = role_statements(prod, "ApprovedPackageRole")
    (describe,) = [s for s in statements if s["Action"] == "sagemaker:DescribeModelPackage"]
    assert json.dumps(describe["Resource"]).endswith(f':model-package/{GROUP}/*"]]}}')
    assert {json.dumps(s["Action"]) for s in statements} == {
        '"sagemaker:DescribeModelPackage"',
        '["logs:CreateLogStream", "logs:PutLogEvents"]',
    }


def test_the_model_runs_the_package_network_isolated(prod):
    model = only(prod, "AWS::SageMaker::Model")
    assert model["PrimaryContainer"] == {"ModelPackageName": {"Ref": MODEL_PACKAGE_PARAMETER}}
    assert model["EnableNetworkIsolation"] is True
    # named after the package version, so a new package is a new model
    prefix, version, digest = model["ModelName"]["Fn::Join"][1]
    assert prefix == "mlops-prod-model-v"
    assert version == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": MODEL_PACKAGE_PARAMETER}]}]}
    assert re.fullmatch(r"-[0-9a-f]{8}", digest)


def test_the_endpoint_config_encrypts_volumes_and_captures_traffic(prod, staging):
    for template, sampling in ((staging, 100), (prod, 20)):
        config = only(template, "AWS::SageMaker::EndpointConfig")
        key = config["KmsKeyId"]
        assert "Fn::ImportValue" in key  # the DataStack's key
        capture = config["DataCaptureConfig"]
        assert capture["EnableCapture"] is True
        assert capture["InitialSamplingPercentage"] == sampling
        assert capture["KmsKeyId"] == key
        assert {option["CaptureMode"] for option in capture["CaptureOptions"]} == {"Input", "Output"}
        destination = json.dumps(capture["DestinationS3Uri"])
        assert "-monitoring-" in destination and destination.endswith('/datacapture"]]}')
        (variant,) = config["ProductionVariants"]
        assert variant["VariantName"] == "AllTraffic"
        assert variant["InstanceType"] == "ml.m5.large"
    assert only(prod, "AWS::SageMaker::EndpointConfig")["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_prod_rolls_out_as_a_canary_and_staging_all_at_once_both_rolling_back_on_alarms(prod, staging):
    canary = only(prod, "AWS::SageMaker::Endpoint")
    assert canary["EndpointName"] == ENDPOINT
    policy = canary["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 600,
    }
    assert policy["TerminationWaitInSeconds"] == 600
    alarms = {alarm["Properties"]["AlarmName"] for alarm in prod.find_resources("AWS::CloudWatch::Alarm").values()}
    rollback = {alarm["AlarmName"] for alarm in canary["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]}
    assert rollback == {f"{ENDPOINT}-rollback-5xx", f"{ENDPOINT}-rollback-latency"}
    assert alarms == rollback  # the monitoring alarms are the MonitoringStack's
    # autoscaling's instance count survives an update; the new capture settings do not get overridden
    assert canary["RetainAllVariantProperties"] is True
    assert canary["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]

    all_at_once = only(staging, "AWS::SageMaker::Endpoint")["DeploymentConfig"]
    assert all_at_once["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE"}
    assert len(all_at_once["AutoRollbackConfiguration"]["Alarms"]) == 2


def test_the_rollback_alarms_watch_5xx_errors_and_p99_latency_with_the_stages_thresholds(prod):
    dimensions = [
        {"Name": "EndpointName", "Value": ENDPOINT},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    common = {
        "Namespace": "AWS/SageMaker",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "TreatMissingData": "notBreaching",
    }
    prod.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {**common, "MetricName": "Invocation5XXErrors", "Statistic": "Sum", "Threshold": 5},
    )
    prod.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {**common, "MetricName": "ModelLatency", "ExtendedStatistic": "p99", "Threshold": 500_000},
    )


def test_autoscaling_tracks_invocations_per_instance_within_the_stages_bounds(prod, staging):
    for template, bounds in ((prod, (2, 4)), (staging, (1, 2))):
        target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")
        assert (target["MinCapacity"], target["MaxCapacity"]) == bounds
        assert target["ResourceId"].endswith("/variant/AllTraffic")
        assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    tracking = only(prod, "AWS::ApplicationAutoScaling::ScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] == 600
    assert tracking["ScaleOutCooldown"] == SCALE_OUT_COOLDOWN_SECONDS < SCALE_IN_COOLDOWN_SECONDS
    assert tracking["ScaleInCooldown"] == SCALE_IN_COOLDOWN_SECONDS
    (target_id,) = prod.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    assert prod.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")[target_id]["DependsOn"] == [
        next(iter(prod.find_resources("AWS::SageMaker::Endpoint")))
    ]


def test_the_model_role_reads_released_models_writes_capture_and_reads_its_alarms(prod, staging):
    statements = role_statements(prod, "EndpointRole")
    by_action = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in statements}
    # prod serves the release stage's models: staging's artifacts, decrypted with staging's key (by its alias)
    assert by_action['"s3:GetObject"'].endswith('/pipelines/mlops-staging-model-build/*/train/*"]]}')
    assert "mlops-staging-artifacts-" in by_action['"s3:GetObject"']
    (release_key,) = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert release_key["Condition"] == {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/mlops-staging-data"}}
    assert by_action['"kms:Decrypt"'].endswith(':key/*"]]}')
    # staging is the release stage: its own key, by reference
    staging_statements = role_statements(staging, "EndpointRole")
    (own_key,) = [s for s in staging_statements if "kms:Decrypt" in s["Action"]]
    assert "Condition" not in own_key and "mlops-staging-data:" in json.dumps(own_key["Resource"])
    assert by_action['"s3:PutObject"'].endswith(f'/datacapture/{ENDPOINT}/*"]]}}')
    assert by_action['"cloudwatch:DescribeAlarms"'].count(":alarm:") == 2
    assert not [s for s in statements if "*" in json.dumps(s["Action"])]
    assert not [s for s in statements if s["Resource"] == "*" and s["Action"] != "cloudwatch:PutMetricData"], (
        "only PutMetricData, which has no resource ARNs, may name every resource"
    )


def test_outputs_name_the_endpoint_the_package_and_the_batch_pipeline(prod):
    prod.has_output("EndpointName", {"Value": ENDPOINT})
    prod.has_output("ServedModelPackageArn", {"Value": {"Ref": MODEL_PACKAGE_PARAMETER}})
    prod.has_output("BatchScoringPipelineName", {"Value": "mlops-prod-batch-scoring"})


def test_batch_scoring_runs_on_the_stages_schedule_and_on_demand(prod, staging):
    prod.has_resource_properties(
        "AWS::Events::Rule",
        {"ScheduleExpression": "cron(0 5 * * ? *)", "Targets": [Match.object_like({"Id": "Pipeline"})]},
    )
    assert not staging.find_resources("AWS::Events::Rule")  # staging has no batch_schedule
    staging.has_resource_properties("AWS::SageMaker::Pipeline", {"PipelineName": "mlops-staging-batch-scoring"})


def test_the_batch_pipeline_has_every_placeholder_filled(prod):
    pipeline = only(prod, "AWS::SageMaker::Pipeline")
    body, variables = pipeline["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"]
    assert set(re.findall(r"\$\{([^}!]+)\}", body)) - {"AWS::Region"} == set(variables)
    assert "ModelMonitorImageUri" not in variables  # no monitor job here
    json.loads(body)


def test_batch_jobs_write_only_predictions_and_their_own_artifacts(prod):
    statements = role_statements(prod, "BatchScoringJobRole")
    writes = [json.dumps(s["Resource"]) for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert len(writes) == 2
    assert any(w.endswith('/predictions/customer-churn/*"]]}') and "-curated-" in w for w in writes)
    assert any(w.endswith('/batch-scoring/*"]]}') and "-artifacts-" in w for w in writes)
    (listing,) = [s for s in statements if s["Action"] == "sagemaker:ListModelPackages"]
    assert listing["Resource"] == "*"  # the action has no resource type in IAM


def test_a_changed_setting_renames_the_endpoint_config_and_keeps_the_model(tmp_path, prod):
    # also: a fixed fleet (min = max) registers no autoscaling, the first step of an instance-type change
    overrides = {"platform.stages.prod.serving.capture_percentage": 50, "platform.stages.prod.serving.max_instances": 2}
    changed = Template.from_stack(build_platform(new_app(tmp_path, stage="prod", **overrides)).stages["prod"].serving)
    assert not changed.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")
    assert not changed.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy")

    def names(template: Template) -> tuple[str, str]:
        return (
            only(template, "AWS::SageMaker::Model")["ModelName"]["Fn::Join"][1][2],
            only(template, "AWS::SageMaker::EndpointConfig")["EndpointConfigName"]["Fn::Join"][1][2],
        )

    (model, config), (new_model, new_config) = names(prod), names(changed)
    assert new_model == model
    assert new_config != config


@pytest.mark.parametrize(
    ("rollout", "shifts"), [(Rollout("all_at_once"), 1), (Rollout("canary", 1, 10), 2), (Rollout("linear", 1, 10), 4)]
)
def test_the_update_timeout_covers_every_shift_and_bake(rollout, shifts):
    policy = rollout.blue_green_policy(max_instances=4)
    assert policy.maximum_execution_timeout_in_seconds == max(600, 1800 + shifts * rollout.bake_minutes * 60)


def test_fails_when_the_rollout_is_unknown():
    with pytest.raises(ValueError, match=r"unknown rollout 'blue'"):
        Rollout("blue").blue_green_policy(max_instances=2)


def test_fails_when_a_rollback_threshold_is_not_positive(tmp_path):
    import aws_cdk as cdk

    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "S")
    with pytest.raises(ValueError, match=r"rollback thresholds must be at least 1, got 0 errors"):
        RollbackAlarms(stack, "A", endpoint_name="e", max_5xx_errors=0, max_latency_ms=100)
