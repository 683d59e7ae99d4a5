"""A real MLflow tracking server on a loopback port, for the tests of experiment tracking."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_mode.serving.endpoint import free_port

START_SECONDS = 60


@contextlib.contextmanager
def tracking_server(root: Path, *artifacts: str) -> Iterator[str]:
    """A server with its SQLite store in `root`, `artifacts` saying where runs keep their artifacts (the server's
    options: `--artifacts-destination <folder>` to proxy them, `--default-artifact-root s3://... --no-serve-artifacts`
    to have clients write them as a SageMaker AI tracking server does); its URI while the block runs."""
    port = free_port()
    log = root / "server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'store.db'}"]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, *artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=1):  # noqa: S310 (loopback)
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the MLflow server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.25)
        yield uri
    finally:
        process.terminate()
        process.wait(timeout=30)
