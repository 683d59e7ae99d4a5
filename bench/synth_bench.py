"""The synth budget: the whole app (every stage, every stack, cdk-nag on) beside a one-bucket stack, measured in
the same run, each in a fresh process as `cdk synth` runs it (interpreter, jsii runtime, app, synth).

The budget is the whole app at most 2x the one-bucket stack. Rounds alternate the two so that the machine's
noise hits both; the figures are medians.

    .venv/bin/python bench/synth_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402

BUDGET_RATIO = 2.0

ONE_BUCKET = """
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
app = cdk.App()
s3.Bucket(cdk.Stack(app, "OneBucket"), "Bucket")
app.synth()
"""


def synth_environment() -> dict[str, str]:
    """This process's environment plus offline.env and cdk.json's context, as `make synth` runs the app."""
    env = dict(os.environ, CDK_CONTEXT_JSON=json.dumps(json.loads((ROOT / "cdk.json").read_text())["context"]))
    for line in (ROOT / "offline.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def timed(argv: list[str], outdir: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env={**env, "CDK_OUTDIR": str(outdir)}, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    env = synth_environment()
    python = sys.executable
    one_bucket, platform = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(args.rounds):
            one_bucket.append(timed([python, "-c", ONE_BUCKET], Path(scratch, f"one-{round_number}"), env))
            platform.append(timed([python, "app.py"], Path(scratch, f"app-{round_number}"), env))
        stacks = sorted(path.name for path in Path(scratch, "app-0").glob("*.template.json"))
    floor, whole = statistics.median(one_bucket), statistics.median(platform)
    runs = {name: ", ".join(f"{t:.2f}" for t in times) for name, times in (("one", one_bucket), ("app", platform))}
    print(f"one-bucket stack : median {floor:6.2f} s  ({runs['one']})")
    print(f"whole app        : median {whole:6.2f} s  ({runs['app']}), {len(stacks)} stacks")
    print(f"ratio            : {whole / floor:.2f}x  (budget {BUDGET_RATIO:.1f}x)")
    return 0 if whole / floor <= BUDGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(record(__file__, main))
