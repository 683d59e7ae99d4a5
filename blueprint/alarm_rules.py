"""An endpoint's monitoring alarms as rules: the one definition the MonitoringStack deploys as CloudWatch alarms and
local mode evaluates with the same rule (ml_code/monitoring/alarm.py). CDK-free.

Each alarm watches one figure a monitoring run publishes (ml_code/monitoring/published_metrics.py), with the
endpoint as its only dimension: the largest feature drift above the stage's `drift_threshold`, the contract's metric
on ground truth worse than the gate's threshold; with a fairness section in the contract, the attribution nDCG below
Clarify's 0.9 and each limited post-training bias metric outside its limits. All `alarm_datapoints` of
`alarm_evaluation_periods` runs, missing data (a quiet window, a failed run) treated as missing. The first two start
a guarded retraining (monitoring_stack.alarm_names); the others tell people, since retraining on the same data
would not make a model fairer.
"""

from __future__ import annotations

from blueprint.config import StageConfig
from blueprint.naming import attribution_drift_alarm_name, bias_alarm_name, drift_alarm_name, model_quality_alarm_name
from ml_code.contracts.contract import POST_TRAINING_METRICS, DatasetContract
from ml_code.monitoring.alarm import AlarmRule
from ml_code.monitoring.published_metrics import (
    ATTRIBUTION_NDCG,
    ATTRIBUTION_NDCG_THRESHOLD,
    LARGEST_DRIFT,
    bias_metric,
    quality_metric,
)

TREAT_MISSING_DATA = "missing"


def alarm_rules(endpoint: str, contract: DatasetContract, stage: StageConfig) -> list[AlarmRule]:
    """The endpoint's drift and model-quality alarms (and fairness ones), with the stage's settings (cdk.json)."""
    periods = {
        "evaluation_periods": stage.monitoring.alarm_evaluation_periods,
        "datapoints_to_alarm": stage.monitoring.alarm_datapoints,
        "treat_missing_data": TREAT_MISSING_DATA,
    }
    worse = "LessThanThreshold" if contract.metric.higher_is_better else "GreaterThanThreshold"
    rules = [
        AlarmRule(drift_alarm_name(endpoint), LARGEST_DRIFT, stage.monitoring.drift_threshold, **periods),
        AlarmRule(
            model_quality_alarm_name(endpoint),
            quality_metric(contract.metric.name),
            contract.metric.threshold,
            worse,
            **periods,
        ),
    ]
    if contract.fairness is not None:
        rules.append(
            AlarmRule(
                attribution_drift_alarm_name(endpoint),
                ATTRIBUTION_NDCG,
                ATTRIBUTION_NDCG_THRESHOLD,
                "LessThanThreshold",
                **periods,
            )
        )
        rules += [
            AlarmRule(bias_alarm_name(endpoint, name), bias_metric(name), 0.0, **periods)
            for name in sorted(contract.fairness.limits)
            if name in POST_TRAINING_METRICS
        ]
    return rules
