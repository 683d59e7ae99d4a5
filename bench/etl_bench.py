"""ETL throughput on local Spark (local[2]): synthetic raw exports of 100,000 and 1,000,000 records.

Prints records/s, wall time and the peak memory of the ETL's process tree (Python driver + JVM), sampled
every 0.2 s. `--fixed-cost` then splits the smallest size's time, in this process: starting the session (the JVM), the
first run (a cold JVM: class loading, JIT, query compilation) and the same run again in the warm JVM; the
warm run is what the job itself costs.
Usage: .venv/bin/python bench/etl_bench.py [--rows 100000 1000000] [--defect-rate 0.01] [--fixed-cost]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from local_mode.churn_data import generate, write  # noqa: E402


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_etl(raw: Path, output: Path, key_file: Path) -> tuple[float, int, dict]:
    command = [
        sys.executable,
        "-m",
        "local_mode",
        "etl",
        "--contract",
        "customer-churn",
        "--input",
        str(raw),
        "--output",
        str(output),
        "--hash-key-file",
        str(key_file),
    ]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched, peak = psutil.Process(process.pid), 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(watched))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    stop.set()
    sampler.join()
    elapsed = time.monotonic() - started
    if code != 0:
        raise RuntimeError(f"the ETL failed with exit code {code}")
    (manifest,) = [json.loads(p.read_text()) for p in (output / "manifests").glob("*.json")]
    return elapsed, peak, manifest["counts"]


def fixed_cost(rows: int, defect_rate: float) -> None:
    """Session start, a cold run and a warm run of the same records, in this process."""
    from local_mode.etl import local_spark, run_local_etl
    from ml_code.contracts.contract import load_contract

    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        raw = workdir / "raw" / "export.jsonl"
        write(raw, generate(rows, seed=1, defect_rate=defect_rate))
        started = time.monotonic()
        spark = local_spark(input_bytes=raw.stat().st_size)
        session = time.monotonic() - started
        runs = []
        for attempt in ("cold", "warm"):
            started = time.monotonic()
            run_local_etl(load_contract("customer-churn"), raw.parent, workdir / attempt, key=b"bench", spark=spark)
            runs.append(time.monotonic() - started)
        spark.stop()
    print(
        f"{rows:>10,} records: session start {session:.1f} s, cold run {runs[0]:.1f} s, warm run {runs[1]:.1f} s "
        f"(the cold JVM's first queries: {runs[0] - runs[1]:.1f} s)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--defect-rate", type=float, default=0.01)
    parser.add_argument("--fixed-cost", action="store_true", help="also split the smallest size's time")
    args = parser.parse_args()
    header = ("records", "raw MB", "generate s", "etl wall s", "records/s", "peak MB")
    print(f"{header[0]:>10} {header[1]:>7} {header[2]:>10} {header[3]:>10} {header[4]:>10} {header[5]:>8}  counts")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as scratch:
            workdir = Path(scratch)
            raw = workdir / "raw" / "export.jsonl"
            key_file = workdir / "key"
            key_file.write_text("bench-key")
            started = time.monotonic()
            write(raw, generate(rows, seed=1, defect_rate=args.defect_rate))
            generated = time.monotonic() - started
            elapsed, peak, counts = run_etl(raw.parent, workdir / "out", key_file)
            size = raw.stat().st_size / 1e6
            print(
                f"{rows:>10,} {size:>7.0f} {generated:>10.1f} {elapsed:>10.1f} {rows / elapsed:>10,.0f} "
                f"{peak / 1e6:>8.0f}  {counts}",
                flush=True,
            )
    if args.fixed_cost:  # once, at the smallest size: a JVM is cold only once per process
        logging.disable(logging.WARNING)
        fixed_cost(min(args.rows), args.defect_rate)
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
