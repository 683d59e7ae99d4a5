"""A real HTTP load test of `local_mode serve`, beside the in-process floor measured in the same run.

Trains a churn model with the real pipeline (in a scratch folder), serves it on a loopback port, and measures:
single-record requests at concurrency 1 (p50/p95/p99 latency) and batches of 100 records at concurrency 4
(records per second). The floor calls the model's own handlers in one process on the same bodies. Then the same
over HTTP with per-record explanations (`Accept: application/json; verbose=true`), beside the plain figures: what
asking for explanations costs. Bounded in requests and time; prints the figures and the ratios to the floor and
to the targets.

    .venv/bin/python bench/endpoint_bench.py [--requests 2000] [--batches 300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from local_mode.churn_data import generate, write  # noqa: E402
from local_mode.jobs import default_python, python_path  # noqa: E402
from local_mode.monitoring import input_columns  # noqa: E402
from local_mode.registry import APPROVED, Registry  # noqa: E402
from local_mode.runner import run_pipeline  # noqa: E402
from local_mode.serving.endpoint import EndpointSpec, LocalEndpoint, free_port, package_archive  # noqa: E402
from local_mode.traffic import EndpointClient  # noqa: E402

P99_TARGET_MS, BATCH_TARGET_RECORDS_PER_S, FLOOR_RATIO_TARGET = 10.0, 5000.0, 3.0
BATCH, CONCURRENCY = 100, 4
BARE_RATIO_TARGET = 4  # one record in process, against xgboost's own prediction on the parsed feature row
PLAIN, VERBOSE = "application/json", "application/json; verbose=true"

# The floor: the handlers the endpoint runs, called in-process in the ML environment on the same bodies.
FLOOR = """
import json, sys, time
sys.path.insert(0, sys.argv[1] + "/code")
import inference
model = inference.model_fn(sys.argv[1])
single, batch, n_single, n_batch = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def call(body):
    return inference.transform_fn(model, body, "application/json", "application/json")
for _ in range(50):
    call(single)
latencies = []
for _ in range(n_single):
    start = time.perf_counter(); call(single); latencies.append(time.perf_counter() - start)
start = time.perf_counter()
for _ in range(n_batch):
    call(batch)
batch_seconds = time.perf_counter() - start
# the bare prediction: the same model on the same record, already parsed into its feature row
from ml_code.inference.inference import input_fn
row = input_fn(single, "application/json", model.transform.input_columns)
features = model.transform.apply(row).to_numpy(dtype=float)
for _ in range(50):
    model.booster.inplace_predict(features)
bare = []
for _ in range(n_single):
    start = time.perf_counter(); model.booster.inplace_predict(features); bare.append(time.perf_counter() - start)
print(json.dumps({"latencies": latencies, "batch_seconds": batch_seconds, "bare": bare}))
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def http_single(url: str, body: bytes, requests: int, accept: str = PLAIN) -> list[float]:
    client, latencies = EndpointClient(url), []
    try:
        for _ in range(50):
            client.invoke(body, "application/json", accept)
        for _ in range(requests):
            start = time.perf_counter()
            status, answer = client.invoke(body, "application/json", accept)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"the endpoint answered {status}: {answer[:200]!r}")
    finally:
        client.close()
    return latencies


