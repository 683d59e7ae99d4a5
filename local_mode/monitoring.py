"""`local_mode monitor`: one run of the monitoring pipeline the MonitoringStack deploys, its metrics, its alarms.

The monitoring definition (blueprint/pipeline/monitoring_definition.py, built with the local stage's settings) runs on
the local executor over the local monitoring bucket, where `serve` captures and ground truth is uploaded: the window
is the time since the endpoint's last run (at most a day, the monitoring job's lookback), and the package is the one
served (local mode has no endpoint to ask). The run's `cloudwatch_metrics.json` is published to the local metrics
store with the checks the AWS publishing function makes (ml_code/monitoring/published_metrics.py), and the
endpoint's alarms (blueprint/alarm_rules.py, what the stack deploys) are evaluated with the rule CloudWatch applies
(ml_code/monitoring/alarm.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from blueprint.alarm_rules import alarm_rules
from blueprint.naming import MONITORING_REPORTS
from local_mode.definition import build_local_monitoring_definition
from local_mode.deployment import MONITORING_BUCKET
from local_mode.executor import ExecutionResult
from local_mode.experiments import log_local_execution, monitoring_reports, tracked
from local_mode.local_s3 import S3_DIR, LocalS3
from local_mode.metrics import MetricsStore
from local_mode.registry import ModelPackage
from local_mode.runner import deployed_executor
from local_mode.serving.endpoint import check_endpoint_name
from ml_code.contracts.contract import load_contract
from ml_code.monitoring.alarm import ALARM, AlarmRule, AlarmState, evaluate
from ml_code.monitoring.published_metrics import (
    ATTRIBUTION_NDCG,
    BIAS_PREFIX,
    FEATURE_DRIFT,
    REPORT_FILE,
    put_requests,
)
from ml_code.monitoring.served_model import LOOKBACK
from ml_code.paths import (
    GROUND_TRUTH_PREFIX,
    MODEL_QUALITY_DIR,
    MONITORING_REPORTS_OUTPUT,
    SERVED_MODEL_FILE,
    SERVED_MODEL_OUTPUT,
    STATISTICS_FILE,
    VIOLATIONS_FILE,
)
from tracking import MONITORING

# <home>/s3/local-monitoring/groundtruth/<endpoint>/yyyy/mm/dd/hh/*.jsonl: the monitoring bucket, as on AWS
GROUND_TRUTH_DIR = f"{S3_DIR}/{MONITORING_BUCKET}/{GROUND_TRUTH_PREFIX}"
MAX_WINDOW = LOOKBACK  # a first run (or one after a long pause) reads the last day, not every capture ever


class MonitoringFailed(RuntimeError):
    """The monitoring pipeline's run failed; the message says which step and why."""


@dataclass(frozen=True)
class AlarmOutcome:
    rule: AlarmRule
    state: AlarmState
    changed: bool
    entered_at: datetime | None  # when the alarm entered its current state

    @property
    def fired(self) -> bool:
        """The alarm entered ALARM in this evaluation: what starts an EventBridge rule on AWS."""
        return self.changed and self.state.value == ALARM


@dataclass(frozen=True)
class MonitorResult:
    execution: ExecutionResult
    output: Path | None  # the run's reports (none when the window captured nothing)
    records: int
    violations: list[dict]
    drift: dict[str, float]
    model_quality: dict | None
    attribution_ndcg: float | None  # with a fairness section in the contract
    bias_outside_limits: dict[str, float]
    alarms: list[AlarmOutcome]


