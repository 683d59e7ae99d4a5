"""The monitoring job as its window grows, beside the floor measured in the same run: is its memory flat?

For each window size, generates captured requests of the churn contract's features (one record each, JSON, in
files of 20,000 lines as SageMaker rotates them) and a baseline of 5,000 training records, each in its own process;
then runs, each in its own process, the floor (the same imports, every captured line read and parsed as JSON, what
any reader of the capture must do) and the monitoring job's data-quality run (ml_code/monitoring/monitor.py). Prints
wall time and peak RSS beside the floor's, and how each grows from the smallest window to the largest.

Usage: .venv-ml/bin/python bench/monitor_bench.py [--requests 25000 100000 400000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from bench.scale_bench import Measure, measure  # noqa: E402

ENDPOINT = "bench-endpoint"
FILE_LINES = 20_000
END = datetime(2026, 12, 4, 12, tzinfo=timezone.utc)  # noqa: UP017 (the container's Python 3.10 has no UTC)


def generate(folder: Path, requests: int) -> None:
    """The window's capture, its served.json and the baseline's two files under `folder`."""
    import pandas as pd

    from local_mode.churn_data import generate as churn_records
    from ml_code.contracts.contract import load_contract
    from ml_code.monitoring.data_quality import constraints, statistics

    contract = load_contract("customer-churn")

    def features(rows: int, seed: int) -> pd.DataFrame:
        frame = pd.DataFrame(list(churn_records(rows, seed=seed)))
        frame = frame[list(contract.feature_columns(frame.columns))]
        return frame.astype(object).where(frame.notna(), None)

    stats = statistics(features(5000, seed=1).fillna("").astype(str))
    (folder / "statistics.json").write_text(json.dumps(stats))
    (folder / "constraints.json").write_text(json.dumps(constraints(stats)))
    hour = (
        folder / "window" / "datacapture" / ENDPOINT / "AllTraffic" / (END - timedelta(hours=1)).strftime("%Y/%m/%d/%H")
    )
    hour.mkdir(parents=True)
    records = features(requests, seed=2).to_dict("records")
    for part, start in enumerate(range(0, requests, FILE_LINES)):
        with (hour / f"part-{part:04d}.jsonl").open("w") as out:
            for number, record in enumerate(records[start : start + FILE_LINES], start=start):
                when = END - timedelta(minutes=30, microseconds=number)
                out.write(json.dumps(_event(record, f"id-{number}", when)) + "\n")
    served = {
        "endpoint": ENDPOINT,
        "window_start": (END - timedelta(hours=1)).isoformat(),
        "window_end": END.isoformat(),
    }
    (folder / "served.json").write_text(json.dumps(served))


def _event(record: dict, inference_id: str, when: datetime) -> dict:
    payload = {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": json.dumps(record),
        "encoding": "JSON",
    }
    answer = '{"predictions": [{"probability": 0.4, "label": "no"}]}'
    return {
        "captureData": {
            "endpointInput": payload,
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": answer,
                "encoding": "JSON",
            },
        },
        "eventMetadata": {"eventId": inference_id, "inferenceId": inference_id, "inferenceTime": when.isoformat()},
        "eventVersion": "0",
    }


def floor(folder: Path) -> None:
    """The same imports as the job; every captured line read and parsed, nothing kept."""
    import ml_code.monitoring.monitor  # noqa: F401

    for path in sorted((folder / "window").rglob("*.jsonl")):
        with path.open() as lines:
            for line in lines:
                json.loads(line)


def job(folder: Path) -> None:
    """The monitoring job's run over the window (data quality; no ground truth, no fairness section)."""
    from ml_code.contracts.contract import load_contract
    from ml_code.monitoring import monitor

    contract = dataclasses.replace(load_contract("customer-churn"), fairness=None)
    result = monitor.monitor(
        json.loads((folder / "served.json").read_text()),
        folder / "window",
        json.loads((folder / "statistics.json").read_text()),
        json.loads((folder / "constraints.json").read_text()),
        folder / "reports",
        contract=contract,
    )
    if result["records"] != sum(1 for path in (folder / "window").rglob("*.jsonl") for _ in path.open()):
        raise RuntimeError(f"the job monitored {result['records']} records, not every captured one")


def report(results: dict[int, dict[str, Measure]]) -> None:
    print(f"{'requests':>9}  {'run':<6} {'wall s':>8} {'x floor':>8} {'peak RSS MB':>12} {'above floor MB':>15}")
    for requests, measured in results.items():
        base = measured["floor"]
        for name, value in measured.items():
            print(
                f"{requests:>9}  {name:<6} {value.seconds:8.2f} {value.seconds / base.seconds:8.2f} "
                f"{value.peak_rss_bytes / 1e6:12.0f} {(value.peak_rss_bytes - base.peak_rss_bytes) / 1e6:15.0f}"
            )
    smallest, largest = min(results), max(results)
    for name in ("floor", "job"):
        first, last = results[smallest][name], results[largest][name]
        print(
            f"{name}: {largest / smallest:.0f}x the requests -> {last.seconds / first.seconds:.1f}x the time, "
            f"{last.peak_rss_bytes / first.peak_rss_bytes:.2f}x the peak memory"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, nargs="+", default=[25_000, 100_000, 400_000])
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--run", choices=["generate", "floor", "job"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run:  # one measured step, in its own process
        {"generate": lambda: generate(args.folder, args.requests[0]), "floor": lambda: floor(args.folder)}.get(
            args.run, lambda: job(args.folder)
        )()
        return 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        results = {}
        for requests in sorted(args.requests):
            folder = Path(workdir) / str(requests)
            folder.mkdir()
            script = [sys.executable, str(Path(__file__).resolve()), "--folder", str(folder)]
            measure([*script, "--run", "generate", "--requests", str(requests)])
            results[requests] = {name: measure([*script, "--run", name]) for name in ("floor", "job")}
            print(f"{requests} requests measured", file=sys.stderr)
        report(results)
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
