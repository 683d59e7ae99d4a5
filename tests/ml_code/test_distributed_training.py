"""Several hosts train one model (ml_code/cluster.py): real processes on loopback, with SageMaker's host
environment, against one host on the same data."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from local_mode.churn_data import generate, write
from ml_code import paths
from ml_code.cluster import SHARDED, TRACKER_ENV, Cluster, channel_distribution
from ml_code.metrics import build_report
from ml_code.processing.preprocess import preprocess
from ml_code.training.train import Hyperparameters, latest_checkpoint, read_split, train
from tests.ml_code.hosts import run_on_hosts

ROWS = 12_000
HOSTS = ("algo-1", "algo-2")
HP = Hyperparameters(num_round=300, early_stopping_rounds=30)
HP_ARGUMENTS = {"num_round": HP.num_round, "early_stopping_rounds": HP.early_stopping_rounds}


@pytest.fixture(scope="module")
def bases(tmp_path_factory, churn_contract) -> dict[int, Path]:
    """The same data preprocessed with the train split in one file and in two."""
    raw = tmp_path_factory.mktemp("raw") / "churn.csv"
    write(raw, generate(ROWS, seed=5), fmt="csv")
    found = {}
    for parts in (1, 2):
        found[parts] = tmp_path_factory.mktemp(f"parts{parts}")
        preprocess(raw.parent, found[parts], churn_contract, seed=42, train_parts=parts)
    return found


def run_hosts(tmp_path: Path, base: Path, train_dirs: dict[str, Path], distribution: str, **hyperparameters) -> dict:
    """The training script on every host at once, as SageMaker starts it."""
    commands = {
        host: [
            sys.executable, "-m", "ml_code.training.train", f"--train={train_dir}",
            f"--validation={base / 'validation'}", f"--transform={base / paths.TRANSFORM_OUTPUT}",
            f"--model-dir={tmp_path / host / 'model'}", f"--failure-file={tmp_path / host / 'failure'}",
            f"--checkpoint-dir={tmp_path / host / 'checkpoints'}",
            *(f"--{name}={value}" for name, value in {**HP_ARGUMENTS, **hyperparameters}.items()),
        ]
        for host, train_dir in train_dirs.items()
    }  # fmt: skip
    config = {"SM_INPUT_DATA_CONFIG": json.dumps({"train": {"S3DistributionType": distribution}})}
    return run_on_hosts(commands, tmp_path, config)


def test_scores(model_dir: Path, base: Path) -> np.ndarray:
    booster = xgb.Booster(model_file=str(model_dir / paths.MODEL_FILE))
    return booster.predict(xgb.DMatrix(read_split(base / "test")[0], feature_names=booster.feature_names))


test_scores.__test__ = False  # a helper, not a test


def final_lines(log: str) -> list[str]:
    return re.findall(r"validation-final-\S+: \S+", log)


def one_file_per_host(tmp_path: Path, base: Path) -> dict[str, Path]:
    """What a channel sharded by S3 key gives each host: one of the split's two files."""
    files = sorted((base / "train").glob("*.csv"))
    assert len(files) == len(HOSTS)
    dirs = {}
    for host, file in zip(HOSTS, files, strict=True):
        dirs[host] = tmp_path / host / "train"
        dirs[host].mkdir(parents=True)
        shutil.copy(file, dirs[host])
    return dirs


def test_the_split_in_two_files_holds_the_rows_of_the_one_file(bases):
    whole = (bases[1] / "train" / "train.csv").read_bytes()
    parts = [path.read_bytes() for path in sorted((bases[2] / "train").glob("*.csv"))]
    assert [path.name for path in sorted((bases[2] / "train").glob("*.csv"))] == ["train-00000.csv", "train-00001.csv"]
    assert b"".join(parts) == whole and all(parts)
    for name in ("validation", "test", paths.TRANSFORM_OUTPUT):  # nothing else changes
        for path in sorted((bases[1] / name).iterdir()):
            assert (bases[2] / name / path.name).read_bytes() == path.read_bytes()


def test_two_hosts_train_one_model_that_scores_as_one_host_does(tmp_path, bases):
    results = run_hosts(tmp_path, bases[2], one_file_per_host(tmp_path, bases[2]), SHARDED)
    for host, (code, log) in results.items():
        assert code == 0, f"{host}: {log[-3000:]}"
    leader, follower = (results[host][1] for host in HOSTS)
    # one model: the hosts all-reduce the metrics, so they log the same ones and stop at the same round
    assert final_lines(leader) and final_lines(leader) == final_lines(follower)
    assert re.findall(r"best round \d+", leader) == re.findall(r"best round \d+", follower)
    train_rows = [len(path.read_bytes().splitlines()) for path in sorted((bases[2] / "train").glob("*.csv"))]
    for host, rows in zip(HOSTS, train_rows, strict=True):
        assert f"host {host} ({HOSTS.index(host) + 1} of 2) trains on {rows} rows" in results[host][1]
    assert (tmp_path / "algo-1" / "model" / paths.MODEL_FILE).is_file()  # the first host writes the model
    assert not (tmp_path / "algo-2" / "model").exists()

    base = bases[1]
    train(base / "train", base / "validation", base / paths.TRANSFORM_OUTPUT, tmp_path / "one-host", HP)
    two_hosts, one_host = (
        test_scores(model_dir, base) for model_dir in (tmp_path / "algo-1" / "model", tmp_path / "one-host")
    )
    # the same test AUC as one host, within its noise as the evaluation report gives it (the bootstrap's standard
    # deviation): the trees differ a little, as two hosts' merged quantile sketch is not one host's sketch
    y = read_split(base / "test")[1]
    report = build_report("binary_classification", y, one_host, seed=42)["binary_classification_metrics"]["auc"]
    difference = abs(roc_auc_score(y, two_hosts) - report["value"])
    assert difference <= report["standard_deviation"], (difference, report)

    # and not what the first host would learn from its half alone: the hosts learnt together
    alone = tmp_path / "alone"
    half = bases[2]
    train(tmp_path / "algo-1" / "train", half / "validation", half / paths.TRANSFORM_OUTPUT, alone, HP)
    assert (alone / paths.MODEL_FILE).read_bytes() != (tmp_path / "algo-1" / "model" / paths.MODEL_FILE).read_bytes()


