"""Shared, real artefacts for the local-mode tests: generated churn data and the exported pipeline definition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_mode.churn_data import generate, write
from tests.cli import local_mode


@pytest.fixture(scope="session")
def churn_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "churn.csv"
    write(path, generate(4000, seed=5), fmt="csv")
    return path


@pytest.fixture(scope="session")
def definition_file(tmp_path_factory) -> Path:
    """The default config's definition, exported as `make definition` exports it."""
    folder = tmp_path_factory.mktemp("definition")
    result = local_mode("definition", "--contract", "customer-churn", "--output", folder)
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = folder.glob("*.json")
    return path


@pytest.fixture(scope="session")
def definition(definition_file) -> dict:
    return json.loads(definition_file.read_text())
