"""The trigger function against moto's Glue: starts one run per batch, hands the batch back while busy."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api import state_manager

SOURCE = Path(__file__).resolve().parents[2] / "infra" / "functions" / "start_etl" / "index.py"
JOB = "mlops-test-etl"


def load_handler():
    spec = importlib.util.spec_from_file_location("start_etl_index", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def sqs_event(*keys: str) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "body": json.dumps({"detail": {"object": {"key": key}}})}
            for i, key in enumerate(keys)
        ]
    }


@pytest.fixture()
def glue(monkeypatch):
    monkeypatch.setenv("JOB_NAME", JOB)
    with mock_aws():
        # keep started runs RUNNING (moto otherwise finishes them as soon as they are looked at)
        state_manager.set_transition(model_name="glue::job_run", transition={"progression": "manual", "times": 1000})
        client = boto3.client("glue")
        client.create_job(
            Name=JOB,
            Role="arn:aws:iam::123456789012:role/etl",
            Command={"Name": "glueetl", "ScriptLocation": "s3://code/glue_job.py"},
            ExecutionProperty={"MaxConcurrentRuns": 1},
        )
        yield client
        state_manager.unset_transition(model_name="glue::job_run")


def test_starts_one_run_for_a_batch_of_events(glue):
    result = load_handler()(sqs_event("a.jsonl", "b.json"), None)
    assert result == {"batchItemFailures": []}
    assert len(glue.get_job_runs(JobName=JOB)["JobRuns"]) == 1


def test_hands_the_batch_back_while_a_run_is_in_progress(glue):
    handler = load_handler()
    handler(sqs_event("a.jsonl"), None)
    result = handler(sqs_event("b.jsonl", "c.jsonl"), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert len(glue.get_job_runs(JobName=JOB)["JobRuns"]) == 1


def test_an_empty_batch_starts_nothing(glue):
    assert load_handler()({"Records": []}, None) == {"batchItemFailures": []}
    assert glue.get_job_runs(JobName=JOB)["JobRuns"] == []


def test_fails_when_the_job_does_not_exist(glue, monkeypatch):
    monkeypatch.setenv("JOB_NAME", "no-such-job")
    with pytest.raises(ClientError, match="EntityNotFoundException"):
        load_handler()(sqs_event("a.jsonl"), None)
