"""The local CloudWatch: monitoring runs' metrics and alarm states in `<home>/metrics.db`.

Each monitoring run is one period (a schedule runs once per period), so an alarm's datapoints are the runs'
values in order. Alarm states are kept as a history: an episode starts when an alarm enters ALARM.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ml_code.monitoring.alarm import INSUFFICIENT_DATA, AlarmState
from ml_code.monitoring.published_metrics import NAMESPACE

METRICS_FILE = "metrics.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, finished_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datapoints (
    run_id TEXT NOT NULL REFERENCES runs(run_id), namespace TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (run_id, namespace, metric)
);
CREATE TABLE IF NOT EXISTS alarm_history (
    alarm TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL, changed_at TEXT NOT NULL
);
"""


class MetricsStore:
    def __init__(self, home: Path) -> None:
        self.path = Path(home) / METRICS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def put_run(self, run_id: str, endpoint: str, finished_at: datetime, metrics: list[dict]) -> None:
        """A run and the metrics it published (PutMetricData's `MetricName`, `Dimensions`, `Value`), in one
        transaction; a metric with a dimension beyond the endpoint is stored as `<name>[<dimension>=<value>]`."""
        with self._db() as db:
            db.execute("INSERT INTO runs VALUES (?, ?, ?)", (run_id, endpoint, finished_at.isoformat()))
            db.executemany(
                "INSERT INTO datapoints VALUES (?, ?, ?, ?)",
                [(run_id, NAMESPACE, _stored_name(metric), metric["Value"]) for metric in metrics],
            )

    def last_run_end(self, endpoint: str) -> datetime | None:
        """When the endpoint's last monitoring run ended: the next window starts there."""
        with self._db() as db:
            row = db.execute("SELECT MAX(finished_at) FROM runs WHERE endpoint = ?", (endpoint,)).fetchone()
        return datetime.fromisoformat(row[0]) if row[0] else None

    def per_run(self, endpoint: str, metric: str, *, last: int) -> list[float | None]:
        """The metric's value in each of the endpoint's last runs, oldest first; None for a run that published
        none (a quiet window, an undefined metric)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT r.run_id, MAX(d.value) FROM runs r LEFT JOIN datapoints d ON d.run_id = r.run_id"
                " AND d.namespace = ? AND d.metric = ? WHERE r.endpoint = ?"
                " GROUP BY r.run_id ORDER BY r.finished_at DESC LIMIT ?",
                (NAMESPACE, metric, endpoint, last),
            ).fetchall()
        return [value for _, value in reversed(rows)]

    def alarm_state(self, alarm: str) -> tuple[str, datetime | None]:
        """The alarm's current state and when it entered it (INSUFFICIENT_DATA before its first evaluation)."""
        with self._db() as db:
            return _current_state(db, alarm)

    def set_alarm_state(self, alarm: str, state: AlarmState, at: datetime) -> bool:
        """Record the state if it changed; True when it did."""
        with self._db() as db:
            if _current_state(db, alarm)[0] == state.value:
                return False
            db.execute(
                "INSERT INTO alarm_history VALUES (?, ?, ?, ?)", (alarm, state.value, state.reason, at.isoformat())
            )
        return True


def _current_state(db: sqlite3.Connection, alarm: str) -> tuple[str, datetime | None]:
    row = db.execute(
        "SELECT state, changed_at FROM alarm_history WHERE alarm = ? ORDER BY rowid DESC LIMIT 1", (alarm,)
    ).fetchone()
    return (row[0], datetime.fromisoformat(row[1])) if row else (INSUFFICIENT_DATA, None)


def _stored_name(metric: dict) -> str:
    extra = "".join(f"[{item['Name']}={item['Value']}]" for item in metric["Dimensions"][1:])
    return f"{metric['MetricName']}{extra}"
