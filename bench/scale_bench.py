"""Preprocessing, training and evaluation at production scale, beside the I/O floor measured in the same run.

Generates a seeded table of 50 features (40 numeric, 10 categorical, 5 % missing) and a binary target, then runs
each step in its own process: the floor (pyarrow reads and writes the same CSV, multithreaded, no transformation),
`preprocess.py`, `train.py` on its splits and `evaluate.py` on its test split. Prints wall time, peak RSS and the
ratio to the floor for each, and how each grows from the smallest to the largest size.

Usage: .venv-ml/bin/python bench/scale_bench.py [--rows 100000 1000000] [--five-million] [--steps preprocess]
                                              [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from ml_code.archives import tar_gz  # noqa: E402
from ml_code.paths import EVALUATION_MODEL_INPUT, EVALUATION_TEST_INPUT, MODEL_ARCHIVE  # noqa: E402

NUMERIC = [f"n{i:02d}" for i in range(40)]
CATEGORICAL = [f"c{i:02d}" for i in range(10)]
MISSING_SHARE = 0.05
CHUNK_ROWS = 250_000
STEPS = ("preprocess", "train", "evaluate")  # each needs the ones before it; the floor always runs
CONTRACT = {
    "name": "scale-bench",
    "problem_type": "binary_classification",
    "target": "label",
    "positive_label": "yes",
    "id_columns": ["record_id"],
    "categorical": CATEGORICAL,
    "numeric": NUMERIC,
    "metric": {"name": "auc", "threshold": 0.5},
}
FLOOR = """
import sys
import pyarrow.csv as csv
csv.write_csv(csv.read_csv(sys.argv[1]), sys.argv[2])
"""


def generate(path: Path, rows: int, *, seed: int) -> None:
    """The bench table, written in chunks: full-precision numbers, 5 % of every feature empty, and a label that
    depends on a few features (so training learns something)."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=len(NUMERIC)) * (rng.random(len(NUMERIC)) < 0.3)
    with path.open("wb") as handle:
        handle.write((",".join(["record_id", "label", *NUMERIC, *CATEGORICAL]) + "\n").encode())
        for start in range(0, rows, CHUNK_ROWS):
            count = min(CHUNK_ROWS, rows - start)
            numbers = rng.normal(loc=50.0, scale=20.0, size=(count, len(NUMERIC)))
            levels = rng.integers(0, 12, size=(count, len(CATEGORICAL)))
            logit = (numbers - 50.0) / 20.0 @ weights + 0.3 * (levels[:, 0] % 3) - 0.5
            label = np.where(rng.random(count) < 1 / (1 + np.exp(-logit)), "yes", "no")
            columns = [pa.array(np.arange(start, start + count).astype(str)), pa.array(label)]
            columns += [_with_missing(pc.cast(pa.array(numbers[:, i]), pa.string()), rng) for i in range(len(NUMERIC))]
            columns += [
                _with_missing(pa.array(np.char.add("level_", levels[:, i].astype(str))), rng)
                for i in range(len(CATEGORICAL))
            ]
            lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, ","), "", "\n")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
            handle.write(lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]])


def _with_missing(values: pa.Array, rng: np.random.Generator) -> pa.Array:
    return pc.if_else(pa.array(rng.random(len(values)) < MISSING_SHARE), "", values)


@dataclass(frozen=True)
class Measure:
    seconds: float
    peak_rss_bytes: int


