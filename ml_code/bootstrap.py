"""Entry point of the processing jobs: unpack the code package, then run one step module as `__main__`.

SageMaker copies the code package (a tar.gz of the ml_code package, named by its hash) into
CODE_PACKAGE_INPUT; this script (the job's `code`) extracts it and runs `python -m <module> <arguments>`. Usage:
    python3 bootstrap.py --module ml_code.processing.preprocess -- --contract customer-churn
Standard library only, and self-contained: it runs before ml_code is importable.

Once the step has returned (its outputs written whole, or its failure file), the process ends at once with the
step's exit code: a library's threads still running at interpreter shutdown (pyarrow's pool joining its workers,
say) must not hold the job until its time limit.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import tarfile
import tempfile
from pathlib import Path

CODE_PACKAGE_INPUT = "/opt/ml/processing/input/code_package"  # = ml_code.paths.CODE_PACKAGE_INPUT


def find_package(folder: Path) -> Path:
    """The one .tar.gz in `folder`."""
    found = sorted(folder.glob("*.tar.gz"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one code package (.tar.gz) in {folder}, found {[p.name for p in found]}")
    return found[0]


def unpack(archive_path: Path, destination: Path) -> None:
    """Extract regular files only, and only inside `destination`."""
    with tarfile.open(archive_path) as archive:
        for member in archive.getmembers():
            target = (destination / member.name).resolve()
            if not member.isfile() or destination.resolve() not in target.parents:
                raise ValueError(f"{archive_path}: refusing archive member {member.name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(member).read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--module", required=True, help="the step to run, e.g. ml_code.processing.preprocess")
    parser.add_argument("--code-package", type=Path, help="default: the .tar.gz in " + CODE_PACKAGE_INPUT)
    args, rest = parser.parse_known_args(argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    source_root = Path(tempfile.mkdtemp(prefix="code-"))
    unpack(args.code_package or find_package(Path(CODE_PACKAGE_INPUT)), source_root)
    sys.path.insert(0, str(source_root))
    sys.argv = [args.module, *rest]
    try:
        runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:  # the step's `sys.exit(main())`
        return exit_code(stop)
    return 0


def exit_code(stop: SystemExit) -> int:
    """The exit status `sys.exit(code)` asks for: 0 for None, the number, else 1 (a message, printed)."""
    if stop.code is None or isinstance(stop.code, int):
        return stop.code or 0
    sys.stderr.write(f"{stop.code}\n")
    return 1


def exit_now(code: int) -> None:
    """End the process with `code` without interpreter shutdown (no thread joins, no atexit), its output flushed."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
