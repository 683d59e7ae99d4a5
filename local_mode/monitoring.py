"""`local_mode monitor`: one monitoring run of an endpoint's captured traffic, its metrics, and its alarms.

The run is ml_code/monitoring/monitor.py in the ML environment (as Model Monitor runs its container), against
the drift baselines registered with the served model package. Its metrics go to the local metrics store, and
the endpoint's alarms are evaluated with the rule CloudWatch applies (ml_code/monitoring/alarm.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from infra.naming import GROUND_TRUTH, drift_alarm_name, model_quality_alarm_name
from local_mode import ml_processes
from local_mode.jobs import default_python, failure_reason, python_path
from local_mode.local_s3 import LocalS3
from local_mode.metrics import MetricsStore
from local_mode.registry import ModelPackage
from local_mode.serving.endpoint import CAPTURE_DIR, check_endpoint_name
from ml_code.contracts.contract import DatasetContract
from ml_code.monitoring.alarm import ALARM, AlarmRule, AlarmState, evaluate
from ml_code.monitoring.monitor import (
    DATA_NAMESPACE,
    DRIFT_METRIC_PREFIX,
    METRICS_FILE,
    MODEL_NAMESPACE,
    MODEL_QUALITY_DIR,
    VIOLATIONS_FILE,
)
from ml_code.paths import ENDPOINT_VARIANT, STATISTICS_FILE

MONITORING_DIR = "monitoring"
GROUND_TRUTH_DIR = GROUND_TRUTH  # <home>/groundtruth/<endpoint>/yyyy/mm/dd/hh/*.jsonl, as in the monitoring bucket
# A run reads at most this much of the past: since the endpoint's last run, or for its first run (or after a long
# pause) the last day, never everything since the first capture.
MAX_WINDOW = timedelta(days=1)


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
    run_id: str
    output: Path
    records: int
    violations: list[dict]
    drift: dict[str, float]
    model_quality: dict | None
    alarms: list[AlarmOutcome]


def alarm_rules(endpoint: str, contract: DatasetContract, stage) -> list[AlarmRule]:
    """The endpoint's drift and model-quality alarms, with the stage's thresholds (cdk.json)."""
    periods = {"evaluation_periods": stage.alarm_evaluation_periods, "datapoints_to_alarm": stage.alarm_datapoints}
    worse = "LessThanThreshold" if contract.metric.higher_is_better else "GreaterThanThreshold"
    return [
        AlarmRule(drift_alarm_name(endpoint), DRIFT_METRIC_PREFIX, stage.drift_threshold, **periods),
        AlarmRule(
            model_quality_alarm_name(endpoint), contract.metric.name, contract.metric.threshold, worse, **periods
        ),
    ]


def _namespace(rule: AlarmRule) -> str:
    return DATA_NAMESPACE if rule.metric == DRIFT_METRIC_PREFIX else MODEL_NAMESPACE


def run_monitor(
    home: Path,
    *,
    endpoint: str,
    package: ModelPackage,
    contract: DatasetContract,
    stage,
    start: datetime | None = None,
    end: datetime | None = None,
    python: str | None = None,
) -> MonitorResult:
    """Monitor the traffic captured in [start, end) (default: since the endpoint's last run, at most MAX_WINDOW, until
    now)."""
    home = Path(home).resolve()
    check_endpoint_name(endpoint)
    store = MetricsStore(home)
    end = end or datetime.now(timezone.utc)
    start = start or max(store.last_run_end(endpoint) or end - MAX_WINDOW, end - MAX_WINDOW)
    run_id = end.strftime("%Y%m%dt%H%M%S%f")
    output = home / MONITORING_DIR / endpoint / run_id
    baselines = package.drift_check_baselines["ModelDataQuality"]
    s3 = LocalS3(home)
    env = {
        **os.environ,
        "PYTHONPATH": python_path(),
        "dataset_source": str(home / CAPTURE_DIR / endpoint / ENDPOINT_VARIANT),
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "baseline_statistics": str(s3.path(baselines["Statistics"]["S3Uri"])),
        "baseline_constraints": str(s3.path(baselines["Constraints"]["S3Uri"])),
        "output_path": str(output),
        "ground_truth_source": str(home / GROUND_TRUTH_DIR / endpoint),
        "problem_type": contract.problem_type,
        **({"positive_label": str(contract.positive_label)} if contract.positive_label is not None else {}),
    }
    failure = output / "failure"
    log = output / "model_monitor.log"
    returncode = ml_processes.run(
        [python or default_python(), "-m", "ml_code.monitoring.monitor", f"--failure-file={failure}"],
        env=env,
        cwd=output,
        log=log,
    )
    if returncode != 0:
        raise RuntimeError(f"monitoring run {run_id} of {endpoint} failed: {failure_reason(failure, log)}")
    metrics = json.loads((output / METRICS_FILE).read_text())
    store.put_run(run_id, endpoint, end, metrics)
    quality_file = output / MODEL_QUALITY_DIR / STATISTICS_FILE
    return MonitorResult(
        run_id=run_id,
        output=output,
        records=_records_monitored(output),
        violations=json.loads((output / VIOLATIONS_FILE).read_text())["violations"],
        drift={
            m["MetricName"].removeprefix(DRIFT_METRIC_PREFIX): m["Value"]
            for m in metrics
            if m["Namespace"] == DATA_NAMESPACE
        },
        model_quality=json.loads(quality_file.read_text()) if quality_file.is_file() else None,
        alarms=[evaluate_alarm(store, rule, endpoint, end) for rule in alarm_rules(endpoint, contract, stage)],
    )


def input_columns(home: Path, package: ModelPackage) -> list[str]:
    """The model's input columns, as its data-quality baseline (the training split's features) names them."""
    uri = package.drift_check_baselines["ModelDataQuality"]["Statistics"]["S3Uri"]
    return [feature["name"] for feature in json.loads(LocalS3(home).path(uri).read_text())["features"]]


def _records_monitored(output: Path) -> int:
    return json.loads((output / STATISTICS_FILE).read_text())["dataset"]["item_count"]


def evaluate_alarm(store: MetricsStore, rule: AlarmRule, endpoint: str, at: datetime) -> AlarmOutcome:
    previous, _ = store.alarm_state(rule.name)
    datapoints = store.per_run(endpoint, _namespace(rule), rule.metric, last=rule.evaluation_range)
    state = evaluate(rule, datapoints, previous)
    changed = store.set_alarm_state(rule.name, state, at)
    return AlarmOutcome(rule, state, changed, store.alarm_state(rule.name)[1])
