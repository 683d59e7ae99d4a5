"""A pipeline whose stage trains on two hosts, run locally: preprocessing writes a train file per host, the training
job runs as two processes on loopback with SageMaker's host environment, and one model is registered."""

from __future__ import annotations

import dataclasses
import json
import re

from infra.pipeline.definition import build_definition
from infra.pipeline.settings import PipelineSettings
from local_mode.definition import local_stage
from local_mode.registry import PENDING, Registry
from ml_code.contracts.contract import load_contract
from tests.cli import local_mode_here
from tests.local_mode.test_run import GROUP


def test_two_training_hosts_train_one_registered_model(tmp_path, churn_csv):
    settings = PipelineSettings.for_stage(*local_stage("customer-churn"))
    definition = tmp_path / "definition.json"
    two_hosts = dataclasses.replace(settings, training_instances=2)
    definition.write_text(json.dumps(build_definition(two_hosts, load_contract("customer-churn"))))
    home = tmp_path / "home"
    result = local_mode_here(
        "run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", home, "--definition", definition
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
    assert files == {"algo-1": ["train-00000.csv"], "algo-2": ["train-00001.csv"]}  # sharded by S3 key
    for number, (host, log) in enumerate(logs.items(), start=1):
        assert f"host {host} joined as rank {number - 1} of 2" in log
        assert re.search(rf"host {host} \({number} of 2\) trains on \d+ rows", log)
    finals = {host: re.findall(r"validation-final-\S+: \S+", log) for host, log in logs.items()}
    assert finals["algo-1"] and finals["algo-1"] == finals["algo-2"]  # one model, the same metrics on both hosts
    assert Registry(home).package(GROUP, 1).status == PENDING
    assert f"registered: {GROUP} version 1 (PendingManualApproval)" in result.stdout
