"""Local mode run from the wrong environment says which one to use and how to make it (runs in .venv-ml)."""

from __future__ import annotations

import pytest

from tests.cli import local_mode


def test_run_without_the_sdk_names_the_environment_and_the_make_targets(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    result = local_mode("run", "--contract", "customer-churn", "--data", data, "--workdir", tmp_path)
    assert result.returncode == 1
    assert "building the pipeline definition needs the CDK app's environment" in result.stderr
    assert "`make venv`" in result.stderr and "`make definition`" in result.stderr


def test_etl_without_spark_names_the_environment_and_the_make_target(tmp_path):
    result = local_mode(
        "etl", "--contract", "customer-churn", "--input", tmp_path, "--output", tmp_path / "out", "--hash-key", "k"
    )
    assert result.returncode == 1
    assert "the ETL needs pyspark, in the CDK app's environment: `make venv`" in result.stderr


def test_a_missing_ml_environment_names_its_make_target(monkeypatch, tmp_path):
    import local_mode.jobs

    monkeypatch.setattr(local_mode.jobs, "ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match="run `make venv-ml`"):
        local_mode.jobs.default_python()
