"""Deterministic archives of ml_code for the jobs that run it (same sources -> same bytes -> same asset hash).

Written under build/packages/ at synth; CDK then stages them as file assets. No network, no Docker.
"""

from __future__ import annotations

import io
import modulefinder
import zipfile
from pathlib import Path

from ml_code.archives import tar_gz
from ml_code.runtime import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
ML_CODE = ROOT / "ml_code"
BUILD_DIR = ROOT / "build" / "packages"
PACKAGED_SUFFIXES = (".py", ".json")
TRACKING_ENTRY = ROOT / "tracking" / "__main__.py"
TRACKING_LOCK = ROOT / "locks" / "tracking.txt"  # what the logging build installs
_EPOCH_ZIP = (1980, 1, 1, 0, 0, 0)


def ml_code_files() -> list[Path]:
    """The sources a job needs: every .py and .json file of ml_code (no caches, no local settings)."""
    return sorted(
        path
        for path in ML_CODE.rglob("*")
        if path.is_file() and path.suffix in PACKAGED_SUFFIXES and "__pycache__" not in path.parts
    )


def ml_code_zip() -> Path:
    """`ml_code.zip` with the package at its root, for Glue's --extra-py-files."""
    return _write_if_changed(BUILD_DIR / "ml_code.zip", _zip(ml_code_sources()))


def tracking_sources() -> dict[str, bytes]:
    """What the logging build runs (`python -m tracking`): the modules of this repository it imports, found from its
    entry point, and the lock it installs, by their paths in the repository."""
    finder = modulefinder.ModuleFinder(path=[str(ROOT)])  # this repository's modules only: the rest are installed
    finder.run_script(str(TRACKING_ENTRY))
    files = sorted({Path(module.__file__) for module in finder.modules.values() if module.__file__} | {TRACKING_LOCK})
    return {str(path.relative_to(ROOT)): path.read_bytes() for path in files}


def tracking_zip() -> Path:
    """`tracking.zip`, the logging build's source: the repository's files it needs, at their paths."""
    return _write_if_changed(BUILD_DIR / "tracking.zip", _zip(tracking_sources()))


def _zip(files: dict[str, bytes]) -> bytes:
    """A zip of `files` (path -> content) with fixed dates and modes: same files, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=_EPOCH_ZIP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def ml_code_sourcedir() -> Path:
    """`sourcedir.tar.gz` with the package at its root, for SageMaker script mode and processing code."""
    return _write_if_changed(BUILD_DIR / "sourcedir.tar.gz", tar_gz(ml_code_sources()))


def ml_code_sources() -> dict[str, bytes]:
    """The packaged files by their path in the archive (`ml_code/...`)."""
    return {str(path.relative_to(ROOT)): path.read_bytes() for path in ml_code_files()}


def _write_if_changed(path: Path, content: bytes) -> Path:
    if not path.is_file() or path.read_bytes() != content:
        # staged in a temporary file of this writer's own: synths in other processes may write it at once
        atomic_write_bytes(path, content)
    return path
