"""Training starts on new rows only: the ETL's announcement, delivered by moto's EventBridge through the model
build's own rule pattern, and the Glue role that may put only its own source's events."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from infra.constructs.training_pipeline import new_rows_pattern
from ml_code.etl.announce import announce_new_rows
from tests.infra.synth import role_statements

SOURCE, JOB = "mlops-dev.etl", "mlops-dev-etl"


def manifest(written: int) -> dict:
    return {
        "run_id": "jr_1",
        "contract": "customer-churn",
        "counts": {"read": 10, "written": written, "quarantined": 10 - written, "duplicates": 0},
        "outputs": {"curated": "s3://curated/data/customer-churn/ingest_date=2026-11-22/run=jr_1"} if written else {},
    }


@pytest.fixture()
def delivered():
    """Events that match the model build's start rule, as EventBridge delivers them (to a queue here)."""
    with mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        queue = sqs.create_queue(QueueName="starts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="start-training", EventPattern=json.dumps(new_rows_pattern(SOURCE, JOB)))
        events.put_targets(Rule="start-training", Targets=[{"Id": "queue", "Arn": arn}])

        def received() -> list[dict]:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(message["Body"]) for message in messages]

        yield events, received


def test_a_run_that_wrote_rows_starts_training(delivered):
    events, received = delivered
    assert announce_new_rows(events, manifest(7), source=SOURCE, job_name=JOB)
    (event,) = received()
    assert event["detail"] == {
        "jobName": JOB,
        "runId": "jr_1",
        "contract": "customer-churn",
        "written": 7,
        "curated": "s3://curated/data/customer-churn/ingest_date=2026-11-22/run=jr_1",
    }


def test_a_run_that_wrote_nothing_starts_nothing(delivered):
    events, received = delivered
    assert not announce_new_rows(events, manifest(0), source=SOURCE, job_name=JOB)
    assert received() == []


def test_another_jobs_or_sources_rows_start_nothing(delivered):
    events, received = delivered
    announce_new_rows(events, manifest(3), source="mlops-prod.etl", job_name=JOB)
    announce_new_rows(events, manifest(3), source=SOURCE, job_name="another-etl")
    assert received() == []


def test_the_glue_role_puts_only_its_own_sources_events_on_the_default_bus(platform):
    data = platform.template(platform.stacks["dev"].data)
    statements = role_statements(data, "EtlRole")
    (put,) = [s for s in statements if s["Action"] == "events:PutEvents"]
    assert put["Condition"] == {"StringEquals": {"events:source": SOURCE}}
    assert json.dumps(put["Resource"]).endswith(':event-bus/default"]]}')
    (job,) = data.find_resources("AWS::Glue::Job").values()
    assert job["Properties"]["DefaultArguments"]["--events_source"] == SOURCE
