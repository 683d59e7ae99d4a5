"""An endpoint's monitoring alarms as rules: the one definition the MonitoringStack deploys as CloudWatch alarms and
local mode evaluates with the same rule (ml_code/monitoring/alarm.py). CDK-free.

Each alarm watches one figure a monitoring run publishes (ml_code/monitoring/published_metrics.py), with the
endpoint as its only dimension: the largest feature drift above the stage's `drift_threshold`, the contract's metric
on ground truth worse than the gate's threshold; both `alarm_datapoints` of `alarm_evaluation_periods` runs, missing
data (a quiet window, a failed run) treated as missing.
"""

from __future__ import annotations

from infra.config import StageConfig
from infra.naming import drift_alarm_name, model_quality_alarm_name
from ml_code.contracts.contract import DatasetContract
from ml_code.monitoring.alarm import AlarmRule
from ml_code.monitoring.published_metrics import LARGEST_DRIFT, quality_metric

TREAT_MISSING_DATA = "missing"


def alarm_rules(endpoint: str, contract: DatasetContract, stage: StageConfig) -> list[AlarmRule]:
    """The endpoint's drift and model-quality alarms, with the stage's settings (cdk.json)."""
    periods = {
        "evaluation_periods": stage.alarm_evaluation_periods,
        "datapoints_to_alarm": stage.alarm_datapoints,
        "treat_missing_data": TREAT_MISSING_DATA,
    }
    worse = "LessThanThreshold" if contract.metric.higher_is_better else "GreaterThanThreshold"
    return [
        AlarmRule(drift_alarm_name(endpoint), LARGEST_DRIFT, stage.drift_threshold, **periods),
        AlarmRule(
            model_quality_alarm_name(endpoint),
            quality_metric(contract.metric.name),
            contract.metric.threshold,
            worse,
            **periods,
        ),
    ]
