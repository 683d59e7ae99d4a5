"""`local_mode score`: the batch-scoring definition on the local executor, with models the real pipeline trained."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from local_mode.registry import Registry
from local_mode.scoring import run_batch_scoring
from ml_code.contracts.contract import load_contract
from tests.cli import local_mode_here
from tests.curated import write_curated


@pytest.fixture(scope="module")
def curated(churn_csv, tmp_path_factory):
    """The churn data as the ETL curates it for a contract."""

    def of(contract_source) -> Path:
        contract = load_contract(contract_source)
        return write_curated(churn_csv, contract, tmp_path_factory.mktemp(contract.name) / "part-0.csv")

    return of


@pytest.fixture(scope="module")
def curated_csv(curated):
    return curated("customer-churn")


COLUMNS = {
    "binary_classification": ["customer_id", "probability", "label"],
    "multiclass_classification": [
        "customer_id",
        "label",
        "probability_basic",
        "probability_premium",
        "probability_standard",
    ],
    "regression": ["customer_id", "value"],
}


@pytest.mark.parametrize("problem_type", sorted(COLUMNS))
def test_scores_every_record_with_the_newest_approved_model(approved_models, curated, problem_type):
    model = approved_models[problem_type]
    curated_csv = curated(model.contract_source)
    scoring = run_batch_scoring(model.contract_source, curated_csv, model.home, log=lambda _line: None)
    assert scoring.execution.status == "Succeeded", scoring.execution.failure_reason
    assert scoring.summary["model_package_arn"] == model.package.arn
    (predictions,) = scoring.predictions.glob("*.csv")
    scored = pd.read_csv(predictions, dtype={"customer_id": str})
    assert list(scored.columns) == COLUMNS[problem_type]
    assert scored["customer_id"].tolist() == pd.read_csv(curated_csv, dtype=str)["customer_id"].tolist()
    assert scoring.summary["records"] == len(scored)


def test_the_cli_fails_with_the_reason_when_nothing_is_approved(approved_models, curated_csv, tmp_path):
    model = approved_models["binary_classification"]
    Registry(tmp_path).create_group(model.package.group)
    result = local_mode_here("score", "--contract", "customer-churn", "--data", curated_csv, "--workdir", tmp_path)
    assert result.returncode == 1
    assert f"model package group {model.package.group} has no Approved package" in result.stderr


def test_the_cli_says_what_it_scored_and_where(approved_models, curated_csv):
    model = approved_models["binary_classification"]
    result = local_mode_here("score", "--contract", "customer-churn", "--data", curated_csv, "--workdir", model.home)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"scored 4000 records in 1 file(s) with {model.package.arn} -> {model.home}" in result.stdout
