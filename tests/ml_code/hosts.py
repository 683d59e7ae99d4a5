"""Run a script on several hosts at once, as SageMaker starts a job's instances: processes of the ML environment
(forked from an interpreter that has imported its libraries, as local mode runs them), each with SageMaker's host
environment, joined on loopback."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local_mode import ml_processes
from local_mode.jobs import ROOT, free_port
from ml_code.cluster import TRACKER_ENV

TIMEOUT = 180


def run_on_hosts(commands: dict[str, list[str]], logs: Path, env: dict[str, str] | None = None) -> dict:
    """Each host's `[python, ...]` command at once; {host: (exit status, its log)}."""
    shared = {
        **os.environ,
        **(env or {}),
        "SM_HOSTS": json.dumps(list(commands)),
        "SM_NUM_CPUS": "1",  # the hosts share this machine's cores
        TRACKER_ENV: f"127.0.0.1:{free_port()}",
    }

    def run(host: str) -> tuple[int, str]:
        log = logs / f"{host}.log"
        code = ml_processes.run(
            commands[host], env={**shared, "SM_CURRENT_HOST": host}, cwd=ROOT, log=log, timeout=TIMEOUT
        )
        return code, log.read_text()

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return dict(zip(commands, pool.map(run, commands), strict=True))
