"""The local retrain guard: when an alarm fires, decide with the shared rule (ml_code/monitoring/retrain_guard.py)
and keep every decision, with its reason, in `<home>/retrain.db`, as the AWS function logs its own."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from local_mode.executor import EXECUTIONS_DIR, RECORD_FILE, process_started
from local_mode.records import DamagedRecord, read_json
from ml_code.monitoring.retrain_guard import GuardDecision, GuardState, decide, episode_id

logger = logging.getLogger(__name__)

RETRAIN_FILE = "retrain.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    decided_at TEXT NOT NULL, alarm TEXT NOT NULL, episode TEXT NOT NULL, started INTEGER NOT NULL,
    reason TEXT NOT NULL, execution_id TEXT
);
"""


def running_executions(home: Path, pipeline_name: str) -> list[str]:
    """The executions of the pipeline that are still running (their process is alive)."""
    running = []
    for record_file in sorted((Path(home) / EXECUTIONS_DIR).glob(f"*/{RECORD_FILE}")):
        try:
            record = read_json(record_file)
        except DamagedRecord as error:  # written whole since; one damaged before cannot say it is running
            logger.warning("%s: not counted as running; delete %s once that run is over", error, record_file.parent)
            continue
        if record["pipeline_name"] == pipeline_name and record["status"] == "Executing" and _alive(record):
            running.append(record["execution_id"])
    return running


def _alive(record: dict) -> bool:
    """Whether the process that runs the execution still does: its id is alive and, where the record says when it
    started, the process with that id is the one that started then (a killed run's id may have been given again)."""
    pid = record.get("pid")
    if not pid:
        return False
    started = record.get("process_started")
    if started is not None and process_started(pid) not in (None, started):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that id: alive
        return True
    return True


class RetrainGuard:
    def __init__(self, home: Path, pipeline_name: str, cooldown: timedelta) -> None:
        self.home, self.pipeline_name, self.cooldown = Path(home), pipeline_name, cooldown
        self.path = self.home / RETRAIN_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path, timeout=30) as db:
            db.executescript(_SCHEMA)
        db.close()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")  # one decision at a time, across processes
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def on_alarm(self, alarm: str, entered_alarm_at: datetime, now: datetime) -> GuardDecision:
        """Decide for one ALARM event and record the decision (a start is recorded before the run begins, so a
        second alarm meanwhile sees it)."""
        episode = episode_id(alarm, entered_alarm_at)
        with self._db() as db:
            starts = db.execute("SELECT decided_at, episode FROM decisions WHERE started = 1").fetchall()
            state = GuardState(
                running_executions=len(running_executions(self.home, self.pipeline_name)),
                last_start=max((datetime.fromisoformat(at) for at, _ in starts), default=None),
                started_episodes=frozenset(started for _, started in starts),
            )
            decision = decide(state, episode=episode, now=now, cooldown=self.cooldown)
            db.execute(
                "INSERT INTO decisions (decided_at, alarm, episode, started, reason) VALUES (?, ?, ?, ?, ?)",
                (now.isoformat(), alarm, episode, int(decision.start), decision.reason),
            )
        logger.info("retrain guard: %s (%s)", "start" if decision.start else "no start", decision.reason)
        return decision

    def record_execution(self, episode_alarm: str, execution_id: str) -> None:
        """Link the latest start for `episode_alarm` to the execution it began."""
        with self._db() as db:
            db.execute(
                "UPDATE decisions SET execution_id = ? WHERE rowid = (SELECT MAX(rowid) FROM decisions"
                " WHERE alarm = ? AND started = 1)",
                (execution_id, episode_alarm),
            )

    def decisions(self) -> list[dict]:
        with self._db() as db:
            rows = db.execute(
                "SELECT decided_at, alarm, episode, started, reason, execution_id FROM decisions"
            ).fetchall()
        keys = ("decided_at", "alarm", "episode", "started", "reason", "execution_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]
