"""`local_mode run`: preprocess -> train -> evaluate -> gate, as SageMaker would run them, without Docker or AWS.

Each step runs its real script in a subprocess, in a SageMaker-shaped tree under the work directory
(`<workdir>/<step>/opt/ml/...`) with the environment variables the containers set; model.tar.gz is packed
between training and evaluation, as SageMaker does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ml_code import paths
from ml_code.contracts.contract import DatasetContract
from ml_code.evaluation.champion import metric_at

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "preprocess": ROOT / "ml_code" / "processing" / "preprocess.py",
    "train": ROOT / "ml_code" / "training" / "train.py",
    "evaluate": ROOT / "ml_code" / "evaluation" / "evaluate.py",
}
EXIT_PASS, EXIT_ERROR, EXIT_GATE_FAILED = 0, 1, 3


class StepFailed(RuntimeError):
    """A step's script exited non-zero; the message carries its failure reason."""


@dataclass
class RunResult:
    contract: DatasetContract
    report: dict
    metric_value: float
    passed: bool
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_PASS if self.passed else EXIT_GATE_FAILED


def container_path(workdir: Path, step: str, path: str) -> Path:
    """Where a container path (`/opt/ml/...`) of a step lives under the work directory."""
    return workdir / step / path.lstrip("/")


def prepare_input(data: Path, destination: Path, columns: list[str] | None) -> None:
    """Copy the data into the processing input: a CSV file (a header-less one gets `columns` as its header),
    or a folder of CSV files such as the ETL's curated output (copied with its sub-folders)."""
    if data.is_dir():
        files = sorted(path for path in data.rglob("*.csv") if not path.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"no CSV file under {data}")
        if columns:
            raise ValueError("--columns is for a single header-less CSV file, not a folder")
        for path in files:
            target = destination / path.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return
    if not data.is_file():
        raise FileNotFoundError(f"no data file or folder at {data}")
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / (data.stem + ".csv")
    if columns:
        with target.open("w") as out, data.open() as source:
            out.write(",".join(_csv_field(column) for column in columns) + "\n")
            shutil.copyfileobj(source, out)
    else:
        shutil.copyfile(data, target)


def _csv_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n') else name


def run_script(
    step: str, args: list[str], *, python: str, failure_file: Path, env: dict[str, str] | None = None
) -> float:
    """Run one step's script; raise StepFailed with its failure reason when it exits non-zero."""
    started = time.monotonic()
    command = [python, str(SCRIPTS[step]), *args, "--failure-file", str(failure_file)]
    log = step_log(failure_file, step)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:  # the step's own log, as CloudWatch would keep it
        result = subprocess.run(
            command, env={**os.environ, **(env or {})}, stdout=handle, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        reason = failure_file.read_text().strip() if failure_file.is_file() else "no failure reason written"
        raise StepFailed(f"{step} failed (exit {result.returncode}): {reason} (log: {log})")
    return time.monotonic() - started


def step_log(failure_file: Path, step: str) -> Path:
    """`<workdir>/<step>/opt/ml/output/<step>.log`: beside the failure file, where a person looks."""
    return failure_file.parent / f"{step}.log"


def pack_model(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz with the model directory's files at its root, as SageMaker packs it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return destination


def run_pipeline(
    contract_source: str | Path,
    contract: DatasetContract,
    data: Path,
    workdir: Path,
    *,
    python: str = sys.executable,
    seed: int = paths.DEFAULT_SEED,
    columns: list[str] | None = None,
    hyperparameters: dict[str, str] | None = None,
) -> RunResult:
    """Run the three steps and the gate; raise StepFailed (or a data error) when a step fails."""
    for step in SCRIPTS:  # a rerun starts clean, but only in the folders this runner owns
        shutil.rmtree(workdir / step, ignore_errors=True)
    timings = {}

    processing = container_path(workdir, "preprocess", paths.PROCESSING_BASE)
    prepare_input(data, processing / paths.PROCESSING_INPUT_DATA, columns)
    failure = container_path(workdir, "preprocess", paths.PROCESSING_FAILURE_FILE)
    timings["preprocess"] = run_script(
        "preprocess",
        ["--contract", str(contract_source), "--base-dir", str(processing), "--seed", str(seed)],
        python=python,
        failure_file=failure,
    )

    training = container_path(workdir, "train", paths.TRAINING_BASE)
    channels = {channel: training / "input" / "data" / channel for channel in paths.TRAINING_CHANNELS}
    for channel, path in channels.items():
        shutil.copytree(processing / channel, path)
    checkpoints = container_path(workdir, "train", paths.CHECKPOINT_DIR)
    checkpoints.mkdir(parents=True)  # as with managed spot training: the script checkpoints when it exists
    hp_args = [item for name, value in (hyperparameters or {}).items() for item in (f"--{name}", str(value))]
    timings["train"] = run_script(
        "train",
        [*hp_args, "--seed", str(seed), "--checkpoint-dir", str(checkpoints)],
        python=python,
        failure_file=container_path(workdir, "train", paths.TRAINING_FAILURE_FILE),
        env={
            **{f"SM_CHANNEL_{channel.upper()}": str(path) for channel, path in channels.items()},
            "SM_MODEL_DIR": str(training / "model"),
            "SM_OUTPUT_DATA_DIR": str(training / "output" / "data"),
        },
    )

    evaluation = container_path(workdir, "evaluate", paths.PROCESSING_BASE)
    pack_model(training / "model", evaluation / paths.EVALUATION_MODEL_INPUT / paths.MODEL_ARCHIVE)
    shutil.copytree(processing / "test", evaluation / paths.EVALUATION_TEST_INPUT)
    timings["evaluate"] = run_script(
        "evaluate",
        ["--base-dir", str(evaluation), "--seed", str(seed)],
        python=python,
        failure_file=container_path(workdir, "evaluate", paths.PROCESSING_FAILURE_FILE),
    )

    report = json.loads((evaluation / paths.EVALUATION_OUTPUT / paths.REPORT_FILE).read_text())
    value = metric_at(report, contract.report_metric_path)
    return RunResult(contract, report, value, contract.passes(value), timings)


def summary(result: RunResult) -> str:
    """What a data scientist reads after a run: the metrics and the gate's decision."""
    contract = result.contract
    lines = [f"local mode: {contract.name} ({contract.problem_type})"]
    lines += [f"  {step:<10} {seconds:6.1f} s" for step, seconds in result.timings.items()]
    lines.append("metrics on the test split (value ± bootstrap standard deviation):")
    for name, metric in result.report[f"{contract.problem_type}_metrics"].items():
        if isinstance(metric, dict) and "value" in metric:
            lines.append(f"  {name:<10} {metric['value']:.4f} ± {metric['standard_deviation']:.4f}")
    comparison = ">=" if contract.metric.higher_is_better else "<="
    decision = "PASS: would register as PendingManualApproval" if result.passed else "FAIL: not registered"
    lines.append(
        f"gate: {contract.metric.name} {result.metric_value:.4f} {comparison} {contract.metric.threshold} -> {decision}"
    )
    return "\n".join(lines)
