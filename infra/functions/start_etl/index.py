"""Starts the ETL job for a batch of `Object Created` events (SQS batch from EventBridge).

The job processes every raw file no earlier run has processed, so one run serves the whole batch. When a
run is already going it may have listed the files before these arrived: the batch is then handed back to
the queue and retried after its visibility timeout.
"""

from __future__ import annotations

import json
import logging
import os

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

BUSY = "ConcurrentRunsExceededException"


def handler(event: dict, context: object) -> dict:
    records = event.get("Records", [])
    if not records:
        return {"batchItemFailures": []}
    job_name = os.environ["JOB_NAME"]
    glue = boto3.client("glue")
    keys = [_object_key(record) for record in records]
    try:
        run_id = glue.start_job_run(JobName=job_name)["JobRunId"]
    except ClientError as error:
        if error.response["Error"]["Code"] != BUSY:
            raise
        logger.info("job %s is running; %d event(s) will be retried", job_name, len(records))
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records]}
    logger.info("started %s run %s for %d event(s), e.g. %s", job_name, run_id, len(records), keys[:3])
    return {"batchItemFailures": []}


def _object_key(record: dict) -> str:
    """The S3 key an event names (for the log); a scheduled event has none."""
    try:
        return json.loads(record["body"])["detail"]["object"]["key"]
    except (KeyError, TypeError, ValueError):
        return "(no object: scheduled run)"