def http_batches(url: str, body: bytes, batches: int, accept: str = PLAIN) -> float:
    def worker(count: int) -> None:
        client = EndpointClient(url)
        try:
            for _ in range(count):
                status, answer = client.invoke(body, "application/json", accept)
                if status != 200:
                    raise RuntimeError(f"the endpoint answered {status}: {answer[:200]!r}")
        finally:
            client.close()

    worker(5)
    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(worker, [batches // CONCURRENCY] * CONCURRENCY))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="single-record requests (at most 20000)")
    parser.add_argument("--batches", type=int, default=300, help="requests of 100 records (at most 5000)")
    args = parser.parse_args()
    requests, batches = min(args.requests, 20_000), min(args.batches, 5_000) // CONCURRENCY * CONCURRENCY
    with tempfile.TemporaryDirectory(prefix="endpoint-bench-") as scratch:
        home = Path(scratch)
        write(home / "churn.csv", generate(4000, seed=5), fmt="csv")
        result = run_pipeline("customer-churn", home / "churn.csv", home, log=lambda _line: None)
        package = Registry(home).decide(result.registered.group, result.registered.version, APPROVED, approver="bench")
        columns = input_columns(home, package)
        records = [{c: r[c] for c in columns} for r in generate(BATCH, seed=9)]
        single, batch = json.dumps(records[:1]), json.dumps(records)
        spec = EndpointSpec(name="bench", model_archive=package_archive(home, package), port=free_port())
        with LocalEndpoint(spec, home) as endpoint:
            latencies = http_single(endpoint.url, single.encode(), requests)
            batch_seconds = http_batches(endpoint.url, batch.encode(), batches)
            verbose_latencies = http_single(endpoint.url, single.encode(), requests, VERBOSE)
            verbose_seconds = http_batches(endpoint.url, batch.encode(), batches, VERBOSE)
            captured = sum(1 for _ in endpoint.capture_root.rglob("*.jsonl"))
        model_dir = str(endpoint.folder / "model")
        floor = json.loads(
            subprocess.run(  # noqa: S603
                [default_python(), "-c", FLOOR, model_dir, single, batch, str(requests), str(batches)],
                env={"PYTHONPATH": python_path(), "OMP_NUM_THREADS": "1"},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    http_rate = batches * BATCH / batch_seconds
    floor_rate = batches * BATCH / floor["batch_seconds"]  # one process; the server has 2 workers
    print(
        f"endpoint bench: {requests} single-record requests, {batches} x {BATCH}-record batches "
        f"at concurrency {CONCURRENCY}"
    )
    print(f"(data capture on at 100 %, {captured} capture file(s))")
    print(f"{'':<28}{'HTTP':>10}{'in-process':>12}{'ratio':>8}{'target':>12}")
    for share in (0.5, 0.95, 0.99):
        http_ms, floor_ms = 1000 * percentile(latencies, share), 1000 * percentile(floor["latencies"], share)
        target = f"<= {P99_TARGET_MS:g} ms" if share == 0.99 else ""
        name = f"1 record p{round(share * 100)} (ms)"
        print(f"{name:<28}{http_ms:>10.2f}{floor_ms:>12.2f}{http_ms / floor_ms:>8.2f}{target:>12}")
    print(
        f"{'100-record batches (rec/s)':<28}{http_rate:>10.0f}{floor_rate:>12.0f}{floor_rate / http_rate:>8.2f}"
        f"{f'>= {BATCH_TARGET_RECORDS_PER_S:g}':>12}"
    )
    print(f"ratios are HTTP time over in-process time (target <= {FLOOR_RATIO_TARGET:g}); the floor runs one process")
    bare_ms, in_process_ms = 1000 * percentile(floor["bare"], 0.5), 1000 * percentile(floor["latencies"], 0.5)
    print(
        f"1 record p50, in-process {in_process_ms:.3f} ms against a bare prediction on the parsed row "
        f"{bare_ms:.3f} ms: {in_process_ms / bare_ms:.1f}x (target <= {BARE_RATIO_TARGET:g}x)"
    )
    verbose_rate = batches * BATCH / verbose_seconds
    print(f"\nexplanations (Accept: {VERBOSE}), over HTTP")
    print(f"{'':<28}{'plain':>10}{'verbose':>12}{'ratio':>8}")
    for share in (0.5, 0.99):
        plain_ms, verbose_ms = 1000 * percentile(latencies, share), 1000 * percentile(verbose_latencies, share)
        name = f"1 record p{round(share * 100)} (ms)"
        print(f"{name:<28}{plain_ms:>10.2f}{verbose_ms:>12.2f}{verbose_ms / plain_ms:>8.2f}")
    print(f"{'100-record batches (rec/s)':<28}{http_rate:>10.0f}{verbose_rate:>12.0f}{http_rate / verbose_rate:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
