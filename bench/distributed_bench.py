"""Preprocessing and training on one host and on two, on the same data: wall time and peak memory per host, and
the test metric.

Generates scale_bench.py's table (50 features) at `--rows` rows in two files (as the ETL writes parts), then:
- preprocesses it on one host (the floor, measured in the same run), and on two hosts at once, each with one of the
  files (a sharded input), as processes on loopback with SageMaker's host environment, joined by XGBoost's collective
  as on SageMaker; both write the train split in two files (their rows are one host's:
  tests/ml_code/test_sharded_preprocess.py);
- trains train.py's defaults on one host's preprocessing twice: one host on both train files with all of this
  machine's cores (the floor), and two hosts, each on one file with half the cores.

Prints, for each: wall time, each host's peak RSS and rows, and for training the test AUC with its bootstrap standard
deviation. The hosts here share one machine's cores, so two local hosts cannot be faster than one: on SageMaker each
host has an instance of its own, and what the bench shows is what one host must hold (its memory), what the
collective costs, and that the model is as good.

Usage: .venv-ml/bin/python bench/distributed_bench.py [--rows 200000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from bench.scale_bench import CONTRACT, generate  # noqa: E402
from local_mode.jobs import free_port  # noqa: E402
from ml_code.cluster import SHARDED, TRACKER_ENV  # noqa: E402
from ml_code.paths import MODEL_FILE  # noqa: E402

HOSTS = 2


def run_hosts(commands: dict[str, list[str]], environment: dict[str, str]) -> tuple[float, list[int]]:
    """Each host's command, all at once, with SageMaker's host environment; (wall seconds, each host's peak RSS in
    bytes). A failure stops the bench with the host's failure file."""
    hosts = list(commands)
    shared = {
        **environment,
        "SM_HOSTS": json.dumps(hosts),
        "SM_NUM_CPUS": str(max(1, (os.cpu_count() or 1) // len(hosts))),
        TRACKER_ENV: f"127.0.0.1:{free_port()}",
    }
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **shared, "SM_CURRENT_HOST": host},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for host, command in commands.items()
    ]
    peaks = []
    for host, process in zip(hosts, processes, strict=True):
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{host} failed: {' '.join(commands[host])}")
        peaks.append(usage.ru_maxrss * 1024)
    return time.monotonic() - started, peaks


def preprocess(contract: Path, inputs: list[Path], base: Path) -> tuple[float, list[int]]:
    """preprocess.py on one host per input folder."""
    hosts = [f"algo-{number}" for number in range(1, len(inputs) + 1)]
    return run_hosts(
        {
            host: [
                sys.executable, "ml_code/processing/preprocess.py", "--contract", str(contract),
                "--input-dir", str(input_dir), "--base-dir", str(base / host), "--train-parts", str(HOSTS),
                "--failure-file", str(base / host / "failure"),
            ]
            for host, input_dir in zip(hosts, inputs, strict=True)
        },
        {},
    )  # fmt: skip


def train(base: Path, train_dirs: list[Path], name: str) -> tuple[float, list[int]]:
    """train.py on one host per train folder."""
    hosts = [f"algo-{number}" for number in range(1, len(train_dirs) + 1)]
    return run_hosts(
        {
            host: [
                sys.executable, "ml_code/training/train.py", "--train", str(train_dir),
                "--validation", str(base / "validation"), "--transform", str(base / "transform"),
                "--model-dir", str(base / f"model-{name}-{host}"),
                "--failure-file", str(base / f"failure-{name}-{host}"),
            ]
            for host, train_dir in zip(hosts, train_dirs, strict=True)
        },
        {"SM_INPUT_DATA_CONFIG": json.dumps({"train": {"S3DistributionType": SHARDED}})},
    )  # fmt: skip


def test_auc(base: Path, model_dir: Path) -> dict:
    import xgboost as xgb

    from ml_code.metrics import build_report
    from ml_code.training.train import read_split

    booster = xgb.Booster(model_file=str(model_dir / MODEL_FILE))
    x, y = read_split(base / "test")
    scores = booster.predict(xgb.DMatrix(x, feature_names=booster.feature_names))
    return build_report("binary_classification", y, scores, seed=1)["binary_classification_metrics"]["auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        contract = work / "scale-bench.json"
        contract.write_text(json.dumps(CONTRACT))
        shards = [work / "input" / f"shard-{number}" for number in range(HOSTS)]
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as apart:
            for number, shard in enumerate(shards):  # in a process of its own: this one stays small (wait4's peak)
                shard.mkdir(parents=True, exist_ok=True)
                apart.submit(generate, shard / f"part-{number:05d}.csv", args.rows // HOSTS, seed=3 + number).result()
        whole = work / "input" / "whole"
        whole.mkdir(exist_ok=True)
        for shard in shards:
            for file in shard.glob("*.csv"):
                (whole / file.name).unlink(missing_ok=True)
                (whole / file.name).symlink_to(file)
        one_prep = preprocess(contract, [whole], work / "preprocess-one")
        two_prep = preprocess(contract, shards, work / "preprocess-two")
        base = work / "preprocess-one" / "algo-1"
        files = sorted((base / "train").glob("*.csv"))
        halves = []
        for number, file in enumerate(files, start=1):
            halves.append(work / f"train-host-{number}")
            halves[-1].mkdir(exist_ok=True)
            (halves[-1] / file.name).unlink(missing_ok=True)
            (halves[-1] / file.name).symlink_to(file)
        rows = [sum(1 for _ in file.open("rb")) for file in files]
        one_train, two_train = train(base, [base / "train"], "one"), train(base, halves, "two")
        one_auc, two_auc = test_auc(base, base / "model-one-algo-1"), test_auc(base, base / "model-two-algo-1")
    print(f"{args.rows:,} rows in {HOSTS} files; train split {sum(rows):,} rows ({os.cpu_count()} cores)")
    print(f"{'step':<11} {'hosts':>5} {'wall s':>8} {'x 1 host':>9} {'peak RSS GB per host':>22} {'test AUC':>17}")
    measured = (
        ("preprocess", 1, one_prep, None),
        ("preprocess", 2, two_prep, None),
        ("train", 1, one_train, one_auc),
        ("train", 2, two_train, two_auc),
    )
    for step, hosts, (seconds, peaks), auc in measured:
        floor = one_prep[0] if step == "preprocess" else one_train[0]
        per_host = " + ".join(f"{peak / 1e9:.2f}" for peak in peaks)
        metric = f"{auc['value']:9.4f} ± {auc['standard_deviation']:.4f}" if auc else ""
        print(f"{step:<11} {hosts:>5} {seconds:8.1f} {seconds / floor:9.2f} {per_host:>22} {metric:>17}")
    print(f"train rows per host with 2 hosts: {' + '.join(f'{r:,}' for r in rows)}")
    print(f"test AUC difference, 2 hosts against 1: {abs(two_auc['value'] - one_auc['value']):.4f}")


if __name__ == "__main__":
    sys.exit(record(__file__, main))
