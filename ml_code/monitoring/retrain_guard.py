"""Whether an alarm may start a retraining: the one decision the AWS retrain function and local mode share.

Pure and standard-library only. A start is refused while an execution of the pipeline runs, within the
cooldown after the last start, and when this alarm episode (an alarm entering ALARM once) already started one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class GuardState:
    """What the guard knows when an alarm fires."""

    running_executions: int
    last_start: datetime | None  # the last retraining this guard started
    started_episodes: frozenset[str]  # the alarm episodes that already started one


@dataclass(frozen=True)
class GuardDecision:
    start: bool
    reason: str


def episode_id(alarm_name: str, entered_alarm_at: datetime) -> str:
    """One episode per entry into ALARM: the alarm's name and the time of the state change."""
    return f"{alarm_name}@{entered_alarm_at.isoformat()}"


def decide(state: GuardState, *, episode: str, now: datetime, cooldown: timedelta) -> GuardDecision:
    """Start a retraining for `episode` at `now`, or say why not."""
    if cooldown < timedelta(0):
        raise ValueError(f"the cooldown must not be negative, got {cooldown}")
    if state.running_executions > 0:
        return GuardDecision(False, f"{state.running_executions} pipeline execution(s) still running")
    if episode in state.started_episodes:
        return GuardDecision(False, f"alarm episode {episode} already started a retraining")
    if state.last_start is not None and now - state.last_start < cooldown:
        remaining = state.last_start + cooldown - now
        return GuardDecision(
            False, f"in the cooldown: the last retraining started at {state.last_start.isoformat()}, {remaining} left"
        )
    return GuardDecision(True, f"alarm episode {episode}: no execution running and no start within {cooldown}")
