"""Publishes a monitoring run's metrics: on the `Object Created` event of its `cloudwatch_metrics.json` (the job that
writes it is network-isolated and cannot call CloudWatch), the report's metrics go to CloudWatch with
`PutMetricData`, as published_metrics.py (shared with the job and the alarms) defines them.

The endpoint is the one the report's key names (a run's role writes under its own endpoint's prefix only); a report
that names another endpoint, another namespace or an unknown metric is refused whole and the invocation fails, so
that EventBridge retries and then the event is kept on the failure topic, never silently dropped.
"""

from __future__ import annotations

import json
import logging
import os

import boto3
from published_metrics import endpoint_of, put_requests

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event: dict, context: object) -> dict:
    bucket = event["detail"]["bucket"]["name"]
    key = event["detail"]["object"]["key"]
    return publish(boto3.client("s3"), boto3.client("cloudwatch"), bucket, key, os.environ["REPORTS_PREFIX"])


def publish(s3, cloudwatch, bucket: str, key: str, reports_prefix: str) -> dict:
    """Put the metrics of the report at `s3://bucket/key`; returns what was published."""
    endpoint = endpoint_of(key, reports_prefix)
    report = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    requests = put_requests(report, endpoint)
    for request in requests:
        cloudwatch.put_metric_data(**request)
    published = sum(len(request["MetricData"]) for request in requests)
    logger.info("published %d metric(s) of %s for %s", published, key, endpoint)
    return {"endpoint": endpoint, "metrics": published}
