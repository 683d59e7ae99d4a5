"""Experiment tracking: local pipeline runs (gate passed and failed), a tuning run with its trials and a monitoring
run, logged by the code the AWS logging build runs (tracking/) to a real MLflow tracking server on loopback, and
read back through MLflow's client: every figure equal to the report it came from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from mlflow import MlflowClient

from local_mode.churn_data import generate
from local_mode.definition import local_stage
from local_mode.experiments import (
    TRACKING_URI_VARIABLE,
    log_local_execution,
    model_build_reports,
    tracking_client,
    ui_command,
)
from local_mode.local_s3 import LocalS3
from local_mode.monitoring import GROUND_TRUTH_DIR, input_columns, run_monitor
from local_mode.registry import APPROVED, Registry
from local_mode.runner import run_pipeline
from local_mode.serving.endpoint import EndpointSpec, LocalEndpoint, free_port, package_archive
from local_mode.traffic import send_records, write_ground_truth
from local_mode.tune import tune, tuning_experiment
from ml_code.contracts.contract import load_contract
from ml_code.training.search_space import Range
from tests.mlflow_server import tracking_server
from tracking import MODEL_BUILD
from tracking.executions import COMMIT_TAG, FAILURE_TAG, PACKAGE_TAG, VERSION_TAG
from tracking.runs import KEY_TAG, KIND_TAG, PARENT_TAG

pytestmark = pytest.mark.xdist_group("mlflow")
CONTRACT = "customer-churn"
PIPELINE = "mlops-dev-model-build"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server on loopback, its artifacts proxied; the runs of the module go to it."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with (
        tracking_server(root, "--artifacts-destination", str(root / "artifacts")) as uri,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv(TRACKING_URI_VARIABLE, uri)
        yield MlflowClient(uri)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("tracked")


@pytest.fixture(scope="module")
def registered(server, home, churn_csv):
    """A pipeline run that passes its gate and registers a model."""
    result = run_pipeline(CONTRACT, churn_csv, home, log=lambda _line: None)
    assert result.registered is not None, result.failure_reason
    return result


@pytest.fixture(scope="module")
def gate_failed(server, home, churn_csv):
    """A run whose gate cannot pass."""
    result = run_pipeline(CONTRACT, churn_csv, home, parameters={"GateThreshold": 0.999}, log=lambda _line: None)
    assert result.gate_failed, result.failure_reason
    return result


def run_of(client: MlflowClient, experiment: str, key: str):
    found = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'"
    )
    assert len(found) == 1, f"{len(found)} runs for {key}"
    return found[0]


def execution_folder(home: Path, result) -> Path:
    return LocalS3(home).path(f"{model_build_reports(result.pipeline_name)}/{result.execution_id}")


def test_a_registered_run_has_every_metric_of_its_reports_with_its_spread(server, home, registered):
    run = run_of(server, PIPELINE, registered.arn)
    folder = execution_folder(home, registered)
    report = json.loads((folder / "evaluate/evaluation/evaluation.json").read_text())["binary_classification_metrics"]
    for name in ("auc", "f1", "accuracy", "log_loss"):
        assert run.data.metrics[f"test/{name}"] == report[name]["value"]
        assert run.data.metrics[f"test/{name}_std"] == report[name]["standard_deviation"]
    data_bias = json.loads((folder / "data-bias/analysis_result/analysis.json").read_text())
    group = data_bias["pre_training_bias_metrics"]["facets"]["gender"][0]
    for metric in group["metrics"]:
        assert run.data.metrics[f"bias/pre/gender/{group['value_or_threshold']}/{metric['name']}"] == metric["value"]
    model_bias = json.loads((folder / "model-bias/analysis_result/analysis.json").read_text())
    dppl = next(
        m for m in model_bias["post_training_bias_metrics"]["facets"]["gender"][0]["metrics"] if m["name"] == "DPPL"
    )
    assert run.data.metrics[f"bias/post/gender/{group['value_or_threshold']}/DPPL"] == dppl["value"]
    shap = json.loads((folder / "explainability/analysis_result/analysis.json").read_text())
    values = shap["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    assert {name: run.data.metrics[f"shap/{name}"] for name in values} == values


def test_a_registered_run_names_its_parameters_commit_data_and_package(server, home, registered):
    run = run_of(server, PIPELINE, registered.arn)
    folder = execution_folder(home, registered)
    metadata = json.loads((folder / "preprocess/metadata/metadata.json").read_text())
    hyperparameters = json.loads((folder / "evaluate/evaluation/hyperparameters.json").read_text())
    params, tags = run.data.params, run.data.tags
    assert params["contract"] == CONTRACT
    assert params["Seed"] == str(registered.parameters["Seed"])
    assert {name: params[name] for name in hyperparameters} == {k: str(v) for k, v in hyperparameters.items()}
    assert tags["data_sha256"] == metadata["data_sha256"]
    assert tags[COMMIT_TAG] == registered.parameters["GitCommit"]
    assert tags[PACKAGE_TAG] == registered.registered.arn
    assert tags[VERSION_TAG] == str(registered.registered.version)
    assert (tags[KIND_TAG], tags["status"], run.info.status) == (MODEL_BUILD, "Succeeded", "FINISHED")
    assert tags["champion.passes"] == "true" and tags["fairness.passes"] == "true"
    # from the package to its run: the package names its execution, the run is found by it
    package = Registry(home).package(registered.registered.group, registered.registered.version)
    assert package.customer_metadata["pipeline_execution_arn"] == tags[KEY_TAG]


def test_a_registered_run_carries_its_report_files_as_they_are(server, home, registered, tmp_path):
    run = run_of(server, PIPELINE, registered.arn)
    folder = execution_folder(home, registered)
    for path in (
        "evaluate/evaluation/evaluation.json",
        "evaluate/evaluation/roc_curve.png",
        "data-bias/analysis_result/analysis.json",
        "explainability/analysis_result/global_shap_values.png",
        "baseline/data_quality/statistics.json",
    ):
        downloaded = server.download_artifacts(run.info.run_id, path, str(tmp_path))
        assert Path(downloaded).read_bytes() == (folder / path).read_bytes(), path
    logged = {item.path for item in server.list_artifacts(run.info.run_id, "preprocess/train")}
    assert logged == set(), "a data split is no report"


def test_a_run_whose_gate_failed_is_logged_failed_with_its_reason_and_metrics(server, gate_failed):
    run = run_of(server, PIPELINE, gate_failed.arn)
    assert run.info.status == "FAILED"
    assert run.data.tags[FAILURE_TAG] == gate_failed.failure_reason
    assert "test/auc" in run.data.metrics
    assert run.data.params["GateThreshold"] == "0.999"
    assert PACKAGE_TAG not in run.data.tags


def test_an_execution_is_logged_once(server, home, registered):
    again = log_local_execution(home, registered.arn, model_build_reports(PIPELINE), MODEL_BUILD)
    assert again == run_of(server, PIPELINE, registered.arn).info.run_id


def test_a_tuning_run_has_its_trials_as_child_runs(server, home, churn_csv):
    space = [Range("max_depth", "integer", 2, 6), Range("num_round", "integer", 20, 60)]
    result = tune(CONTRACT, churn_csv, home, trials=2, parallel=1, seed=3, space=space, log=lambda _l: None)
    experiment = server.get_experiment_by_name(tuning_experiment(CONTRACT)).experiment_id
    parent = server.search_runs([experiment], filter_string="tags.`mlops.kind` = 'tuning'")
    assert len(parent) == 1
    parent = parent[0]
    assert parent.data.metrics["validation/auc"] == result.best.value
    assert parent.data.tags["best_trial"] == str(result.best.number + 1)
    assert {item.path for item in server.list_artifacts(parent.info.run_id)} >= {"trials.csv", "best.json"}
    children = server.search_runs([experiment], filter_string=f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'")
    logged = {run.data.tags["mlflow.runName"]: run for run in children}
    assert sorted(logged) == [f"trial {trial.number + 1}" for trial in result.trials]
    for trial in result.trials:
        child = logged[f"trial {trial.number + 1}"]
        assert child.data.metrics["validation/auc"] == trial.value
        assert child.data.params == {name: str(value) for name, value in trial.hyperparameters.items()}


def test_a_monitoring_run_has_its_drift_quality_and_violations(server, home, registered, churn_csv):
    package = Registry(home).decide(registered.registered.group, registered.registered.version, APPROVED, approver="t")
    contract = load_contract(CONTRACT)
    archive = package_archive(home, package)
    with LocalEndpoint(EndpointSpec(name="tracked", model_archive=archive, port=free_port()), home) as endpoint:
        sent = generate(400, seed=31, drift=True)
        columns, facets = input_columns(home, package), contract.measured_only
        labels = send_records(endpoint.url, sent, columns, contract.target, batch=50, facets=facets)
        write_ground_truth(home / GROUND_TRUTH_DIR / "tracked", labels, contract)
        result = run_monitor(
            home, endpoint="tracked", package=package, contract_source=CONTRACT, stage=local_stage(CONTRACT)[1]
        )
    run = run_of(server, result.execution.pipeline_name, result.execution.arn)
    published = json.loads((result.output / "cloudwatch_metrics.json").read_text())["MetricData"]
    largest = next(d["Value"] for d in published if d["MetricName"] == "LargestFeatureDrift")
    assert run.data.metrics["monitor/LargestFeatureDrift"] == largest
    assert {name: run.data.metrics[f"monitor/FeatureDrift/{name}"] for name in result.drift} == result.drift
    assert (
        run.data.metrics["monitor/ModelQuality_auc"]
        == result.model_quality["binary_classification_metrics"]["auc"]["value"]
    )
    assert run.data.metrics["monitor/violations"] == len(result.violations) > 0
    assert run.data.tags[PACKAGE_TAG] == package.arn
    assert {item.path for item in server.list_artifacts(run.info.run_id, "reports")} >= {
        "reports/constraint_violations.json",
        "reports/statistics.json",
    }


def test_a_run_that_cannot_be_logged_stands_and_says_why(monkeypatch, tmp_path, churn_csv, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv(TRACKING_URI_VARIABLE, f"sqlite:///{blocked}/store.db")
    with caplog.at_level(logging.WARNING, logger="local_mode.experiments"):
        result = run_pipeline(CONTRACT, churn_csv, tmp_path / "home", log=lambda _line: None)
    assert result.registered is not None
    assert f"execution {result.execution_id} was not logged to MLflow (sqlite:///{blocked}/store.db)" in caplog.text


def test_the_ui_opens_the_workdirs_store_on_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv(TRACKING_URI_VARIABLE, raising=False)
    with pytest.raises(FileNotFoundError, match=r"no run is logged in .* yet \(no MLflow store at .*mlflow.db\)"):
        ui_command(tmp_path)
    tracking_client(tmp_path)
    command = ui_command(tmp_path, 5123)
    store = tmp_path.resolve() / "mlflow"
    assert command[command.index("--backend-store-uri") + 1] == f"sqlite:///{store / 'mlflow.db'}"
    assert command[command.index("--default-artifact-root") + 1] == str(store / "artifacts")
    assert (command[command.index("--host") + 1], command[command.index("--port") + 1]) == ("127.0.0.1", "5123")
    monkeypatch.setenv(TRACKING_URI_VARIABLE, "http://tracking.example:5000")
    with pytest.raises(ValueError, match=r"the runs go to the tracking server http://tracking.example:5000"):
        ui_command(tmp_path)
