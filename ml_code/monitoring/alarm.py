"""A CloudWatch metric alarm's state, computed as CloudWatch computes it: N of the last M periods breaching.

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


@dataclass(frozen=True)
class AlarmState:
    value: str
    reason: str


def evaluate(rule: AlarmRule, datapoints: Sequence[float | None], previous: str = INSUFFICIENT_DATA) -> AlarmState:
    """The state after a period: `datapoints` are the metric's values per period, oldest first (None: no data);
    the last `evaluation_periods` of them count. `previous` is kept when missing data is to be ignored."""
    window = list(datapoints)[-rule.evaluation_periods :]
    window = [None] * (rule.evaluation_periods - len(window)) + window
    present = [value for value in window if value is not None]
    if not present and rule.treat_missing_data in ("missing", "ignore"):
        state = previous if rule.treat_missing_data == "ignore" else INSUFFICIENT_DATA
        return AlarmState(state, f"no datapoints in the last {rule.evaluation_periods} period(s)")
    missing_breaches = rule.treat_missing_data == "breaching"
    breaching = sum(missing_breaches if value is None else rule.breaches(value) for value in window)
    described = ", ".join("-" if value is None else f"{value:.4g}" for value in window)
    reason = (
        f"{breaching} of the last {rule.evaluation_periods} datapoint(s) [{described}] "
        f"{COMPARISONS[rule.comparison][1]} {rule.threshold:g}"
        f" (alarm at {rule.datapoints_to_alarm})"
    )
    return AlarmState(ALARM if breaching >= rule.datapoints_to_alarm else OK, reason)
