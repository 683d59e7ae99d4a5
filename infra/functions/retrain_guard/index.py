"""The retrain function: a drift or model-quality alarm entered ALARM; start the model build, unless the guard
(ml_code/monitoring/retrain_guard.py, the decision local mode makes too) says no. Every decision, with its reason,
is logged and told to the stage's topic. A malformed event is logged and ignored.

Environment: PIPELINE_NAME (the model build to start), COOLDOWN_HOURS, TOPIC_ARN.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config
from retrain_guard import GuardState, decide, episode_id

logger = logging.getLogger()
logger.setLevel(logging.INFO)

RETRAIN_PREFIX = "retrain-"  # the display name of every execution this function starts
RUNNING = ("Executing", "Stopping")
REASON_PARAMETER = "StartReason"


# throttling (a busy account's StartPipelineExecution) is retried with backoff before the run fails
RETRYING = Config(retries={"mode": "standard", "total_max_attempts": 6})


class MalformedEvent(ValueError):
    """Not an alarm's entry into ALARM as EventBridge delivers it."""


def handler(event: dict, context: object, *, now=lambda: datetime.now(UTC), clients=None) -> dict:
    try:
        alarm, entered_at = _alarm_entry(event)
    except MalformedEvent as error:
        logger.error("ignored a malformed event: %s", error)
        return {"started": False, "reason": f"malformed event: {error}"}
    sagemaker, sns = clients or (boto3.client("sagemaker", config=RETRYING), boto3.client("sns", config=RETRYING))
    pipeline = os.environ["PIPELINE_NAME"]
    episode = episode_id(alarm, entered_at)
    tag = display_name(episode)
    executions = _executions(sagemaker, pipeline)
    retrains = [e for e in executions if e.get("PipelineExecutionDisplayName", "").startswith(RETRAIN_PREFIX)]
    state = GuardState(
        running_executions=sum(e["PipelineExecutionStatus"] in RUNNING for e in executions),
        last_start=max((e["StartTime"] for e in retrains), default=None),
        started_episodes=frozenset(e["PipelineExecutionDisplayName"] for e in retrains),
    )
    decision = decide(state, episode=tag, now=now(), cooldown=timedelta(hours=float(os.environ["COOLDOWN_HOURS"])))
    result = {"started": decision.start, "reason": decision.reason, "alarm": alarm, "episode": episode}
    if decision.start:
        started = sagemaker.start_pipeline_execution(
            PipelineName=pipeline,
            PipelineExecutionDisplayName=tag,
            PipelineExecutionDescription=f"Retraining: {alarm} entered ALARM at {entered_at.isoformat()}",
            PipelineParameters=[{"Name": REASON_PARAMETER, "Value": f"alarm {alarm} at {entered_at.isoformat()}"}],
            ClientRequestToken=tag,  # a redelivered event starts nothing twice
        )
        result["execution"] = started["PipelineExecutionArn"]
    logger.info("retrain decision: %s", json.dumps(result))
    sns.publish(
        TopicArn=os.environ["TOPIC_ARN"], Subject=_subject(result, pipeline), Message=_message(result, pipeline)
    )
    return result


def display_name(episode: str) -> str:
    """The execution's display name for an episode: `retrain-` and 24 hex digits of its digest (32 characters, a
    valid idempotency token too)."""
    return RETRAIN_PREFIX + hashlib.sha256(episode.encode()).hexdigest()[:24]


def _alarm_entry(event: dict) -> tuple[str, datetime]:
    """(alarm name, when it entered ALARM) from a `CloudWatch Alarm State Change` event."""
    if not isinstance(event, dict) or event.get("detail-type") != "CloudWatch Alarm State Change":
        raise MalformedEvent("not a CloudWatch Alarm State Change event")
    detail = event.get("detail")
    state = detail.get("state") if isinstance(detail, dict) else None
    if not isinstance(state, dict) or state.get("value") != "ALARM" or not detail.get("alarmName"):
        raise MalformedEvent("no alarm name, or a state other than ALARM")
    try:
        entered_at = datetime.fromisoformat(str(state["timestamp"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as error:
        raise MalformedEvent(f"no readable state timestamp ({error})") from error
    return str(detail["alarmName"]), entered_at


def _executions(sagemaker, pipeline: str) -> list[dict]:
    """The pipeline's recent executions, newest first (the guard needs the running ones and its own last starts)."""
    summaries, token = [], None
    while len(summaries) < 200:
        page = sagemaker.list_pipeline_executions(
            PipelineName=pipeline,
            SortBy="CreationTime",
            SortOrder="Descending",
            **({"NextToken": token} if token else {}),
        )
        summaries += page["PipelineExecutionSummaries"]
        token = page.get("NextToken")
        if not token:
            break
    return summaries


def _subject(result: dict, pipeline: str) -> str:
    return f"{'Retraining started' if result['started'] else 'No retraining'}: {pipeline}"[:100]


def _message(result: dict, pipeline: str) -> str:
    what = f"started execution {result['execution']}" if result["started"] else "started nothing"
    return (
        f"The alarm {result['alarm']} entered ALARM; the retrain guard {what} of the pipeline {pipeline}.\n"
        f"Why: {result['reason']}.\n"
        "Look at the alarm's metrics on the stage's dashboard, and at the pipeline's executions in SageMaker Studio."
    )
