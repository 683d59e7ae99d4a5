"""Shared, real artefacts for the ml_code tests: generated churn data, its preprocessed splits, a trained model."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_mode.churn_data import generate, write
from ml_code.contracts.contract import DatasetContract, load_contract
from ml_code.processing.preprocess import preprocess
from ml_code.training.train import Hyperparameters, train

ROWS = 3000


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config) -> None:
    """End the test process with its exit status once pytest is done, without C++'s exit-time teardown: pyarrow
    22.0.0 (the container's) can leave a CSV reader that failed early waiting on its own task group (apache/arrow
    GH-48741, fixed in later releases), and its thread pool's teardown then waits forever: the process printed
    its summary and never exited."""
    status = getattr(config, "_exit_status", None)
    if status is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(status))


def pytest_sessionfinish(session, exitstatus) -> None:
    session.config._exit_status = exitstatus


@dataclass(frozen=True)
class Prepared:
    contract: DatasetContract
    raw_csv: Path
    base: Path  # the processing base with the outputs of preprocessing


@pytest.fixture(scope="session")
def churn_contract() -> DatasetContract:
    return load_contract("customer-churn")


@pytest.fixture(scope="session")
def churn_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("raw") / "churn.csv"
    write(path, generate(ROWS, seed=11), fmt="csv")
    return path


@pytest.fixture(scope="session")
def churn_prepared(tmp_path_factory, churn_csv, churn_contract) -> Prepared:
    base = tmp_path_factory.mktemp("processing")
    preprocess(churn_csv.parent, base, churn_contract, seed=42)
    return Prepared(contract=churn_contract, raw_csv=churn_csv, base=base)


@pytest.fixture(scope="session")
def churn_model_dir(tmp_path_factory, churn_prepared) -> Path:
    model_dir = tmp_path_factory.mktemp("model")
    base = churn_prepared.base
    logging.disable(logging.INFO)  # 100s of round lines add nothing to a failing test's output
    try:
        train(base / "train", base / "validation", base / "transform", model_dir, Hyperparameters(num_round=120))
    finally:
        logging.disable(logging.NOTSET)
    return model_dir
