"""Processing and training jobs on this machine: SageMaker's job contract without Docker.

A job gets a folder that stands for its container's file system (`<root>/opt/ml/...`): its S3 inputs are
copied in where the job's arguments say, its command runs with the environment SageMaker sets, and its
outputs are copied back to their S3 URIs (local buckets). A container cannot be asked to use another root,
so the step scripts are told where theirs is with the path options every one of them has: `--base-dir`
and `--failure-file` (processing), `--failure-file` and `--checkpoint-dir` (training), and the bootstrap's
`--code-package`.

A job of several instances runs them at once, a process and a folder each (`<root>/hosts/algo-<n>` beyond the
first), with SageMaker's host environment (`SM_HOSTS`, `SM_CURRENT_HOST`, `resourceconfig.json`) and the tracker of
their collective on loopback (ml_code/cluster.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from local_mode import ml_processes
from local_mode.deployment import XGBOOST_IMAGE
from local_mode.local_s3 import LocalS3
from local_mode.registry import STEP_CLIENTS
from ml_code import cluster, paths, settings
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
        """Run a processing job on its `InstanceCount` instances (processes of this machine, in parallel, each with
        its share of an input sharded by S3 key); returns the properties DescribeProcessingJob would. Every
        instance's outputs go to their S3 URIs, together."""
        app = arguments["AppSpecification"]
        image = app["ImageUri"]
        if image != XGBOOST_IMAGE:  # every job of the platform runs in the framework container
            raise JobFailed(
                f"image {image!r} is not the framework image {XGBOOST_IMAGE}, the only one that runs locally"
            )
        count = arguments.get("ProcessingResources", {}).get("ClusterConfig", {}).get("InstanceCount", 1)

        def prepare(root: Path, hosts: tuple[str, ...], host: str, tracker: dict) -> tuple:
            _download_inputs(self.s3, root, arguments.get("ProcessingInputs", []), hosts, host)
            environment = {key: _in_container(root, value) for key, value in arguments.get("Environment", {}).items()}
            failure = container(root, paths.PROCESSING_FAILURE_FILE)
            host_environment = _host_environment(root, cluster.PROCESSING_RESOURCE_CONFIG, hosts, host)
            return (
                job_name,
                self._bootstrap_command(root, app),
                root,
                failure,
                {**environment, **host_environment, **tracker},
                None,
            )

        hosts, _logs = self._on_hosts(root, job_name, count, prepare, limit=_max_runtime(arguments))
        for output in arguments.get("ProcessingOutputConfig", {}).get("Outputs", []):
            for number, host in enumerate(hosts):  # the instances' files together under the output's URI
                local = container(host_root(root, host), output["S3Output"]["LocalPath"])
                self.s3.upload(local, output["S3Output"]["S3Uri"], replace=number == 0)
        return {**arguments, "ProcessingJobName": job_name, "ProcessingJobStatus": "Completed"}

    def _on_hosts(
        self, root: Path, job_name: str, count: int, prepare: Callable, *, limit: int | None
    ) -> tuple[tuple[str, ...], list[Path]]:
        """Run a job on `count` hosts at once, each made ready by `prepare(host's root, hosts, host, tracker
        environment)` (what `_run` runs there); returns the hosts and their logs. When a host fails, the others are
        stopped (they would wait for it) and the job fails with the first host's reason."""
        count = int(count)
        if count < 1:
            raise JobFailed(f"InstanceCount {count}: a job needs at least one instance")
        hosts = tuple(f"algo-{number}" for number in range(1, count + 1))
        # the hosts' tracker (ml_code/cluster.py) on loopback: the hosts' names do not resolve here
        tracker = {cluster.TRACKER_ENV: f"127.0.0.1:{free_port()}"} if count > 1 else {}
        runs = [prepare(host_root(root, host), hosts, host, tracker) for host in hosts]
        stop = _Stop()
        with ThreadPoolExecutor(max_workers=count) as pool:
            outcomes = [pool.submit(self._run, *run, limit=limit, stop=stop) for run in runs]
        if stop.cause is not None:
            host, error = next(host for host in hosts if host_root(root, host) == stop.cause), stop.error
            raise (JobFailed(f"{host}: {error}") if count > 1 else error) from None
        return hosts, [outcome.result() for outcome in outcomes]

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
        """Run a script-mode training job on its `InstanceCount` hosts (processes of this machine, in parallel) and
        pack model.tar.gz from the first host's model; returns DescribeTrainingJob's properties."""
        count = arguments.get("ResourceConfig", {}).get("InstanceCount", 1)

        def prepare(root: Path, hosts: tuple[str, ...], host: str, tracker: dict) -> tuple:
            return self._training_host(root, job_name, arguments, hosts, host, tracker)

        _hosts, logs = self._on_hosts(root, job_name, count, prepare, limit=_max_runtime(arguments))
        log = logs[0]
        model_uri = f"{arguments['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
        archive = container(root, "/opt/ml/output/model.tar.gz")
        pack_model(container(root, paths.MODEL_DIR), archive)
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

    def _training_host(
        self, root: Path, job_name: str, arguments: dict, hosts: tuple[str, ...], host: str, tracker: dict
    ) -> tuple:
        """One host of a training job, made ready: its channels (its share of a channel sharded by S3 key), its code,
        its resource config; returns what `_run` runs on it (the script with SageMaker's environment for the host)."""
        channels, distributions = {}, {}
        for channel in arguments.get("InputDataConfig", []):
            name, source = channel["ChannelName"], channel["DataSource"]["S3DataSource"]
            distributions[name] = source.get("S3DataDistributionType", cluster.REPLICATED)
            channels[name] = container(root, f"/opt/ml/input/data/{name}")
            self.s3.download(source["S3Uri"], channels[name], shard=_share(distributions[name], hosts, host))
        hyperparameters = {key: _decoded(value) for key, value in arguments.get("HyperParameters", {}).items()}
        program = hyperparameters.pop("sagemaker_program", None)
        submit_directory = hyperparameters.pop("sagemaker_submit_directory", None)
        if not program or not submit_directory:
            raise JobFailed("only script mode runs locally: sagemaker_program and sagemaker_submit_directory are unset")
        user = {key: value for key, value in hyperparameters.items() if not key.startswith("sagemaker_")}
        code = container(root, "/opt/ml/code")
        unpack(container(root, submit_directory), code)  # what the training toolkit does with the source
        model_dir = container(root, paths.MODEL_DIR)
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
            "SM_INPUT_DATA_CONFIG": json.dumps(
                {name: {"S3DistributionType": distribution} for name, distribution in distributions.items()}
            ),
            "SM_HPS": json.dumps(user),
            "SM_MODEL_DIR": str(model_dir),
            "SM_OUTPUT_DATA_DIR": str(container(root, "/opt/ml/output/data")),
            **_host_environment(root, cluster.RESOURCE_CONFIG, hosts, host),
            **tracker,
        }
        return job_name, command, root, failure, environment, code

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
        stop: _Stop | None = None,
    ) -> Path:
        """Run a job's command; past `limit` seconds (its stopping condition) it is stopped, as SageMaker stops it.
        With `stop` (one of several hosts), a failure stops the other hosts' commands."""
        log = failure.parent / f"{job_name}.log"  # the job's log, as CloudWatch would keep it
        env = {
            **os.environ,
            **environment,
            settings.LOCAL_HOME_ENV: str(self.home.resolve()),
            settings.REGISTRY_CLIENTS_ENV: STEP_CLIENTS,
            # the step scripts' imports come from the code package; local_mode (the local registry) from here
            "PYTHONPATH": python_path(),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        try:
            try:
                returncode = ml_processes.run(
                    command, env=env, cwd=cwd or ROOT, log=log, timeout=limit, started=stop and stop.started
                )
            except subprocess.TimeoutExpired:
                raise JobFailed(
                    f"stopped: the job ran past its stopping condition, MaxRuntimeInSeconds {limit} (log: {log})"
                ) from None
            if returncode != 0:
                raise JobFailed(f"{failure_reason(failure, log)} (exit {returncode}; log: {log})")
        except JobFailed as error:
            if stop is None:
                raise
            stop.failed(root, error)
        return log


class _Stop:
    """The hosts of one job: the first to fail is the job's cause, and stops the others' processes (also those that
    start after it failed)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: list[int] = []
        self.cause: Path | None = None  # the root of the first host to fail
        self.error: JobFailed | None = None

    def started(self, pid: int) -> None:
        with self._lock:
            self._pids.append(pid)
            if self.cause is not None:
                _kill(pid)

    def failed(self, root: Path, error: JobFailed) -> None:
        with self._lock:
            if self.cause is None:
                self.cause, self.error = root, error
                for pid in self._pids:
                    _kill(pid)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended already
        os.kill(pid, signal.SIGKILL)


def _share(distribution: str, hosts: tuple[str, ...], host: str) -> tuple[int, int] | None:
    """Which share of an input of that distribution the host gets: (its index, the hosts) when sharded by S3 key,
    else all of it."""
    return (hosts.index(host), len(hosts)) if distribution == cluster.SHARDED else None


def _host_environment(root: Path, resource_config: str, hosts: tuple[str, ...], host: str) -> dict[str, str]:
    """What SageMaker tells a host of a job about the job's hosts: its resource config file (written), and the
    variables script mode sets (a processing job's scripts read them locally, where /opt/ml is not the root)."""
    path = container(root, resource_config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current_host": host, "hosts": list(hosts)}))
    return {
        "SM_CURRENT_HOST": host,
        "SM_HOSTS": json.dumps(list(hosts)),
        "SM_NUM_CPUS": str(max(1, (os.cpu_count() or 1) // len(hosts))),  # the hosts share this machine's cores
    }


def host_root(root: Path, host: str) -> Path:
    """The folder standing for a host's container: the job's own for the first host, `hosts/<host>` beside it for
    the others."""
    return root if host == "algo-1" else root / "hosts" / host


def free_port() -> int:
    """A TCP port free on loopback now (the system's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _max_runtime(arguments: dict) -> int | None:
    """The job's StoppingCondition.MaxRuntimeInSeconds (none: it may run as long as it takes)."""
    return arguments.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")


def container(root: Path, container_path: str) -> Path:
    """Where a container path (`/opt/ml/...`) of a job lives on this machine."""
    return root / container_path.lstrip("/")


def _in_container(root: Path, value: str) -> str:
    return str(container(root, value)) if isinstance(value, str) and value.startswith("/opt/ml/") else value


def _download_inputs(s3: LocalS3, root: Path, inputs: list[dict], hosts: tuple[str, ...], host: str) -> None:
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
                share = _share(source.get("S3DataDistributionType", cluster.REPLICATED), hosts, host)
                s3.download(source["S3Uri"], destination, shard=share)
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
