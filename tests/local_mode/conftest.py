"""Shared, real artefacts for the local-mode tests: generated churn data, the exported pipeline definition, and
approved models that the real pipeline trained."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_mode.churn_data import generate, write
from local_mode.experiments import SQLITE, TRACKING_URI_VARIABLE
from local_mode.registry import APPROVED, ModelPackage, Registry
from local_mode.runner import run_pipeline
from local_mode.serving.endpoint import EndpointSpec, LocalEndpoint, free_port, package_archive
from ml_code.contracts.contract import CONTRACTS_DIR, DatasetContract, load_contract
from tests.cli import local_mode_here


@pytest.fixture(scope="session", autouse=True)
def tracking_store(tmp_path_factory) -> Path:
    """The runs these tests make go to one MLflow store per test process: a store costs about 2 s to create, which
    a store per local home would pay again in every test. The tests of the workdir's own store unset it."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TRACKING_URI_VARIABLE, f"{SQLITE}{store}")
        yield store


@pytest.fixture(scope="session")
def churn_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "churn.csv"
    write(path, generate(4000, seed=5), fmt="csv")
    return path


@pytest.fixture(scope="session")
def definition_file(tmp_path_factory) -> Path:
    """The default config's definition, exported as `make definition` exports it."""
    folder = tmp_path_factory.mktemp("definition")
    result = local_mode_here("definition", "--contract", "customer-churn", "--output", folder)
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = folder.glob("*.json")
    return path


@pytest.fixture(scope="session")
def definition(definition_file) -> dict:
    return json.loads(definition_file.read_text())


# Contracts over the churn data for the two other problem types, so that every serving path is exercised.
OTHER_PROBLEM_TYPES = {
    "regression": {
        "name": "churn-charges",
        "problem_type": "regression",
        "target": "monthly_charges",
        "categorical": ["plan", "region", "payment_method", "churned"],
        "metric": {"name": "rmse", "threshold": 100.0},
    },
    "multiclass_classification": {
        "name": "churn-plan",
        "problem_type": "multiclass_classification",
        "target": "plan",
        "categorical": ["region", "payment_method", "churned"],
        "metric": {"name": "accuracy", "threshold": 0.3},
    },
}
CRM_COLUMNS = {
    "id_columns": ["customer_id"],
    "pii": {"drop": ["name", "email", "phone"], "hash": ["customer_id"]},
    "datetime_age": {"account_created": "account_age_days"},
    "drop": ["export_ts", "gender"],  # these contracts measure no fairness
}


@dataclass(frozen=True)
class ApprovedModel:
    home: Path
    package: ModelPackage
    contract: DatasetContract
    contract_source: str | Path  # a shipped contract's name, or the file the model was trained with


def _train_and_approve(contract_source: str | Path, data: Path, home: Path) -> ApprovedModel:
    result = run_pipeline(contract_source, data, home, log=lambda _line: None)
    assert result.registered is not None, result.failure_reason
    registry = Registry(home)
    package = registry.decide(result.registered.group, result.registered.version, APPROVED, approver="tests")
    return ApprovedModel(home, package, load_contract(contract_source), contract_source)


@pytest.fixture(scope="session")
def approved_models(tmp_path_factory, churn_csv) -> dict[str, ApprovedModel]:
    """One approved churn model per problem type, each in its own local home, trained by the real pipeline."""
    # the shipped churn contract without its fairness section: these models serve, and fairness does not change
    # what is trained (test_run.py and test_demo.py run the Clarify steps)
    churn = json.loads((CONTRACTS_DIR / "customer-churn.json").read_text())
    churn_file = tmp_path_factory.mktemp("contract") / "customer-churn.json"
    churn_file.write_text(json.dumps({key: value for key, value in churn.items() if key != "fairness"}))
    models = {"binary_classification": _train_and_approve(churn_file, churn_csv, tmp_path_factory.mktemp("home"))}
    for problem_type, contract in OTHER_PROBLEM_TYPES.items():
        contract_file = tmp_path_factory.mktemp("contract") / f"{contract['name']}.json"
        contract_file.write_text(json.dumps({**contract, **CRM_COLUMNS}))
        models[problem_type] = _train_and_approve(contract_file, churn_csv, tmp_path_factory.mktemp("home"))
    return models


def start(model: ApprovedModel, name: str, **spec) -> LocalEndpoint:
    """A local endpoint serving `model`, started (a real gunicorn server on a loopback port)."""
    archive = package_archive(model.home, model.package)
    return LocalEndpoint(EndpointSpec(name=name, model_archive=archive, port=free_port(), **spec), model.home).start()


@pytest.fixture(scope="session")
def endpoints(approved_models) -> dict[str, LocalEndpoint]:
    """One running endpoint per problem type, serving `approved_models` (one worker each: test_serve.py starts the
    endpoints whose workers it tests)."""
    running = {
        kind: start(model, f"serve-{kind.replace('_', '-')}", workers=1) for kind, model in approved_models.items()
    }
    yield running
    for endpoint in running.values():
        endpoint.stop()
