"""Processing and training jobs on this machine: SageMaker's job contract without Docker.

A job gets a folder that stands for its container's file system (`<root>/opt/ml/...`): its S3 inputs are
copied in where the job's arguments say, its command runs with the environment SageMaker sets, and its
outputs are copied back to their S3 URIs (local buckets). A container cannot be asked to use another root,
so the step scripts are told where theirs is with the path options every one of them has: `--base-dir`
and `--failure-file` (processing), `--failure-file` and `--checkpoint-dir` (training), and the bootstrap's
`--code-package`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local_mode import ml_processes
from local_mode.deployment import XGBOOST_IMAGE
from local_mode.local_s3 import LocalS3
from ml_code import paths
from ml_code.archives import tar_gz
from ml_code.bootstrap import unpack

ROOT = Path(__file__).resolve().parents[1]
LOG_TAIL_CHARACTERS = 1500


class JobFailed(RuntimeError):
    """A job's command exited non-zero; the message carries its failure reason and where its log is."""


@dataclass(frozen=True)
class JobRunner:
    home: Path
    python: str  # the ML environment's interpreter: the container's Python and packages

    @property
    def s3(self) -> LocalS3:
        return LocalS3(self.home)

    def processing(self, root: Path, job_name: str, arguments: dict) -> dict:
        """Run a processing job; returns the properties DescribeProcessingJob would."""
        _download_inputs(self.s3, root, arguments.get("ProcessingInputs", []))
        app = arguments["AppSpecification"]
        image = app["ImageUri"]
        failure = container(root, paths.PROCESSING_FAILURE_FILE)
        environment = {key: _in_container(root, value) for key, value in arguments.get("Environment", {}).items()}
        if image != XGBOOST_IMAGE:  # every job of the platform runs in the framework container
            raise JobFailed(
                f"image {image!r} is not the framework image {XGBOOST_IMAGE}, the only one that runs locally"
            )
        self._run(
            job_name, self._bootstrap_command(root, app), root, failure, environment, limit=_max_runtime(arguments)
        )
        outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
        for output in outputs:
            self.s3.upload(container(root, output["S3Output"]["LocalPath"]), output["S3Output"]["S3Uri"])
        return {**arguments, "ProcessingJobName": job_name, "ProcessingJobStatus": "Completed"}

    def _bootstrap_command(self, root: Path, app: dict) -> list[str]:
        entrypoint = app.get("ContainerEntrypoint", [])
        if len(entrypoint) != 2 or entrypoint[0] != "python3":
            raise JobFailed(f"entrypoint {entrypoint} is not `python3 <script>`, the only one local mode runs")
        packages = sorted(container(root, paths.CODE_PACKAGE_INPUT).glob("*.tar.gz"))
        code_package = ["--code-package", str(packages[0])] if len(packages) == 1 else []
        return [
            self.python,
            str(container(root, entrypoint[1])),
            *code_package,
            *app.get("ContainerArguments", []),
            "--base-dir",
            str(container(root, paths.PROCESSING_BASE)),
            "--failure-file",
            str(container(root, paths.PROCESSING_FAILURE_FILE)),
        ]

    def training(self, root: Path, job_name: str, arguments: dict) -> dict:
        """Run a script-mode training job and pack model.tar.gz; returns DescribeTrainingJob's properties."""
        channels = {}
        for channel in arguments.get("InputDataConfig", []):
            name = channel["ChannelName"]
            channels[name] = container(root, f"/opt/ml/input/data/{name}")
            self.s3.download(channel["DataSource"]["S3DataSource"]["S3Uri"], channels[name])
        hyperparameters = {key: _decoded(value) for key, value in arguments.get("HyperParameters", {}).items()}
        program = hyperparameters.pop("sagemaker_program", None)
        submit_directory = hyperparameters.pop("sagemaker_submit_directory", None)
        if not program or not submit_directory:
            raise JobFailed("only script mode runs locally: sagemaker_program and sagemaker_submit_directory are unset")
        user = {key: value for key, value in hyperparameters.items() if not key.startswith("sagemaker_")}
        code = container(root, "/opt/ml/code")
        unpack(container(root, submit_directory), code)  # what the training toolkit does with the source
        model_dir = container(root, "/opt/ml/model")
        model_dir.mkdir(parents=True, exist_ok=True)
        checkpoints = container(root, paths.CHECKPOINT_DIR)
        if "CheckpointConfig" in arguments:  # managed spot training: the folder exists, the script resumes
            checkpoints.mkdir(parents=True, exist_ok=True)
        failure = container(root, paths.TRAINING_FAILURE_FILE)
        command = [
            self.python,
            str(code / program),
            *[item for key, value in user.items() for item in (f"--{key}", str(value))],
            "--failure-file",
            str(failure),
            "--checkpoint-dir",
            str(checkpoints),
        ]
        environment = {
            **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_HPS": json.dumps(user),
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(container(root, "/opt/ml/output/data")),
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOSTS": json.dumps(["algo-1"]),
            "SM_NUM_CPUS": str(os.cpu_count() or 1),
        }
        log = self._run(job_name, command, root, failure, environment, cwd=code, limit=_max_runtime(arguments))
        model_uri = f"{arguments['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
        archive = container(root, "/opt/ml/output/model.tar.gz")
        pack_model(model_dir, archive)
        self.s3.upload(archive, model_uri)
        return {
            **arguments,
            "TrainingJobName": job_name,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": model_uri},
            "FinalMetricDataList": final_metrics(
                log.read_text(errors="replace"), arguments.get("AlgorithmSpecification", {})
            ),
        }

    def _run(
        self,
        job_name: str,
        command: list[str],
        root: Path,
        failure: Path,
        environment: dict,
        cwd: Path | None = None,
        *,
        limit: int | None = None,
    ) -> Path:
        """Run a job's command; past `limit` seconds (its stopping condition) it is stopped, as SageMaker stops it."""
        log = failure.parent / f"{job_name}.log"  # the job's log, as CloudWatch would keep it
        env = {
            **os.environ,
            **environment,
            paths.LOCAL_HOME_ENV: str(self.home.resolve()),
            # the step scripts' imports come from the code package; local_mode (the local registry) from here
            "PYTHONPATH": python_path(),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        try:
            returncode = ml_processes.run(command, env=env, cwd=cwd or ROOT, log=log, timeout=limit)
        except subprocess.TimeoutExpired:
            raise JobFailed(
                f"stopped: the job ran past its stopping condition, MaxRuntimeInSeconds {limit} (log: {log})"
            ) from None
        if returncode != 0:
            raise JobFailed(f"{failure_reason(failure, log)} (exit {returncode}; log: {log})")
        return log


def _max_runtime(arguments: dict) -> int | None:
    """The job's StoppingCondition.MaxRuntimeInSeconds (none: it may run as long as it takes)."""
    return arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")


def container(root: Path, container_path: str) -> Path:
    """Where a container path (`/opt/ml/...`) of a job lives on this machine."""
    return root / container_path.lstrip("/")


def _in_container(root: Path, value: str) -> str:
    return str(container(root, value)) if isinstance(value, str) and value.startswith("/opt/ml/") else value


def _download_inputs(s3: LocalS3, root: Path, inputs: list[dict]) -> None:
    for job_input in inputs:
        source = job_input.get("S3Input")
        if source is None:
            raise JobFailed(f"input {job_input.get('InputName')}: only S3 inputs run locally")
        kind = source.get("S3DataType", "S3Prefix")
        if kind not in ("S3Prefix", "ManifestFile") or source.get("S3InputMode", "File") != "File":
            raise JobFailed(
                f"input {job_input['InputName']}: only S3Prefix and ManifestFile inputs in File mode run locally"
            )
        destination = container(root, source["LocalPath"])
        try:
            if kind == "ManifestFile":
                _download_manifest(s3, source["S3Uri"], destination)
            else:
                s3.download(source["S3Uri"], destination)
        except (FileNotFoundError, ValueError) as error:
            raise JobFailed(f"input {job_input['InputName']!r}: {error}") from error


def _download_manifest(s3: LocalS3, uri: str, destination: Path) -> None:
    """The objects a SageMaker manifest lists (`[{"prefix": "s3://..."}, "<key>", ...]`), each at `<destination>/<key>`
    as SageMaker places them."""
    manifest = json.loads(s3.path(uri).read_text())
    if (
        not isinstance(manifest, list)
        or not manifest
        or not isinstance(manifest[0], dict)
        or "prefix" not in manifest[0]
    ):
        raise ValueError(f'{uri} is not a manifest: a JSON list that starts with {{"prefix": ...}}')
    prefix = manifest[0]["prefix"]
    destination.mkdir(parents=True, exist_ok=True)
    for key in manifest[1:]:
        target = (destination / key).resolve()
        if destination.resolve() not in target.parents:
            raise ValueError(f"{uri} lists {key!r}, outside its prefix")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(s3.path(prefix + key), target)


def _decoded(value: str):
    """Hyperparameters are JSON-encoded by the SDK (`"\\"train.py\\""`); plain strings stay as they are."""
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def final_metrics(log: str, algorithm: dict) -> list[dict]:
    """FinalMetricDataList: the last value of each metric definition's regex in the job's log."""
    metrics = []
    for definition in algorithm.get("MetricDefinitions", []):
        values = re.findall(definition["Regex"], log)
        if values:
            metrics.append({"MetricName": definition["Name"], "Value": float(values[-1])})
    return metrics


def pack_model(model_dir: Path, destination: Path) -> Path:
    """model.tar.gz with the model directory's files at its root, as SageMaker packs it, deterministic (sorted, no
    times or owners: the same model files give the same archive, so its hash identifies the model)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(path for path in model_dir.rglob("*") if path.is_file())
    archive = tar_gz({path.relative_to(model_dir).as_posix(): path.read_bytes() for path in files})
    with tempfile.NamedTemporaryFile(dir=destination.parent, suffix=".part", delete=False) as handle:
        handle.write(archive)
    os.replace(handle.name, destination)
    return destination


def failure_reason(failure: Path, log: Path) -> str:
    """Why a process of the ML environment failed: its failure file, or else the end of its log."""
    if failure.is_file():
        return failure.read_text().strip()
    text = log.read_text(errors="replace").strip() if log.is_file() else ""
    return ("no failure reason written; the log ends: " + text[-LOG_TAIL_CHARACTERS:]) if text else "no output"


def python_path() -> str:
    """PYTHONPATH for a process in the ML environment: this repository first, then what the caller had."""
    return os.pathsep.join(part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part)


def default_python() -> str:
    """The interpreter the steps run with: the ML environment's (.venv-ml, the container's versions)."""
    candidate = ROOT / ".venv-ml" / "bin" / "python"
    if not candidate.exists():
        raise FileNotFoundError(
            "the ML environment .venv-ml (Python 3.10 with the container's packages) is missing: run `make venv-ml`"
        )
    return str(candidate)
