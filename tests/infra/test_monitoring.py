"""Monitoring on AWS: Model Monitor's schedules on the monitored endpoint (prod), their alarms, the stage topics
every alarm tells, the alerts, a dashboard per stage, and the guarded retraining's rule on exactly our alarms."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra.naming import drift_alarm_name, model_quality_alarm_name
from ml_code.contracts.contract import load_contract
from ml_code.paths import DRIFT_METRIC_PREFIX
from tests.infra.synth import role_statements

ENDPOINT = "mlops-prod-customer-churn"


@pytest.fixture(scope="module")
def prod_serving(platform) -> Template:
    return platform.template(platform.stacks["prod"].serving)


@pytest.fixture(scope="module")
def monitoring(platform) -> dict[str, Template]:
    return {name: platform.template(stacks.monitoring) for name, stacks in platform.stacks.items()}


def only(template: Template, kind: str) -> dict:
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


def approved_package_id(template: Template) -> str:
    (logical_id,) = template.find_resources("Custom::ApprovedModelPackage")
    return logical_id


def test_data_quality_runs_hourly_on_the_captured_traffic_against_the_packages_baselines(prod_serving):
    job = only(prod_serving, "AWS::SageMaker::DataQualityJobDefinition")
    check = approved_package_id(prod_serving)
    baselines = job["DataQualityBaselineConfig"]
    assert baselines["StatisticsResource"]["S3Uri"] == {"Fn::GetAtt": [check, "DataQualityStatistics"]}
    assert baselines["ConstraintsResource"]["S3Uri"] == {"Fn::GetAtt": [check, "DataQualityConstraints"]}
    assert job["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == ENDPOINT  # its capture, by endpoint
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert "KmsKeyId" in job["DataQualityJobOutputConfig"]
    assert "VolumeKmsKeyId" in job["JobResources"]["ClusterConfig"]
    (check_resource,) = prod_serving.find_resources("Custom::ApprovedModelPackage").values()
    assert check_resource["Properties"]["RequireDriftBaselines"] == "true"  # no baselines, no deployment
    schedules = {
        s["Properties"]["MonitoringScheduleName"]: s["Properties"]["MonitoringScheduleConfig"]
        for s in prod_serving.find_resources("AWS::SageMaker::MonitoringSchedule").values()
    }
    assert set(schedules) == {
        f"{ENDPOINT}-data-quality",
        f"{ENDPOINT}-model-quality",
        f"{ENDPOINT}-model-bias",  # the contract has a fairness section: test_fairness_monitoring.py
        f"{ENDPOINT}-model-explainability",
    }
    assert {s["ScheduleConfig"]["ScheduleExpression"] for s in schedules.values()} == {"cron(0 * ? * * *)"}
    assert schedules[f"{ENDPOINT}-data-quality"]["MonitoringType"] == "DataQuality"


def test_model_quality_merges_ground_truth_with_the_captured_answers_as_the_contracts_problem(prod_serving):
    job = only(prod_serving, "AWS::SageMaker::ModelQualityJobDefinition")
    assert job["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    endpoint = job["ModelQualityJobInput"]["EndpointInput"]
    assert endpoint["ProbabilityAttribute"] == "predictions[0].probability"
    assert endpoint["ProbabilityThresholdAttribute"] == 0.5
    ground_truth = json.dumps(job["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"])
    assert ground_truth.endswith(f'/groundtruth/{ENDPOINT}"]]}}')
    assert job["NetworkConfig"]["EnableNetworkIsolation"] is True


def test_the_monitors_read_only_their_endpoints_data_and_write_their_own_reports(prod_serving):
    statements = role_statements(prod_serving, "ModelMonitorRole")
    by_action = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in statements}
    reads = " ".join(json.dumps(s["Resource"]) for s in statements if s["Action"] == "s3:GetObject")
    for prefix in (
        f"/datacapture/{ENDPOINT}/*",
        f"/groundtruth/{ENDPOINT}/*",
        "/pipelines/mlops-staging-model-build/*/baseline/*",
    ):
        assert prefix in reads, prefix
    assert by_action['"s3:PutObject"'].endswith(f'/monitoring-reports/{ENDPOINT}/*"]]}}')
    assert not [s for s in statements if s["Action"] in ("s3:*", "*")]


def test_the_alarms_watch_the_monitors_metrics_with_the_configured_thresholds(platform, prod_serving):
    prod = platform.stacks["prod"].stage
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in prod_serving.find_resources("AWS::CloudWatch::Alarm").values()
    }
    drift = alarms[drift_alarm_name(ENDPOINT)]
    assert drift["Threshold"] == prod.drift_threshold
    assert (drift["EvaluationPeriods"], drift["DatapointsToAlarm"]) == (
        prod.alarm_evaluation_periods,
        prod.alarm_datapoints,
    )
    contract = load_contract("customer-churn")
    features = {
        query["MetricStat"]["Metric"]["MetricName"].removeprefix(DRIFT_METRIC_PREFIX)
        for query in drift["Metrics"]
        if "MetricStat" in query
    }
    assert features == set(contract.feature_columns(contract.curated_columns))  # every feature's drift, at most
    (expression,) = [q for q in drift["Metrics"] if "Expression" in q]
    assert expression["Expression"].startswith("MAX([") and expression["ReturnData"] is True
    quality = alarms[model_quality_alarm_name(ENDPOINT)]
    assert (quality["MetricName"], quality["Threshold"]) == ("auc", 0.75)
    assert quality["ComparisonOperator"] == "LessThanThreshold"  # auc: higher is better
    assert quality["Namespace"] == "aws/sagemaker/Endpoints/model-metrics"


def test_every_alarm_tells_its_stages_topic(platform):
    checked = 0
    for name, stacks in platform.stacks.items():
        topic = f"mlops-{name}-notifications"
        for stack in stacks.all():
            for alarm in platform.template(stack).find_resources("AWS::CloudWatch::Alarm").values():
                actions = json.dumps(alarm["Properties"].get("AlarmActions", []))
                assert topic in actions or "Notifications" in actions, (stack.stack_name, alarm["Properties"])
                checked += 1
    assert checked >= 3 * 1 + 2 * 2 + 2  # dead letters per stage, rollback alarms per serving stage, prod's monitors


def test_each_stage_has_an_encrypted_topic_with_its_subscribers(platform):
    for name, stacks in platform.stacks.items():
        data = platform.template(stacks.data)
        topic = only(data, "AWS::SNS::Topic")
        assert topic["TopicName"] == f"mlops-{name}-notifications"
        assert "KmsMasterKeyId" in topic


def test_failed_runs_and_models_waiting_for_approval_reach_the_topic(monitoring):
    rules = [r["Properties"] for r in monitoring["dev"].find_resources("AWS::Events::Rule").values()]
    patterns = {json.dumps(r["EventPattern"], sort_keys=True) for r in rules}
    assert any('"FAILED"' in p and "mlops-dev-etl" in p for p in patterns)
    assert any('"Failed"' in p and "mlops-dev-model-build" in p for p in patterns)
    assert any("PendingManualApproval" in p and "mlops-dev-customer-churn" in p for p in patterns)
    assert all("mlops-dev-notifications" in json.dumps(r["Targets"]) for r in rules)


def test_a_dashboard_per_stage_with_the_endpoint_and_monitors_where_there_are(monitoring):
    bodies = {}
    for name, template in monitoring.items():
        dashboard = only(template, "AWS::CloudWatch::Dashboard")
        assert dashboard["DashboardName"] == f"mlops-{name}"
        bodies[name] = json.dumps(dashboard["DashboardBody"])
    assert "Invocations" not in bodies["dev"] and "ExecutionFailed" in bodies["dev"]
    assert "ModelLatency" in bodies["staging"] and DRIFT_METRIC_PREFIX not in bodies["staging"]
    for metric in ("Invocations", "ModelLatency", "Invocation5XXErrors", "CPUUtilization", "MemoryUtilization"):
        assert metric in bodies["prod"], metric
    assert DRIFT_METRIC_PREFIX in bodies["prod"] and "glue.driver.aggregate.recordsRead" in bodies["prod"]


def test_a_retraining_that_fails_every_time_is_told_to_the_topic_not_dropped(monitoring):
    staging = monitoring["staging"]
    (rule,) = [
        r["Properties"]
        for r in staging.find_resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.cloudwatch"]
    ]
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 7200}
    (invoke_config,) = staging.find_resources("AWS::Lambda::EventInvokeConfig").values()
    properties = invoke_config["Properties"]
    assert properties["MaximumRetryAttempts"] == 2
    topic = properties["DestinationConfig"]["OnFailure"]["Destination"]
    assert "mlops-staging-notifications" in json.dumps(topic)


def test_the_retrain_rule_lists_exactly_our_drift_and_quality_alarms(platform, monitoring, prod_serving):
    # the release stage (staging) retrains; its rule names the monitored endpoints' alarms as they are named
    (rule,) = [
        r["Properties"]
        for r in monitoring["staging"].find_resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.cloudwatch"]
    ]
    defined = {
        a["Properties"]["AlarmName"]
        for a in prod_serving.find_resources("AWS::CloudWatch::Alarm").values()
        if not a["Properties"]["AlarmName"].endswith(("rollback-5xx", "rollback-latency"))
    }
    assert (
        set(rule["EventPattern"]["detail"]["alarmName"])
        == defined
        == {
            f"{ENDPOINT}-feature-drift",
            f"{ENDPOINT}-model-quality",
        }
    )
    assert rule["EventPattern"]["detail"]["state"] == {"value": ["ALARM"]}
    assert not [
        r
        for r in monitoring["prod"].find_resources("AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.cloudwatch"]
    ]  # one guard: where the models come from
    function = only(monitoring["staging"], "AWS::Lambda::Function")
    variables = function["Environment"]["Variables"]
    assert variables["PIPELINE_NAME"] == "mlops-staging-model-build"
    assert variables["COOLDOWN_HOURS"] == str(platform.stacks["staging"].stage.retrain_cooldown_hours)
    statements = role_statements(monitoring["staging"], "RetrainRole")
    actions = {json.dumps(s["Action"]) for s in statements}
    assert '["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"]' in actions


def test_alarms_travel_to_the_release_stage_in_another_region_of_the_same_account(tmp_path):
    """The retrain guard lives with the release stage (staging, eu-west-1); prod monitors in us-east-1 of the same
    account, so its alarms must cross regions (EventBridge keeps events in their region)."""
    from infra.platform import build_platform
    from tests.infra.synth import new_app

    account = "111111111111"
    app = new_app(
        tmp_path,
        stage="prod",
        **{
            "platform.stages.staging.account": account,
            "platform.stages.staging.region": "eu-west-1",
            "platform.stages.prod.account": account,
            "platform.stages.prod.region": "us-east-1",
        },
    )
    monitoring = Template.from_stack(build_platform(app).stages["prod"].monitoring)
    (forward,) = monitoring.find_resources(
        "AWS::Events::Rule", {"Properties": {"Description": Match.string_like_regexp("^Forward")}}
    ).values()
    assert f"events:eu-west-1:{account}:event-bus/default" in json.dumps(forward["Properties"]["Targets"])
    assert forward["Properties"]["EventPattern"]["detail"]["alarmName"] == [
        "mlops-prod-customer-churn-feature-drift",
        "mlops-prod-customer-churn-model-quality",
    ]
