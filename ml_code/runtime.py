"""What every step script shares: logging set up in `main` only, and SageMaker's failure contract.

On an error a step writes the reason where SageMaker shows it (the failure file), logs it and exits 1;
it never leaves half-written outputs (each step validates and computes before it writes).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ml_code.paths import PROCESSING_BASE, PROCESSING_FAILURE_FILE

logger = logging.getLogger(__name__)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record (it can be replaced, as test runners do)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging() -> None:
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def parse_known(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse what the step knows; SageMaker may add arguments of its own, which are logged and ignored."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        logger.info("ignoring arguments %s", unknown)
    return args


def run_step(step: Callable[[], None], failure_file: str | Path) -> int:
    """Run a step; on an error write its reason to `failure_file` and return 1, else 0."""
    try:
        step()
    except Exception as error:  # the job's boundary: every failure becomes a reason and an exit code
        reason = f"{type(error).__name__}: {error}"
        logger.exception("step failed: %s", reason)
        write_failure(failure_file, reason)
        return 1
    return 0


def run_contract_step(argv: list[str] | None, description: str, step: Callable[[str, Path], object]) -> int:
    """The `main` of a processing job that needs its contract's name (`--contract`) and its folder: `step` gets both
    (`--base-dir`, default: the container's processing base); failures go to `--failure-file` as `run_step`'s do."""
    configure_logging()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--contract", required=True)
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    args = parse_known(parser, argv)
    return run_step(lambda: step(args.contract, args.base_dir), args.failure_file)


def run_base_dir_step(argv: list[str] | None, description: str, step: Callable[[Path], object]) -> int:
    """The `main` of a processing job that needs only its folder: `step` gets `--base-dir` (default: the container's
    processing base); failures go to `--failure-file` as `run_step`'s do."""
    configure_logging()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    args = parse_known(parser, argv)
    return run_step(lambda: step(args.base_dir), args.failure_file)


def write_failure(failure_file: str | Path, reason: str) -> None:
    path = Path(failure_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(reason[:1024] + "\n")  # SageMaker keeps the first 1 KB
    except OSError as error:  # the reason is in the log already; say why it is not in the file
        logger.error("could not write the failure reason to %s: %s", path, error)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old content or the new one, never a part."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new one, never a part."""
    with StagedFiles() as staged, staged.open(path) as handle:
        handle.write(data)


class StagedFiles:
    """Files written in full beside their final paths, moved into place together on success and removed on an
    error: a step that writes as it goes still leaves no half-written outputs."""

    def __init__(self) -> None:
        self._staged: dict[Path, Path] = {}

    def open(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", delete=False)
        self._staged[path] = Path(handle.name)
        return handle

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        for final, temp in self._staged.items():
            if error_type is None:
                os.replace(temp, final)
            else:
                temp.unlink(missing_ok=True)