def test_the_first_host_checkpoints_and_every_host_resumes_from_its_checkpoint(tmp_path, bases):
    dirs = one_file_per_host(tmp_path, bases[2])
    for host in HOSTS:
        (tmp_path / host / "checkpoints").mkdir()  # managed spot: the folder exists
    first = run_hosts(tmp_path, bases[2], dirs, SHARDED, num_round=25, early_stopping_rounds=100)
    assert all(code == 0 for code, _ in first.values()), first
    written = sorted(path.name for path in (tmp_path / "algo-1" / "checkpoints").iterdir())
    assert written and not any((tmp_path / "algo-2" / "checkpoints").iterdir())  # the first host writes them
    done = latest_checkpoint(tmp_path / "algo-1" / "checkpoints").num_boosted_rounds()
    # a restarted job: SageMaker copies the checkpoints back, here only to the first host (the others may lag)
    shutil.rmtree(tmp_path / "algo-1" / "model")
    second = run_hosts(tmp_path, bases[2], dirs, SHARDED, num_round=30, early_stopping_rounds=100)
    for host, (code, log) in second.items():
        assert code == 0, log[-3000:]
        assert len(re.findall(r"round \d+ validation-auc:", log)) == 30 - done, host  # only the missing rounds
    assert "resuming from the first host's checkpoint" in second["algo-2"][1]
    assert final_lines(second["algo-1"][1]) == final_lines(second["algo-2"][1])


def test_on_a_replicated_channel_each_host_trains_on_its_block_of_rows(tmp_path, bases):
    train_dir = bases[1] / "train"
    results = run_hosts(tmp_path, bases[1], dict.fromkeys(HOSTS, train_dir), "FullyReplicated")
    rows = len((train_dir / "train.csv").read_bytes().splitlines())
    for number, host in enumerate(HOSTS):
        code, log = results[host]
        assert code == 0, log[-3000:]
        block = Cluster(hosts=HOSTS, current=host).row_block(rows)
        assert f"host {host} ({number + 1} of 2) trains on {block.stop - block.start} rows" in log
    assert final_lines(results["algo-1"][1]) == final_lines(results["algo-2"][1])


def test_a_host_without_a_file_fails_the_job_with_its_reason_and_the_other_does_not_wait(tmp_path, bases):
    dirs = one_file_per_host(tmp_path, bases[2])
    for file in dirs["algo-2"].iterdir():
        file.unlink()  # a split with fewer files than hosts
    results = run_hosts(tmp_path, bases[2], dirs, SHARDED)  # within TIMEOUT, or wait() raises
    assert all(code != 0 for code, _ in results.values())
    reason = (tmp_path / "algo-2" / "failure").read_text()
    assert "host algo-2 got none of the train split's files" in reason
    assert (tmp_path / "algo-1" / "failure").is_file()  # the other host fails on losing it, not after a timeout
    assert not (tmp_path / "algo-1" / "model").exists()


def test_the_cluster_comes_from_sagemakers_environment_or_its_resource_config(tmp_path):
    env = {"SM_HOSTS": '["algo-2", "algo-1", "algo-3"]', "SM_CURRENT_HOST": "algo-2"}
    cluster = Cluster.from_environment(env)
    assert (cluster.hosts, cluster.rank, cluster.size, cluster.leader) == (("algo-1", "algo-2", "algo-3"), 1, 3, False)
    assert cluster.tracker(env) == ("algo-1", 9099)  # the first host, on the XGBoost container's port
    assert cluster.tracker({TRACKER_ENV: "127.0.0.1:4711"}) == ("127.0.0.1", 4711)
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}))
    assert Cluster.from_environment({}, str(config)) == Cluster(hosts=("algo-1", "algo-2"), current="algo-1")
    assert Cluster.from_environment({}, str(tmp_path / "absent")).size == 1  # outside SageMaker: one host
    with pytest.raises(ValueError, match="not among the job's hosts"):
        Cluster.from_environment({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-9"})
    with pytest.raises(ValueError, match="is not <address>:<port>"):
        cluster.tracker({TRACKER_ENV: "localhost"})
    assert (
        channel_distribution("train", {"SM_INPUT_DATA_CONFIG": json.dumps({"train": {"S3DistributionType": SHARDED}})})
        == SHARDED
    )
    assert channel_distribution("train", {}) == "FullyReplicated"


@pytest.mark.parametrize(("rows", "hosts"), [(10, 3), (2, 2), (7, 4), (1000, 3)])
def test_the_blocks_of_rows_cover_every_row_once(rows, hosts):
    names = tuple(f"algo-{number}" for number in range(1, hosts + 1))
    blocks = [Cluster(hosts=names, current=name).row_block(rows) for name in names]
    covered = np.concatenate([np.arange(rows)[block] for block in blocks])
    assert covered.tolist() == list(range(rows))
