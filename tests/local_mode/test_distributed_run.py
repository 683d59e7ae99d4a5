"""A pipeline whose stage preprocesses on two instances and trains on two hosts, run locally: each job runs as two
processes on loopback with SageMaker's host environment, each preprocessing instance reads some of the input's files
and writes its train rows in a file per training host, and one model is registered."""

from __future__ import annotations

import dataclasses
import json
import re

from blueprint.pipeline.definition import build_definition
from blueprint.pipeline.settings import PipelineSettings
from local_mode.churn_data import generate, write
from local_mode.definition import local_stage
from local_mode.registry import PENDING, Registry
from ml_code.contracts.contract import load_contract
from tests.cli import local_mode_here
from tests.local_mode.test_run import GROUP


def test_two_instances_preprocess_and_two_hosts_train_one_registered_model(tmp_path):
    settings = PipelineSettings.for_stage(*local_stage("customer-churn"))
    definition = tmp_path / "definition.json"
    two_hosts = dataclasses.replace(settings, training_instances=2, processing_instances=2)
    data = tmp_path / "data"
    for part in range(3):  # the ETL's output: a file per ingestion
        write(data / f"ingest=2026-0{part + 1}-01" / "part-0.csv", generate(1500, seed=part), fmt="csv")
    definition.write_text(json.dumps(build_definition(two_hosts, load_contract("customer-churn"))))
    home = tmp_path / "home"
    result = local_mode_here(
        "run", "--contract", "customer-churn", "--data", data, "--workdir", home, "--definition", definition
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    (execution,) = (home / "executions").iterdir()
    train = execution / "Train"
    logs = {
        "algo-1": next((train / "opt/ml/output").glob("*.log")).read_text(),
        "algo-2": next((train / "hosts/algo-2/opt/ml/output").glob("*.log")).read_text(),
    }
    files = {
        host: sorted(p.name for p in (root / "opt/ml/input/data/train").iterdir())
        for host, root in (("algo-1", train), ("algo-2", train / "hosts/algo-2"))
    }
    # each preprocessing instance wrote a train file per training host; each training host got one of each
    assert files == {
        "algo-1": ["train-000-00000.csv", "train-001-00000.csv"],
        "algo-2": ["train-000-00001.csv", "train-001-00001.csv"],
    }
    preprocess = execution / "Preprocess"
    inputs = [
        sorted(
            str(p.relative_to(root / "opt/ml/processing/input/data"))
            for p in (root / "opt/ml/processing/input/data").rglob("*.csv")
        )
        for root in (preprocess, preprocess / "hosts/algo-2")
    ]
    assert inputs[0] and inputs[1] and not set(inputs[0]) & set(inputs[1])  # the input sharded by file
    assert "joined as rank 1 of 2" in next((preprocess / "hosts/algo-2/opt/ml/output").glob("*.log")).read_text()
    for number, (host, log) in enumerate(logs.items(), start=1):
        assert f"host {host} joined as rank {number - 1} of 2" in log
        assert re.search(rf"host {host} \({number} of 2\) trains on \d+ rows", log)
    finals = {host: re.findall(r"validation-final-\S+: \S+", log) for host, log in logs.items()}
    assert finals["algo-1"] and finals["algo-1"] == finals["algo-2"]  # one model, the same metrics on both hosts
    assert Registry(home).package(GROUP, 1).status == PENDING
    assert f"registered: {GROUP} version 1 (PendingManualApproval)" in result.stdout


def test_counts_raised_at_run_time_share_what_every_host_got(tmp_path, definition_file, churn_csv):
    """The stage's definition (one of each) with both counts raised for one run: preprocessing's instances each got
    the whole input (one file: the second has no rows), the training hosts the whole train split (each keeps its
    block of rows)."""
    home = tmp_path / "home"
    result = local_mode_here(
        "run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", home, "--definition",
        definition_file, "--parameter", "ProcessingInstanceCount=2", "--parameter", "TrainingInstanceCount=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (execution,) = (home / "executions").iterdir()
    preprocess = next((execution / "Preprocess/hosts/algo-2/opt/ml/output").glob("*.log")).read_text()
    assert "host algo-2 got none of the input's files" in preprocess
    train = next((execution / "Train/hosts/algo-2/opt/ml/output").glob("*.log")).read_text()
    assert re.search(r"host algo-2 \(2 of 2\) trains on \d+ rows", train)
    assert f"registered: {GROUP} version 1 (PendingManualApproval)" in result.stdout