def measure(command: list[str]) -> Measure:
    """Run `command` as its own process; its wall time and its peak RSS: the larger of the kernel's figure for
    the process (wait4's rusage) and the sum over it and its children, sampled every 50 ms. The kernel's figure
    counts the memory of the process that started it (Linux keeps the peak of the address space an exec
    replaces), so this process stays small: the data is generated in a process of its own."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, stop = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, tree_rss(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{process.stderr.read().decode()[-3000:]}")
    return Measure(seconds, max(usage.ru_maxrss * 1024, peak))


def tree_rss(pid: int) -> int:
    """The resident memory of a process and all its descendants, from /proc (0 once it is gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_size(rows: int, workdir: Path, *, seed: int, steps: list[str]) -> dict[str, Measure]:
    base = workdir / f"rows-{rows}"
    raw = base / "input" / "data" / "part-00000.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    contract = workdir / "scale-bench.json"
    contract.write_text(json.dumps(CONTRACT))
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as apart:
        apart.submit(generate, raw, rows, seed=seed).result()
    print(f"{rows:>9,} rows: {raw.stat().st_size / 1e6:,.0f} MB of CSV", flush=True)
    python = sys.executable
    commands = {
        "floor": [python, "-c", FLOOR, str(raw), str(base / "floor.csv")],
        "preprocess": [
            python, "ml_code/processing/preprocess.py", "--contract", str(contract), "--base-dir", str(base),
            "--failure-file", str(base / "failure-preprocess"),
        ],
        "train": [
            python, "ml_code/training/train.py", "--train", str(base / "train"), "--validation",
            str(base / "validation"), "--transform", str(base / "transform"), "--model-dir", str(base / "model"),
            "--failure-file", str(base / "failure-train"),
        ],
    }  # fmt: skip
    measures = {}
    for name, command in commands.items():
        if name != "floor" and name not in steps:
            continue
        measures[name] = measure(command)
        print(f"  {name:<10} {measures[name].seconds:7.1f} s", flush=True)
    if "evaluate" not in steps:
        return measures
    pack_model(base / "model", base / "evaluate")
    measures["evaluate"] = measure(
        [
            python, "ml_code/evaluation/evaluate.py", "--base-dir", str(base / "evaluate"),
            "--failure-file", str(base / "failure-evaluate"),
        ]
    )  # fmt: skip
    print(f"  {'evaluate':<10} {measures['evaluate'].seconds:7.1f} s", flush=True)
    return measures


def pack_model(model_dir: Path, evaluation_base: Path) -> None:
    """Lay out evaluation's processing job as the pipeline does: the model archive and the test split."""
    files = {str(p.relative_to(model_dir)): p.read_bytes() for p in sorted(model_dir.rglob("*")) if p.is_file()}
    archive = evaluation_base / EVALUATION_MODEL_INPUT / MODEL_ARCHIVE
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(tar_gz(files))
    test = evaluation_base / EVALUATION_TEST_INPUT
    test.unlink(missing_ok=True)  # a --workdir used before
    test.symlink_to(model_dir.parent / "test")


def report(results: dict[int, dict[str, Measure]]) -> None:
    sizes = sorted(results)
    print()
    print(f"{'rows':>9}  {'step':<10} {'wall s':>8} {'x floor':>8} {'peak RSS GB':>12} {'x floor':>8}")
    for rows in sizes:
        floor = results[rows]["floor"]
        for name, value in results[rows].items():
            print(
                f"{rows:>9,}  {name:<10} {value.seconds:8.1f} {value.seconds / floor.seconds:8.2f} "
                f"{value.peak_rss_bytes / 1e9:12.2f} {value.peak_rss_bytes / floor.peak_rss_bytes:8.2f}"
            )
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print(f"\ngrowth from {small:,} to {large:,} rows ({large / small:g}x the data):")
        for name in results[large]:
            time_growth = results[large][name].seconds / results[small][name].seconds
            memory_growth = results[large][name].peak_rss_bytes / results[small][name].peak_rss_bytes
            print(f"  {name:<10} time {time_growth:6.2f}x   peak RSS {memory_growth:6.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--five-million", action="store_true", help="add a 5,000,000-row run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="default: all of them")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory, removed after")
    args = parser.parse_args()
    if STEPS.index(max(args.steps, key=STEPS.index)) + 1 != len(args.steps):
        parser.error(f"--steps {' '.join(args.steps)}: each step needs the ones before it ({' '.join(STEPS)})")
    sizes = sorted(set(args.rows) | ({5_000_000} if args.five_million else set()))
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as temporary:
        workdir = args.workdir or Path(temporary)
        results = {rows: run_size(rows, workdir, seed=args.seed, steps=args.steps) for rows in sizes}
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
