"""The decisions local mode and the AWS functions share: CloudWatch's alarm rule and the retrain guard."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ml_code.monitoring.alarm import ALARM, INSUFFICIENT_DATA, OK, AlarmRule, evaluate
from ml_code.monitoring.retrain_guard import GuardState, decide, episode_id

RULE = AlarmRule("drift", "feature_baseline_drift_", 0.1, evaluation_periods=3, datapoints_to_alarm=2)
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
COOLDOWN = timedelta(hours=12)


@pytest.mark.parametrize(
    ("datapoints", "expected"),
    [
        ([0.02, 0.03, 0.04], OK),
        ([0.02, 0.3, 0.04], OK),  # one of three breaches: not enough
        ([0.3, 0.02, 0.3], ALARM),  # two of three, not necessarily in a row
        ([0.3, 0.3, 0.02, 0.02], OK),  # only the last three periods count
        ([0.1, 0.1, 0.1], OK),  # greater than, not equal
        ([None, None, None], INSUFFICIENT_DATA),
        ([0.3], OK),  # missing periods do not breach by default
    ],
)
def test_n_of_m_periods_decide_the_state(datapoints, expected):
    assert evaluate(RULE, datapoints).value == expected


RETAIN = "retain"  # the state before the evaluation stays
# The CloudWatch user guide, "How alarm state is evaluated when data is missing": its two tables (evaluation range
# 5, evaluation periods 3), every row. Datapoints oldest first: 0 fine, X breaching, - missing; then the state for
# missing data treated as missing, ignore, breaching, notBreaching.
CLOUDWATCH_TABLES = {
    3: [  # datapoints to alarm 3 (3 of 3)
        ("0 - X - X", OK, OK, OK, OK),
        ("0 - - - -", OK, OK, OK, OK),
        ("- - - - -", INSUFFICIENT_DATA, RETAIN, ALARM, OK),
        ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
        ("- - X - -", ALARM, RETAIN, ALARM, OK),
    ],
    2: [  # datapoints to alarm 2 (2 of 3)
        ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
        ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
        ("0 - X - -", OK, OK, ALARM, OK),
        ("- - - - 0", OK, OK, ALARM, OK),
        ("- - - X -", ALARM, RETAIN, ALARM, OK),
    ],
}
VALUES = {"0": 0.0, "X": 1.0, "-": None}


@pytest.mark.parametrize(
    ("datapoints_to_alarm", "row"),
    [(m, row) for m, rows in CLOUDWATCH_TABLES.items() for row in rows],
    ids=[f"{m}of3 {row[0]}" for m, rows in CLOUDWATCH_TABLES.items() for row in rows],
)
def test_every_row_of_cloudwatchs_missing_data_tables(datapoints_to_alarm, row):
    datapoints = [VALUES[mark] for mark in row[0].split()]
    for treatment, expected in zip(("missing", "ignore", "breaching", "notBreaching"), row[1:], strict=True):
        rule = AlarmRule(
            "a", "m", 0.5, evaluation_periods=3, datapoints_to_alarm=datapoints_to_alarm, treat_missing_data=treatment
        )
        assert rule.evaluation_range == 5
        for previous in (OK, ALARM, INSUFFICIENT_DATA):
            want = previous if expected == RETAIN else expected
            assert evaluate(rule, datapoints, previous).value == want, (treatment, previous)


def test_the_user_guides_premature_alarm_examples_do_not_alarm():
    """`- - - - X` and `- - - X -` with 3 of 3: the next datapoint may be fine, so no ALARM yet."""
    rule = AlarmRule("a", "m", 0.5, evaluation_periods=3, datapoints_to_alarm=3)
    assert evaluate(rule, [None, None, None, None, 1.0]).value == OK
    assert evaluate(rule, [None, None, None, 1.0, None]).value == OK


def test_real_older_datapoints_count_before_missing_ones_are_filled():
    # the last three periods hold one breach, but the range holds three real datapoints, two of them breaching
    assert evaluate(RULE, [0.3, 0.3, None, None, 0.02]).value == ALARM
    assert evaluate(RULE, [0.3, 0.3, None, None, None, 0.02]).value == OK  # one breach left the range


def test_missing_data_can_breach_be_ignored_or_count_as_fine():
    assert evaluate(AlarmRule("a", "m", 0.1, treat_missing_data="breaching"), [None, None, 0.0]).value == ALARM
    assert evaluate(AlarmRule("a", "m", 0.1, treat_missing_data="notBreaching"), [None, None, None]).value == OK
    assert evaluate(AlarmRule("a", "m", 0.1, treat_missing_data="ignore"), [None] * 3, previous=ALARM).value == ALARM


def test_a_lower_is_worse_metric_alarms_below_its_threshold():
    rule = AlarmRule(
        "quality", "auc", 0.75, comparison="LessThanThreshold", evaluation_periods=2, datapoints_to_alarm=2
    )
    assert evaluate(rule, [0.7, 0.72]).value == ALARM
    assert evaluate(rule, [0.7, 0.8]).value == OK


def test_the_reason_names_the_datapoints_and_the_threshold():
    reason = evaluate(RULE, [0.3, None, 0.25]).reason
    assert reason == "2 of the last 3 datapoint(s) [0.3, -, 0.25] > 0.1 (alarm at 2)"


def test_fails_when_the_rule_is_inconsistent():
    with pytest.raises(ValueError, match=r"datapoints_to_alarm \(4\) must be between 1 and evaluation_periods \(3\)"):
        AlarmRule("a", "m", 0.1, evaluation_periods=3, datapoints_to_alarm=4)
    with pytest.raises(ValueError, match=r"comparison 'Above' is not one of"):
        AlarmRule("a", "m", 0.1, comparison="Above")
    with pytest.raises(ValueError, match=r"treat_missing_data 'zero' is not one of"):
        AlarmRule("a", "m", 0.1, treat_missing_data="zero")


IDLE = GuardState(running_executions=0, last_start=None, started_episodes=frozenset())


def test_a_first_alarm_starts_a_retraining():
    decision = decide(IDLE, episode="drift@1", now=NOW, cooldown=COOLDOWN)
    assert decision.start and "drift@1" in decision.reason


def test_no_start_while_an_execution_runs():
    decision = decide(
        GuardState(running_executions=1, last_start=None, started_episodes=frozenset()),
        episode="drift@1",
        now=NOW,
        cooldown=COOLDOWN,
    )
    assert not decision.start and decision.reason == "1 pipeline execution(s) still running"


def test_ten_alarm_episodes_within_an_hour_start_one_retraining():
    state, starts = IDLE, 0
    for minute in range(0, 60, 6):
        now = NOW + timedelta(minutes=minute)
        decision = decide(state, episode=episode_id("drift", now), now=now, cooldown=COOLDOWN)
        if decision.start:
            starts += 1
            state = GuardState(0, now, state.started_episodes | {episode_id("drift", now)})
        else:
            assert "in the cooldown" in decision.reason
    assert starts == 1


def test_one_episode_starts_once_even_after_the_cooldown():
    state = GuardState(0, NOW, frozenset({"drift@1"}))
    later = NOW + COOLDOWN + timedelta(minutes=1)
    decision = decide(state, episode="drift@1", now=later, cooldown=COOLDOWN)
    assert not decision.start and "already started" in decision.reason


def test_a_new_episode_after_the_cooldown_starts_again():
    state = GuardState(0, NOW, frozenset({"drift@1"}))
    assert not decide(state, episode="drift@2", now=NOW + COOLDOWN - timedelta(seconds=1), cooldown=COOLDOWN).start
    assert decide(state, episode="drift@2", now=NOW + COOLDOWN, cooldown=COOLDOWN).start


def test_fails_when_the_cooldown_is_negative():
    with pytest.raises(ValueError, match=r"the cooldown must not be negative"):
        decide(IDLE, episode="e", now=NOW, cooldown=timedelta(hours=-1))
