"""`python -m local_mode run` end to end: real scripts, real data, the gate's exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local_mode.churn_data import generate, write
from tests.cli import ROOT, local_mode

ABALONE = ROOT.parent / "shared" / "data" / "abalone" / "abalone.data"
ABALONE_COLUMNS = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings"


@pytest.fixture(scope="module")
def churn_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "churn.csv"
    write(path, generate(4000, seed=5), fmt="csv")
    return path


def test_runs_the_three_steps_and_passes_the_gate_on_churn_data(tmp_path, churn_csv):
    result = local_mode("run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    auc = float(re.search(r"auc\s+([0-9.]+) ±", result.stdout).group(1))
    assert 0.75 <= auc <= 0.95
    assert "gate: auc" in result.stdout and "PASS" in result.stdout
    # the SageMaker-shaped trees, with model.tar.gz packed between training and evaluation
    assert (tmp_path / "train/opt/ml/model/xgboost-model.json").is_file()
    assert (tmp_path / "evaluate/opt/ml/processing/model/model.tar.gz").is_file()
    assert any((tmp_path / "train/opt/ml/checkpoints").iterdir())


def test_exits_3_when_the_gate_fails(tmp_path, churn_csv):
    strict = json.loads((ROOT / "ml_code/contracts/customer-churn.json").read_text())
    strict["metric"]["threshold"] = 0.999
    contract = tmp_path / "strict.json"
    contract.write_text(json.dumps(strict))
    result = local_mode("run", "--contract", contract, "--data", churn_csv, "--workdir", tmp_path / "run")
    assert result.returncode == 3, result.stderr[-2000:]
    assert "FAIL: not registered" in result.stdout


def test_exits_1_with_the_reason_when_a_step_fails(tmp_path, churn_csv):
    result = local_mode("run", "--contract", "abalone", "--data", churn_csv, "--workdir", tmp_path)
    assert result.returncode == 1
    assert "error: preprocess failed (exit 1)" in result.stderr
    assert "missing column(s) ['rings', 'sex']" in result.stderr
    assert not (tmp_path / "train").exists()
    assert not (tmp_path / "preprocess/opt/ml/processing/train").exists()  # no partial outputs


def test_exits_1_when_the_contract_is_malformed(tmp_path, churn_csv):
    contract = tmp_path / "bad.json"
    contract.write_text(json.dumps({"name": "x", "problem_type": "binary_classification", "target": "churned"}))
    result = local_mode("run", "--contract", contract, "--data", churn_csv, "--workdir", tmp_path / "run")
    assert result.returncode == 1
    assert "missing key(s) ['metric']" in result.stderr


@pytest.mark.skipif(not ABALONE.is_file(), reason=f"the abalone dataset is not at {ABALONE} (shared/ is absent)")
def test_abalone_regression_end_to_end(tmp_path):
    result = local_mode(
        "run", "--contract", "abalone", "--data", ABALONE, "--columns", ABALONE_COLUMNS, "--workdir", tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "evaluate/opt/ml/processing/evaluation/evaluation.json").read_text())
    rmse = report["regression_metrics"]["rmse"]["value"]
    assert rmse <= 2.5  # the contract's gate; bench/abalone_split_seeds.py measures the spread across splits
    assert report["regression_metrics"]["r2"]["value"] > 0.4


def test_runs_on_a_folder_of_csv_parts_as_the_etl_writes_them(tmp_path, churn_csv):
    lines = churn_csv.read_text().splitlines(keepends=True)
    curated = tmp_path / "curated" / "ingest_date=2026-07-01" / "run=a"
    curated.mkdir(parents=True)
    (curated / "part-0.csv").write_text("".join(lines[:2000]))
    (curated / "part-1.csv").write_text(lines[0] + "".join(lines[2000:]))
    result = local_mode(
        "run", "--contract", "customer-churn", "--data", tmp_path / "curated", "--workdir", tmp_path / "w"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    copied = tmp_path / "w/preprocess/opt/ml/processing/input/data/ingest_date=2026-07-01/run=a"
    assert sorted(p.name for p in copied.iterdir()) == ["part-0.csv", "part-1.csv"]


def test_exits_1_when_a_hyperparameter_is_not_name_value(tmp_path, churn_csv):
    result = local_mode(
        "run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", tmp_path, "--hyperparameter", "eta"
    )
    assert result.returncode == 1
    assert "--hyperparameter takes NAME=VALUE, got ['eta']" in result.stderr
