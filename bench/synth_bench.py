"""The synth budget: the whole app (every stage, every stack, cdk-nag on) beside a one-bucket stack, measured in
the same run, each in a fresh process as `cdk synth` runs it (interpreter, jsii runtime, app, synth).

The whole app runs twice a round: first with no pipeline definitions kept (build/definitions/ emptied: a first
synth, or one after a change to blueprint/ or ml_code/, which builds them with the SageMaker SDK), then with the
definitions that run kept (every later synth: `cdk diff`, `cdk deploy`). The budget is the latter at most 2x the
one-bucket stack; the first synth's ratio is printed beside it. Rounds alternate the three so that the machine's
noise hits each; the figures are medians.

    .venv/bin/python bench/synth_bench.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from blueprint.pipeline.builds import CACHE_DIR  # noqa: E402

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
    times: dict[str, list[float]] = {"one-bucket stack": [], "whole app, first": [], "whole app, kept": []}
    with tempfile.TemporaryDirectory() as scratch:
        for round_number in range(args.rounds):
            times["one-bucket stack"].append(
                timed([python, "-c", ONE_BUCKET], Path(scratch, f"one-{round_number}"), env)
            )
            shutil.rmtree(CACHE_DIR, ignore_errors=True)
            times["whole app, first"].append(timed([python, "app.py"], Path(scratch, f"first-{round_number}"), env))
            times["whole app, kept"].append(timed([python, "app.py"], Path(scratch, f"kept-{round_number}"), env))
        stacks = sorted(path.name for path in Path(scratch, "kept-0").glob("*.template.json"))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    floor = medians["one-bucket stack"]
    for name, runs in times.items():
        print(f"{name:<17}: median {medians[name]:6.2f} s  ({', '.join(f'{t:.2f}' for t in runs)})")
    print(f"{len(stacks)} stacks")
    first, kept = medians["whole app, first"] / floor, medians["whole app, kept"] / floor
    print(f"ratio            : {kept:.2f}x kept, {first:.2f}x first  (budget {BUDGET_RATIO:.1f}x, kept)")
    return 0 if kept <= BUDGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(record(__file__, main))