def run_monitor(
    home: Path,
    *,
    endpoint: str,
    package: ModelPackage,
    contract_source: str | Path,
    stage,
    start: datetime | None = None,
    end: datetime | None = None,
    python: str | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> MonitorResult:
    """Run the monitoring pipeline over the traffic captured in [start, end) (default: since the endpoint's last run,
    at most MAX_WINDOW, until now), publish its metrics and evaluate the endpoint's alarms."""
    home = Path(home).resolve()
    check_endpoint_name(endpoint)
    contract = load_contract(contract_source)
    store = MetricsStore(home)
    end = end or _next_whole_second()
    start = start or max(store.last_run_end(endpoint) or end - MAX_WINDOW, end - MAX_WINDOW)
    executor = deployed_executor(
        contract_source, build_local_monitoring_definition(contract), home, python=python, log=log
    )
    execution = executor.start(
        {
            "EndpointName": endpoint,
            "ModelPackageArn": package.arn,
            "WindowStart": start.isoformat(),
            "WindowEnd": end.isoformat(),
        }
    )
    tracked(
        f"monitoring run {execution.execution_id}",
        lambda: log_local_execution(home, execution.arn, monitoring_reports(endpoint), MONITORING),
    )
    if execution.status != "Succeeded":
        raise MonitoringFailed(
            f"monitoring run {execution.execution_id} of {endpoint} failed: {execution.failure_reason}"
        )
    s3 = LocalS3(home)
    run = s3.path(f"s3://{MONITORING_BUCKET}/{MONITORING_REPORTS}/{endpoint}/{execution.execution_id}")
    served = json.loads((run / SERVED_MODEL_OUTPUT / SERVED_MODEL_FILE).read_text())
    reports = run / MONITORING_REPORTS_OUTPUT
    report = reports / REPORT_FILE
    published = []
    if report.is_file():  # the window captured something: the monitoring job ran
        published = [
            datum
            for request in put_requests(json.loads(report.read_text()), endpoint)
            for datum in request["MetricData"]
        ]
    store.put_run(execution.execution_id, endpoint, datetime.fromisoformat(served["window_end"]), published)
    quality_file = reports / MODEL_QUALITY_DIR / STATISTICS_FILE
    statistics_file = reports / STATISTICS_FILE
    return MonitorResult(
        execution=execution,
        output=reports if report.is_file() else None,
        records=json.loads(statistics_file.read_text())["dataset"]["item_count"] if statistics_file.is_file() else 0,
        violations=json.loads((reports / VIOLATIONS_FILE).read_text())["violations"]
        if (reports / VIOLATIONS_FILE).is_file()
        else [],
        drift={
            datum["Dimensions"][1]["Value"]: datum["Value"]
            for datum in published
            if datum["MetricName"] == FEATURE_DRIFT
        },
        model_quality=json.loads(quality_file.read_text()) if quality_file.is_file() else None,
        attribution_ndcg=next((d["Value"] for d in published if d["MetricName"] == ATTRIBUTION_NDCG), None),
        bias_outside_limits={
            d["MetricName"].removeprefix(BIAS_PREFIX): d["Value"]
            for d in published
            if d["MetricName"].startswith(BIAS_PREFIX)
        },
        alarms=[evaluate_alarm(store, rule, endpoint, end) for rule in alarm_rules(endpoint, contract, stage)],
    )


def _next_whole_second() -> datetime:
    """The next whole second, once it has come: captured requests carry whole seconds, as AWS writes them, so a
    window that ends there holds every request answered before the run began."""
    now = datetime.now(timezone.utc)
    end = now.replace(microsecond=0) + timedelta(seconds=1)
    time.sleep((end - now).total_seconds())
    return end


def input_columns(home: Path, package: ModelPackage) -> list[str]:
    """The model's input columns, as its data-quality baseline (the training split's features) names them."""
    uri = package.drift_check_baselines["ModelDataQuality"]["Statistics"]["S3Uri"]
    return [feature["name"] for feature in json.loads(LocalS3(home).path(uri).read_text())["features"]]


def evaluate_alarm(store: MetricsStore, rule: AlarmRule, endpoint: str, at: datetime) -> AlarmOutcome:
    previous, _ = store.alarm_state(rule.name)
    datapoints = store.per_run(endpoint, rule.metric, last=rule.evaluation_range)
    state = evaluate(rule, datapoints, previous)
    changed = store.set_alarm_state(rule.name, state, at)
    return AlarmOutcome(rule, state, changed, store.alarm_state(rule.name)[1])
