"""Monitoring on AWS: the monitored endpoint's (prod's) monitoring pipeline on its schedule, the function that
publishes its runs' metrics, the alarms on exactly those metrics, the stage topics every alarm tells, the alerts, a
dashboard per stage, and the guarded retraining's rule on exactly our alarms."""

from __future__ import annotations

import fnmatch
import json
from datetime import UTC, datetime

import pytest
from aws_cdk.assertions import Match, Template

from blueprint.alarm_rules import alarm_rules
from blueprint.naming import MONITORING_REPORTS, drift_alarm_name, model_quality_alarm_name
from ml_code.contracts.contract import load_contract
from ml_code.monitoring.published_metrics import LARGEST_DRIFT, NAMESPACE, REPORT_FILE, metrics_report
from ml_code.paths import MONITORING_REPORTS_OUTPUT
from tests.infra.synth import role_statements

ENDPOINT = "mlops-prod-customer-churn"
CHURN = load_contract("customer-churn")


@pytest.fixture(scope="module")
def prod_serving(platform) -> Template:
    return platform.template(platform.stacks["prod"].serving)


@pytest.fixture(scope="module")
def monitoring(platform) -> dict[str, Template]:
    return {name: platform.template(stacks.monitoring) for name, stacks in platform.stacks.items()}


def only(template: Template, kind: str) -> dict:
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


def rules_by_description(template: Template, start: str) -> list[dict]:
    return [
        rule["Properties"]
        for rule in template.find_resources("AWS::Events::Rule").values()
        if rule["Properties"].get("Description", "").startswith(start)
    ]


def test_the_schedule_starts_the_monitoring_pipeline_with_the_endpoint_and_window(platform, monitoring):
    prod = monitoring["prod"]
    pipeline = only(prod, "AWS::SageMaker::Pipeline")
    assert pipeline["PipelineName"] == f"{ENDPOINT}-monitoring"
    (schedule,) = rules_by_description(prod, f"Monitor {ENDPOINT}")
    assert schedule["ScheduleExpression"] == platform.stacks["prod"].stage.monitoring.schedule
    (target,) = schedule["Targets"]
    assert f"pipeline/{ENDPOINT}-monitoring" in json.dumps(target["Arn"])
    parameters = target["SageMakerPipelineParameters"]["PipelineParameterList"]
    assert {p["Name"]: p["Value"] for p in parameters} == {
        "EndpointName": ENDPOINT,
        "WindowHours": str(platform.stacks["prod"].stage.monitoring.window_hours),
    }
    for name in ("dev", "staging"):  # not monitored: no pipeline, no alarms of their own
        assert not monitoring[name].find_resources("AWS::SageMaker::Pipeline")


def test_the_monitoring_jobs_read_only_their_endpoints_data_and_write_their_own_reports(monitoring):
    prod = monitoring["prod"]
    statements = role_statements(prod, "MonitoringPipelineJobRole")
    reads = " ".join(json.dumps(s["Resource"]) for s in statements if s["Action"] == "s3:GetObject")
    for prefix in (
        f"/datacapture/{ENDPOINT}/*",
        f"/groundtruth/{ENDPOINT}/*",
        "/pipelines/mlops-staging-model-build/*/baseline/*",
    ):
        assert prefix in reads, prefix
    writes = [json.dumps(s["Resource"]) for s in statements if s["Action"] == "s3:PutObject"]
    assert writes and all(f"/{MONITORING_REPORTS}/{ENDPOINT}/*" in w for w in writes)
    assert not [s for s in statements if s["Action"] in ("s3:*", "*")]
    finder = role_statements(prod, "MonitoringPipelineFinderRole")
    actions = {a for s in finder for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"sagemaker:DescribeEndpoint", "sagemaker:DescribeModel", "sagemaker:DescribeModelPackage"} <= actions
    finder_reads = " ".join(json.dumps(s["Resource"]) for s in finder if s["Action"] == "s3:GetObject")
    assert "/datacapture/" not in finder_reads and "/groundtruth/" not in finder_reads  # it lists, never reads


def test_the_serving_stack_has_no_monitor_but_serves_only_packages_with_baselines(prod_serving):
    (check_resource,) = prod_serving.find_resources("Custom::ApprovedModelPackage").values()
    assert check_resource["Properties"]["RequireDriftBaselines"] == "true"  # the monitoring pipeline reads them
    kinds = {resource["Type"] for resource in prod_serving.to_json()["Resources"].values()}
    assert not {kind for kind in kinds if "Monitoring" in kind or "JobDefinition" in kind}


