"""Runs `python -m local_mode ...` from the repository root, as a person would (both test environments use it),
or its `main` in this process."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def local_mode(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local_mode", *map(str, args)],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def local_mode_here(*args: object) -> subprocess.CompletedProcess:
    """What `local_mode(*args)` gives, from `local_mode.__main__.main` in this process: the command's code, output and
    exit status without a new interpreter of its own (its imports, the SDK's among them, and the ML environment's
    forking interpreter are this process's). For the commands whose subject is what they do, not their process."""
    from local_mode.__main__ import LOG_FORMAT, main

    argv, stdout, stderr = [str(arg) for arg in args], io.StringIO(), io.StringIO()
    log = logging.StreamHandler(stderr)  # the log lines its own process would write to stderr
    log.setFormatter(logging.Formatter(LOG_FORMAT))
    root, here = logging.getLogger(), Path.cwd()
    level = root.level
    root.addHandler(log)
    root.setLevel(logging.INFO)
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                status = main(argv)
            except SystemExit as exit_:  # argparse's errors, as the interpreter would report them
                status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(here)
        root.removeHandler(log)
        root.setLevel(level)
    return subprocess.CompletedProcess(["local_mode", *argv], status, stdout.getvalue(), stderr.getvalue())
