"""The local retrain guard: the shared decision, with the state it reads from local mode and a log of every call."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from local_mode.executor import EXECUTIONS_DIR, RECORD_FILE
from local_mode.retrain import RetrainGuard, running_executions

PIPELINE = "mlops-dev-model-build"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def execution_record(home, execution_id: str, status: str, pid: int, started: str | None = None) -> None:
    folder = home / EXECUTIONS_DIR / execution_id
    folder.mkdir(parents=True)
    record = {"execution_id": execution_id, "pipeline_name": PIPELINE, "status": status, "pid": pid}
    record |= {"process_started": started} if started else {}
    (folder / RECORD_FILE).write_text(json.dumps(record))


def test_ten_alarms_within_an_hour_start_one_retraining_and_every_decision_is_logged(tmp_path):
    guard = RetrainGuard(tmp_path, PIPELINE, timedelta(hours=12))
    decisions = [
        guard.on_alarm("drift", NOW + timedelta(minutes=6 * n), NOW + timedelta(minutes=6 * n)) for n in range(10)
    ]
    assert sum(d.start for d in decisions) == 1 and decisions[0].start
    logged = guard.decisions()
    assert len(logged) == 10 and [row["started"] for row in logged] == [1] + [0] * 9
    assert all(row["reason"] for row in logged)


def test_no_start_while_a_run_is_in_progress_and_a_dead_run_does_not_block(tmp_path):
    guard = RetrainGuard(tmp_path, PIPELINE, timedelta(hours=12))
    execution_record(tmp_path, "running", "Executing", os.getpid())
    decision = guard.on_alarm("drift", NOW, NOW)
    assert not decision.start and "still running" in decision.reason
    assert running_executions(tmp_path, PIPELINE) == ["running"]
    (tmp_path / EXECUTIONS_DIR / "running" / RECORD_FILE).unlink()
    execution_record(tmp_path, "killed", "Executing", 2**22 + 12345)  # no such process: it was killed
    assert running_executions(tmp_path, PIPELINE) == []
    assert guard.on_alarm("drift", NOW, NOW + timedelta(minutes=1)).start


def test_a_damaged_execution_record_is_named_and_does_not_stop_every_decision(tmp_path, caplog):
    guard = RetrainGuard(tmp_path, PIPELINE, timedelta(hours=12))
    execution_record(tmp_path, "cut-short", "Executing", os.getpid())
    record = tmp_path / EXECUTIONS_DIR / "cut-short" / RECORD_FILE
    record.write_text(record.read_text()[:30])
    assert running_executions(tmp_path, PIPELINE) == []
    assert f"{record} is damaged (" in caplog.text and f"delete {record.parent} once that run is over" in caplog.text
    assert guard.on_alarm("drift", NOW, NOW).start


def test_a_start_after_the_cooldown(tmp_path):
    guard = RetrainGuard(tmp_path, PIPELINE, timedelta(hours=12))
    assert guard.on_alarm("drift", NOW, NOW).start
    assert not guard.on_alarm("drift", NOW + timedelta(hours=2), NOW + timedelta(hours=2)).start
    later = NOW + timedelta(hours=12, minutes=1)
    assert guard.on_alarm("drift", later, later).start
    guard.record_execution("drift", "exec-2")
    assert guard.decisions()[-1]["execution_id"] == "exec-2"


def test_an_execution_is_recorded_as_running_while_it_runs(tmp_path, definition_file, churn_csv):
    from local_mode.definition import read_definition
    from local_mode.runner import run_pipeline

    seen = []

    def log(line: str) -> None:
        if "Preprocess" in line and "started" in line:
            seen.append(running_executions(tmp_path, PIPELINE))

    result = run_pipeline("customer-churn", churn_csv, tmp_path, definition=read_definition(definition_file), log=log)
    assert seen == [[result.execution_id]]
    assert running_executions(tmp_path, PIPELINE) == []


def test_a_killed_runs_id_given_to_another_process_does_not_block_retraining(tmp_path):
    from local_mode.executor import process_started

    guard = RetrainGuard(tmp_path, PIPELINE, timedelta(hours=12))
    mine = process_started(os.getpid())
    assert mine is not None  # Linux: /proc tells when a process started
    execution_record(tmp_path, "alive", "Executing", os.getpid(), started=mine)
    assert running_executions(tmp_path, PIPELINE) == ["alive"]
    (tmp_path / EXECUTIONS_DIR / "alive" / RECORD_FILE).unlink()
    # a run killed long ago, whose process id this very process got again: not the same process
    execution_record(tmp_path, "reused", "Executing", os.getpid(), started=str(int(mine) - 1))
    assert running_executions(tmp_path, PIPELINE) == []
    assert guard.on_alarm("drift", NOW, NOW).start
