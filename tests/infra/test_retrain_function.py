"""The retrain function against moto's SageMaker and SNS: the shared guard decides, the function starts at most one
retraining per episode and cooldown, none while an execution runs, and ignores what is not an alarm entering ALARM."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import sagemaker_backends

from tests.infra.functions import load_function

PIPELINE = "mlops-staging-model-build"
COOLDOWN = timedelta(hours=12)


function = load_function("retrain_guard")


def alarm_event(name: str, entered_at: datetime, state: str = "ALARM") -> dict:
    return {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "time": entered_at.isoformat(),
        "detail": {
            "alarmName": name,
            "state": {"value": state, "timestamp": entered_at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")},
            "previousState": {"value": "OK"},
        },
    }


@pytest.fixture()
def aws(monkeypatch):
    with mock_aws():
        sagemaker, sns = boto3.client("sagemaker"), boto3.client("sns")
        sagemaker.create_pipeline(
            PipelineName=PIPELINE,
            RoleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/pipeline",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        )
        topic = sns.create_topic(Name="mlops-staging-notifications")["TopicArn"]
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="told")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("PIPELINE_NAME", PIPELINE)
        monkeypatch.setenv("COOLDOWN_HOURS", str(COOLDOWN.total_seconds() / 3600))
        monkeypatch.setenv("TOPIC_ARN", topic)

        def told() -> list[str]:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(message["Body"])["Message"] for message in messages]

        yield sagemaker, sns, told


def run(aws, event: dict, now: datetime) -> dict:
    sagemaker, sns, _ = aws
    return function.handler(event, None, now=lambda: now, clients=(sagemaker, sns))


def executions(sagemaker) -> list[dict]:
    return sagemaker.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]


def set_status(status: str) -> None:
    """What moto cannot do by itself: an execution that is still running (moto's finish at once)."""
    pipeline = sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].pipelines[PIPELINE]
    for execution in pipeline.pipeline_executions.values():
        execution.pipeline_execution_status = status


def test_ten_alarms_within_an_hour_start_at_most_one_execution(aws):
    start = datetime.now(UTC)
    results = [
        run(
            aws,
            alarm_event(f"mlops-prod-customer-churn-{kind}", start + timedelta(minutes=6 * i)),
            start + timedelta(minutes=6 * i),
        )
        for i, kind in enumerate(["drift", "model-quality"] * 5)
    ]
    assert [r["started"] for r in results].count(True) == 1 and results[0]["started"]
    (execution,) = executions(aws[0])
    assert execution["PipelineExecutionDisplayName"] == function.display_name(results[0]["episode"])
    assert all("in the cooldown" in r["reason"] for r in results[1:])


def test_the_start_records_why_and_tells_the_topic(aws):
    entered = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    result = run(aws, alarm_event("mlops-prod-customer-churn-drift", entered), entered)
    described = aws[0].list_pipeline_parameters_for_execution(PipelineExecutionArn=result["execution"])
    assert described["PipelineParameters"] == [
        {"Name": "StartReason", "Value": "alarm mlops-prod-customer-churn-drift at 2026-11-23T01:00:00+00:00"}
    ]
    (message,) = aws[2]()
    assert "entered ALARM; the retrain guard started execution" in message and "Why:" in message


def test_none_while_an_execution_is_running(aws):
    start = datetime.now(UTC)
    first = run(aws, alarm_event("mlops-prod-customer-churn-drift", start), start)
    set_status("Executing")
    later = start + COOLDOWN + timedelta(hours=1)  # past the cooldown, but the run goes on
    result = run(aws, alarm_event("mlops-prod-customer-churn-drift", later), later)
    assert first["started"] and not result["started"]
    assert result["reason"] == "1 pipeline execution(s) still running"
    assert len(executions(aws[0])) == 1


def test_one_after_the_cooldown_and_one_per_episode(aws):
    start = datetime.now(UTC)
    run(aws, alarm_event("mlops-prod-customer-churn-drift", start), start)
    later = start + COOLDOWN + timedelta(minutes=1)
    again = run(aws, alarm_event("mlops-prod-customer-churn-drift", start), later)  # the same episode, redelivered
    assert not again["started"] and "already started a retraining" in again["reason"]
    new_episode = run(aws, alarm_event("mlops-prod-customer-churn-drift", later), later)
    assert new_episode["started"]
    assert len(executions(aws[0])) == 2


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"detail-type": "Glue Job State Change", "detail": {}},
        alarm_event("mlops-prod-customer-churn-drift", datetime.now(UTC), state="OK"),
        {"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "x", "state": {"value": "ALARM"}}},
        {"detail-type": "CloudWatch Alarm State Change", "detail": "not an object"},
    ],
)
def test_a_malformed_event_is_logged_and_ignored(aws, event, caplog):
    result = run(aws, event, datetime.now(UTC))
    assert not result["started"] and result["reason"].startswith("malformed event")
    assert "ignored a malformed event" in caplog.text
    assert executions(aws[0]) == [] and aws[2]() == []


def test_throttling_is_retried_with_backoff_by_the_functions_clients():
    assert load_function("retrain_guard").RETRYING.retries == {"mode": "standard", "total_max_attempts": 6}
