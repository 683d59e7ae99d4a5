"""Start, wait for and stop a local endpoint: gunicorn serving a model in the ML environment, on loopback.

The model is a registry version (default: the newest Approved of the group) or a model.tar.gz; it is unpacked
into `<home>/endpoints/<endpoint>/model`, as SageMaker unpacks ModelDataUrl into /opt/ml/model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from local_mode.deployment import MONITORING_BUCKET
from local_mode.jobs import default_python, python_path
from local_mode.local_s3 import S3_DIR, LocalS3
from local_mode.registry import APPROVED, ModelPackage, Registry, RegistryError
from local_mode.serving import CAPTURE_ENV, ENDPOINT_ENV, MODEL_DIR_ENV, SETTINGS_ENV
from local_mode.serving.capture import check_sampling_percentage
from ml_code.paths import DATA_CAPTURE_PREFIX, ENDPOINT_VARIANT

ENDPOINTS_DIR = "endpoints"
# <home>/s3/local-monitoring/datacapture/<endpoint>/<variant>/yyyy/mm/dd/hh/: the monitoring bucket, as on AWS
CAPTURE_DIR = f"{S3_DIR}/{MONITORING_BUCKET}/{DATA_CAPTURE_PREFIX}"
DEFAULT_PORT = 8080  # the container's port
START_TIMEOUT_SECONDS = 60.0
THREADS_PER_WORKER = 8  # requests a worker serves at once: slow clients hold threads, not whole workers


class EndpointError(RuntimeError):
    """The endpoint could not start, or its model could not be found."""


ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's own pattern for endpoint names


def check_endpoint_name(name: str) -> str:
    """`name` when it is a SageMaker endpoint name: it names folders under the workdir, so no path may hide in it."""
    if not ENDPOINT_NAME.match(name):
        raise ValueError(
            f"endpoint name {name!r} is not a SageMaker endpoint name: up to 63 letters, digits and single hyphens, "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    model_archive: Path
    port: int = DEFAULT_PORT
    workers: int = 2
    sampling_percentage: float | None = 100.0  # None: no data capture
    variant: str = ENDPOINT_VARIANT
    model_package_arn: str | None = None  # the package served (None: a bare model archive), in each capture record

    def __post_init__(self) -> None:
        check_endpoint_name(self.name)
        if self.workers < 1:
            raise ValueError(f"an endpoint needs at least 1 worker, got {self.workers}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not a TCP port")
        if self.sampling_percentage is not None:
            check_sampling_percentage(self.sampling_percentage)


def approved_package(home: Path, group: str, version: int | None = None) -> ModelPackage:
    """The package to serve: `version` (which must be Approved) or the newest Approved one of `group`."""
    registry = Registry(home)
    if version is None:
        package = registry.newest(group, APPROVED)
        if package is None:
            raise RegistryError(
                f"group {group!r} has no Approved version: approve one with `local_mode registry approve`"
            )
        return package
    package = registry.package(group, version)
    if package.status != APPROVED:
        raise RegistryError(f"{group} version {version} is {package.status}, not Approved: only approved models serve")
    return package


def package_archive(home: Path, package: ModelPackage) -> Path:
    return LocalS3(home).path(package.model_data_url)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalEndpoint:
    """A running endpoint; use it as a context manager, or `start` and `stop` it."""

    def __init__(self, spec: EndpointSpec, home: Path, *, python: str | None = None) -> None:
        self.spec = spec
        self.home = Path(home).resolve()
        self.folder = self.home / ENDPOINTS_DIR / spec.name
        self.python = python or default_python()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"

    @property
    def capture_root(self) -> Path:
        return self.home / CAPTURE_DIR / self.spec.name / self.spec.variant

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> LocalEndpoint:
        require_free_port(self.spec.port)
        model_dir = unpack(self.spec.model_archive, self.folder / "model")
        env = {
            **os.environ,
            "PYTHONPATH": python_path(),
            MODEL_DIR_ENV: str(model_dir),
            SETTINGS_ENV: json.dumps(
                {
                    "bind": f"127.0.0.1:{self.spec.port}",
                    "workers": self.spec.workers,
                    "threads": THREADS_PER_WORKER,
                    "log": str(self.log_file),
                }
            ),
            ENDPOINT_ENV: json.dumps({"name": self.spec.name, "variant": self.spec.variant}),
            "OMP_NUM_THREADS": "1",  # the container's default: one thread per worker process
        }
        if self.spec.sampling_percentage is not None:
            env[CAPTURE_ENV] = json.dumps(
                {
                    "destination": str(self.home / CAPTURE_DIR),
                    "endpoint": self.spec.name,
                    "variant": self.spec.variant,
                    "sampling_percentage": self.spec.sampling_percentage,
                    "model_package_arn": self.spec.model_package_arn,
                }
            )
        self.log_file.unlink(missing_ok=True)
        command = [self.python, "-m", "gunicorn", "--config", "python:local_mode.serving.gunicorn_conf"]
        # Its own session: a Ctrl-C at the terminal reaches the launcher only, which stops the server gracefully (in
        # gunicorn, SIGINT is a quick shutdown that fails the requests in flight); and it goes when the launcher does.
        self.process = subprocess.Popen(  # noqa: S603  (our interpreter, our module)
            [*command, "local_mode.serving.wsgi:application"],
            env=env,
            cwd=self.folder,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_terminate_with_parent,  # noqa: PLW1509  (no threads in the child before exec)
        )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EndpointError(f"endpoint {self.spec.name} exited while starting:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise EndpointError(
            f"endpoint {self.spec.name} did not answer /ping within {timeout:.0f} s:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 30.0) -> int | None:
        """Shut down gracefully (workers flush their data capture); returns the server's exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise EndpointError(f"endpoint {self.spec.name} did not stop within {timeout:.0f} s; killed") from None

    def log_tail(self, characters: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-characters:] if self.log_file.is_file() else "(no log)"

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def _terminate_with_parent() -> None:
    """In the server's process before it execs: on Linux, a SIGTERM (a graceful stop) when the launcher dies, however
    it dies; elsewhere the launcher's own stop is all there is."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def unpack(archive: Path, destination: Path) -> Path:
    """Unpack model.tar.gz into an empty `destination` (members may not escape it)."""
    if not archive.is_file():
        raise EndpointError(f"no model archive at {archive}")
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise EndpointError(f"{archive} is not a model archive, a gzip-compressed tar ({error})") from None
    return destination


def require_free_port(port: int) -> None:
    """Fail, saying so, when something listens on `port` already: the server could not bind it, and /ping would
    reach the other server."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise EndpointError(
                f"port {port} is in use ({error.strerror}): stop what listens there, or pass another --port"
            ) from None
