"""A CloudWatch metric alarm's state, computed as CloudWatch computes it: M of the last N datapoints breaching.

The rules are the CloudWatch user guide's "How alarm state is evaluated when data is missing": the alarm looks at
an evaluation range wider than N periods; with at least N real datapoints there it judges the most recent N real
ones (older real datapoints come before any missing one is filled); with fewer it fills the shortfall as the
rule treats missing data, and it goes to ALARM early only when the oldest breaching datapoint of the last N periods
is at least M periods old and nothing newer is fine. tests/ml_code/test_alarm_and_retrain_guard.py holds it to
every row of that section's tables.

Pure and standard-library only: local mode evaluates its alarms with it, and the alarm thresholds the
monitoring stack deploys are the same `AlarmRule` values, so a rule behaves the same on a laptop and on AWS.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARISONS = {  # CloudWatch's ComparisonOperator -> (test, how a reason writes it)
    "GreaterThanThreshold": (operator.gt, ">"),
    "GreaterThanOrEqualToThreshold": (operator.ge, ">="),
    "LessThanThreshold": (operator.lt, "<"),
    "LessThanOrEqualToThreshold": (operator.le, "<="),
}
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")
# How many periods beyond N CloudWatch reads (its user guide's examples: a range of 5 for 3 evaluation periods; it
# depends on the period and the metric's resolution, and AWS publishes no formula).
EXTRA_PERIODS_IN_RANGE = 2


@dataclass(frozen=True)
class AlarmRule:
    """CloudWatch's alarm settings: ALARM when `datapoints_to_alarm` of the last `evaluation_periods` breach."""

    name: str
    metric: str
    threshold: float
    comparison: str = "GreaterThanThreshold"
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 2
    treat_missing_data: str = "missing"

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"alarm {self.name}: comparison {self.comparison!r} is not one of {list(COMPARISONS)}")
        if self.treat_missing_data not in TREAT_MISSING:
            raise ValueError(
                f"alarm {self.name}: treat_missing_data {self.treat_missing_data!r} is not one of {list(TREAT_MISSING)}"
            )
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError(
                f"alarm {self.name}: datapoints_to_alarm ({self.datapoints_to_alarm}) must be between 1 and "
                f"evaluation_periods ({self.evaluation_periods})"
            )

    def breaches(self, value: float) -> bool:
        return COMPARISONS[self.comparison][0](value, self.threshold)

    @property
    def evaluation_range(self) -> int:
        """How many of the most recent periods an evaluation reads."""
        return self.evaluation_periods + EXTRA_PERIODS_IN_RANGE


@dataclass(frozen=True)
class AlarmState:
    value: str
    reason: str


def evaluate(rule: AlarmRule, datapoints: Sequence[float | None], previous: str = INSUFFICIENT_DATA) -> AlarmState:
    """The state after a period: `datapoints` are the metric's values per period, oldest first (None: no data), of
    which the last `rule.evaluation_range` count. `previous` is kept where missing data is to be ignored."""
    window = list(datapoints)[-rule.evaluation_range :]
    real = [value for value in window if value is not None]
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    if not real:
        state = {"missing": INSUFFICIENT_DATA, "ignore": previous, "breaching": ALARM, "notBreaching": OK}
        return AlarmState(
            state[rule.treat_missing_data], f"no datapoints in the last {rule.evaluation_range} period(s)"
        )
    if len(real) >= n:  # enough real datapoints: the most recent N of them, whatever is missing in between
        judged = real[-n:]
        breaching = sum(map(rule.breaches, judged))
        return _state(rule, breaching, judged, ALARM if breaching >= m else OK)
    # fewer than N: every real datapoint of the range, the shortfall filled as the rule treats missing data
    breaching = sum(map(rule.breaches, real)) + (n - len(real) if rule.treat_missing_data == "breaching" else 0)
    if breaching >= m:
        return _state(rule, breaching, window, ALARM)
    if rule.treat_missing_data in ("missing", "ignore") and len(real) < m and _breaching_long_enough(rule, window):
        state = ALARM if rule.treat_missing_data == "missing" else previous
        return _state(rule, breaching, window, state, early=True)
    return _state(rule, breaching, window, OK)


def _breaching_long_enough(rule: AlarmRule, window: list[float | None]) -> bool:
    """CloudWatch's rule against a premature ALARM: in the last N periods, the oldest breaching datapoint is at least
    M periods old and every newer one breaches or is missing."""
    recent = ([None] * rule.evaluation_periods + window)[-rule.evaluation_periods :]
    breaching_ages = [
        len(recent) - index for index, value in enumerate(recent) if value is not None and rule.breaches(value)
    ]
    if not breaching_ages:
        return False
    oldest = max(breaching_ages)
    newer = recent[len(recent) - oldest + 1 :]
    return oldest >= rule.datapoints_to_alarm and all(value is None or rule.breaches(value) for value in newer)


def _state(rule: AlarmRule, breaching: int, judged: list[float | None], state: str, early: bool = False) -> AlarmState:
    described = ", ".join("-" if value is None else f"{value:.4g}" for value in judged)
    reason = (
        f"{breaching} of the last {rule.evaluation_periods} datapoint(s) [{described}] "
        f"{COMPARISONS[rule.comparison][1]} {rule.threshold:g} (alarm at {rule.datapoints_to_alarm})"
    )
    if early:
        reason += f"; a breach {rule.datapoints_to_alarm} or more periods old with nothing fine since"
    return AlarmState(state, reason)
