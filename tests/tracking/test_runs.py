"""A run described as data: what `log_run` refuses before it writes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracking.runs import RunRecord


def test_fails_when_an_artifact_would_change_its_files_name(tmp_path):
    with pytest.raises(ValueError, match=r"run 'r': artifacts keep their file's name, not so \['reports/b.json'\]"):
        RunRecord(key="k", kind="trial", name="r", artifacts={"reports/b.json": Path(tmp_path / "a.json")})


def test_fails_when_the_status_is_not_an_ended_runs():
    with pytest.raises(ValueError, match=r"run 'r': status 'RUNNING' is not one of FINISHED, FAILED, KILLED"):
        RunRecord(key="k", kind="trial", name="r", status="RUNNING")
