"""Training on one host and on two, on the same data: the test metric, wall time and peak memory per host.

Generates scale_bench.py's table (50 features) at `--rows` rows, preprocesses it once with the train split in two
files (the two files hold exactly the rows of the one-file split: tests/ml_code/test_distributed_training.py), then
trains train.py's defaults on it twice:
- one host, on both files, with all of this machine's cores (the floor, measured in the same run);
- two hosts at once, as processes on loopback with SageMaker's host environment, each on one file with half the cores,
  joined by XGBoost's collective as on SageMaker.

Prints, for each: wall time, each host's peak RSS and rows, and the test AUC with its bootstrap standard deviation.
The hosts here share one machine's cores, so two local hosts cannot be faster than one: on SageMaker each host has
an instance of its own, and what the bench shows is what one host must hold (its memory) and that the model is as
good.

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

from bench.scale_bench import CONTRACT, generate  # noqa: E402
from local_mode.jobs import free_port  # noqa: E402
from ml_code.cluster import SHARDED, TRACKER_ENV  # noqa: E402
from ml_code.paths import MODEL_FILE  # noqa: E402

HOSTS = 2


def run_hosts(base: Path, train_dirs: list[Path], name: str) -> tuple[float, list[int]]:
    """train.py on one host per train folder, all at once; (wall seconds, each host's peak RSS in bytes)."""
    hosts = [f"algo-{number}" for number in range(1, len(train_dirs) + 1)]
    shared = {
        "SM_HOSTS": json.dumps(hosts),
        "SM_INPUT_DATA_CONFIG": json.dumps({"train": {"S3DistributionType": SHARDED}}),
        "SM_NUM_CPUS": str(max(1, (os.cpu_count() or 1) // len(hosts))),
        TRACKER_ENV: f"127.0.0.1:{free_port()}",
    }
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                sys.executable, "ml_code/training/train.py", "--train", str(train_dir),
                "--validation", str(base / "validation"), "--transform", str(base / "transform"),
                "--model-dir", str(base / f"model-{name}-{host}"),
                "--failure-file", str(base / f"failure-{name}-{host}"),
            ],
            cwd=ROOT,
            env={**os.environ, **shared, "SM_CURRENT_HOST": host},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for host, train_dir in zip(hosts, train_dirs, strict=True)
    ]  # fmt: skip
    peaks = []
    for host, process in zip(hosts, processes, strict=True):
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failure = base / f"failure-{name}-{host}"
            raise SystemExit(f"{name} {host} failed: {failure.read_text() if failure.is_file() else status}")
        peaks.append(usage.ru_maxrss * 1024)
    return time.monotonic() - started, peaks


def test_auc(base: Path, model_dir: Path) -> dict:
    import xgboost as xgb

    from ml_code.evaluation.evaluate import build_report
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
        base = args.workdir or Path(scratch)
        raw = base / "input" / "data" / "part-00000.csv"
        raw.parent.mkdir(parents=True, exist_ok=True)
        contract = base / "scale-bench.json"
        contract.write_text(json.dumps(CONTRACT))
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as apart:
            apart.submit(generate, raw, args.rows, seed=3).result()  # keeps this process small (wait4's peak)
        subprocess.run(
            [
                sys.executable, "ml_code/processing/preprocess.py", "--contract", str(contract),
                "--base-dir", str(base), "--train-parts", str(HOSTS),
                "--failure-file", str(base / "failure-preprocess"),
            ],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        files = sorted((base / "train").glob("*.csv"))
        shards = []
        for number, file in enumerate(files, start=1):
            shards.append(base / f"train-host-{number}")
            shards[-1].mkdir(exist_ok=True)
            (shards[-1] / file.name).unlink(missing_ok=True)
            (shards[-1] / file.name).symlink_to(file)
        rows = [sum(1 for _ in file.open("rb")) for file in files]
        one_seconds, (one_peak,) = run_hosts(base, [base / "train"], "one")
        two_seconds, two_peaks = run_hosts(base, shards, "two")
        one_auc, two_auc = test_auc(base, base / "model-one-algo-1"), test_auc(base, base / "model-two-algo-1")
    print(
        f"{args.rows:,} rows generated; train split {sum(rows):,} rows in {len(files)} files ({os.cpu_count()} cores)"
    )
    print(
        f"{'hosts':>5} {'wall s':>8} {'x 1 host':>9} {'rows per host':>22} {'peak RSS GB per host':>22}",
        f"{'test AUC':>17}",
    )
    for hosts, seconds, peaks, host_rows, auc in (
        (1, one_seconds, [one_peak], [sum(rows)], one_auc),
        (2, two_seconds, two_peaks, rows, two_auc),
    ):
        per_host_rows = " + ".join(f"{r:,}" for r in host_rows)
        per_host_peaks = " + ".join(f"{p / 1e9:.2f}" for p in peaks)
        print(
            f"{hosts:>5} {seconds:8.1f} {seconds / one_seconds:9.2f} {per_host_rows:>22} {per_host_peaks:>22} "
            f"{auc['value']:9.4f} ± {auc['standard_deviation']:.4f}"
        )
    print(f"AUC difference: {abs(two_auc['value'] - one_auc['value']):.4f}")


if __name__ == "__main__":
    main()