def test_the_alarms_watch_exactly_what_the_publisher_puts(platform, monitoring):
    """One source of truth: each alarm's namespace, metric and dimensions are a datum the monitoring job reports
    for the endpoint, which the publishing function may put (its namespace condition), with the stage's rule."""
    prod = monitoring["prod"]
    stage = platform.stacks["prod"].stage
    report = metrics_report(
        ENDPOINT,
        datetime.now(UTC),
        drift={feature: 0.0 for feature in CHURN.feature_columns(CHURN.curated_columns)},
        quality={CHURN.metric.name: 0.8},
        attribution=1.0,
        bias={"DPPL": 0.0},
    )
    published = {(d["MetricName"], json.dumps(d["Dimensions"], sort_keys=True)) for d in report["MetricData"]}
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for a in prod.find_resources("AWS::CloudWatch::Alarm").values()
    }
    rules = {rule.name: rule for rule in alarm_rules(ENDPOINT, CHURN, stage)}
    assert (
        set(alarms)
        == set(rules)
        == {
            drift_alarm_name(ENDPOINT),
            model_quality_alarm_name(ENDPOINT),
            f"{ENDPOINT}-attribution-drift",  # the churn contract has a fairness section
            f"{ENDPOINT}-bias-dppl",  # the post-training metric it limits (DPL is the model build's)
        }
    )
    for name, alarm in alarms.items():
        rule = rules[name]
        assert alarm["Namespace"] == NAMESPACE
        assert (alarm["MetricName"], json.dumps(alarm["Dimensions"], sort_keys=True)) in published
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (rule.threshold, rule.comparison)
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (
            stage.monitoring.alarm_evaluation_periods,
            stage.monitoring.alarm_datapoints,
            "missing",
        )
        assert alarm["Period"] == 3600 * stage.monitoring.window_hours
    assert alarms[drift_alarm_name(ENDPOINT)]["MetricName"] == LARGEST_DRIFT
    assert alarms[model_quality_alarm_name(ENDPOINT)]["ComparisonOperator"] == "LessThanThreshold"  # auc
    attribution = alarms[f"{ENDPOINT}-attribution-drift"]
    assert (attribution["Threshold"], attribution["ComparisonOperator"]) == (0.9, "LessThanThreshold")
    assert (alarms[f"{ENDPOINT}-bias-dppl"]["Threshold"], alarms[f"{ENDPOINT}-bias-dppl"]["MetricName"]) == (
        0.0,
        "BiasOutsideLimits_DPPL",
    )
    (put,) = [s for s in role_statements(prod, "MetricsPublisherRole") if s["Action"] == "cloudwatch:PutMetricData"]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}


def test_the_publisher_hears_of_exactly_the_reports_the_pipeline_writes(platform, monitoring):
    prod = monitoring["prod"]
    (rule,) = rules_by_description(prod, "Publish a monitoring run's metrics")
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    (wildcard,) = pattern["detail"]["object"]["key"]
    written = f"{MONITORING_REPORTS}/{ENDPOINT}/execution-id/{MONITORING_REPORTS_OUTPUT}/{REPORT_FILE}"
    assert fnmatch.fnmatchcase(written, wildcard["wildcard"])
    assert not fnmatch.fnmatchcase(written.replace(ENDPOINT, "someone-else"), wildcard["wildcard"])
    data = platform.template(platform.stacks["prod"].data)
    monitoring_bucket = [b for b in data.find_resources("AWS::S3::Bucket").values() if "Monitoring" in json.dumps(b)]
    assert any(
        b["Properties"].get("NotificationConfiguration", {}).get("EventBridgeConfiguration") for b in monitoring_bucket
    )


def test_every_alarm_tells_its_stages_topic(platform):
    checked = 0
    for name, stacks in platform.stacks.items():
        topic = f"mlops-{name}-notifications"
        for stack in stacks.all():
            for alarm in platform.template(stack).find_resources("AWS::CloudWatch::Alarm").values():
                actions = json.dumps(alarm["Properties"].get("AlarmActions", []))
                assert topic in actions or "Notifications" in actions, (stack.stack_name, alarm["Properties"])
                checked += 1
    assert checked >= 3 * 1 + 2 * 2 + 2  # dead letters per stage, rollback alarms per serving stage, prod's monitoring


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
    assert "ModelLatency" in bodies["staging"] and LARGEST_DRIFT not in bodies["staging"]
    for metric in ("Invocations", "ModelLatency", "Invocation5XXErrors", "CPUUtilization", "MemoryUtilization"):
        assert metric in bodies["prod"], metric
    assert LARGEST_DRIFT in bodies["prod"] and "FeatureDrift" in bodies["prod"] and NAMESPACE in bodies["prod"]
    assert f"{ENDPOINT}-monitoring" in bodies["prod"] and "glue.driver.aggregate.recordsRead" in bodies["prod"]
    assert "AttributionNDCG" in bodies["prod"] and "BiasOutsideLimits_DPPL" in bodies["prod"]


def test_a_retraining_that_fails_every_time_is_told_to_the_topic_not_dropped(monitoring):
    staging = monitoring["staging"]
    (rule,) = [
        r["Properties"]
        for r in staging.find_resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]
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
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]
    ]
    defined = {
        a["Properties"]["AlarmName"] for a in monitoring["prod"].find_resources("AWS::CloudWatch::Alarm").values()
    }
    retraining = {f"{ENDPOINT}-feature-drift", f"{ENDPOINT}-model-quality"}
    assert set(rule["EventPattern"]["detail"]["alarmName"]) == retraining <= defined
    assert defined - retraining == {f"{ENDPOINT}-attribution-drift", f"{ENDPOINT}-bias-dppl"}  # they tell people
    assert rule["EventPattern"]["detail"]["state"] == {"value": ["ALARM"]}
    assert not [
        r
        for r in monitoring["prod"].find_resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.cloudwatch"]
    ]  # one guard: where the models come from
    (function,) = [
        f["Properties"]
        for f in monitoring["staging"].find_resources("AWS::Lambda::Function").values()
        if "PIPELINE_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    variables = function["Environment"]["Variables"]
    assert variables["PIPELINE_NAME"] == "mlops-staging-model-build"
    assert variables["COOLDOWN_HOURS"] == str(platform.stacks["staging"].stage.monitoring.retrain_cooldown_hours)
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
