"""A benchmark's page in the docs: a bench script run through `record` writes `docs/benchmarks/<script>.md` with what
it printed, the command, the commit, the machine and the date, so that the figures the docs show are the ones a
script measured, never typed in. A run over its budget (a non-zero exit status) is written too, saying so; a run
that raises writes nothing and leaves the last page.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "benchmarks"
MARKER = "<!-- Written by bench/{script}: run it again to refresh this page. -->"


class _Tee(io.TextIOBase):
    """Text written to the terminal and kept."""

    def __init__(self, terminal: io.TextIOBase) -> None:
        self.terminal, self.kept = terminal, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.terminal.write(text)

    def flush(self) -> None:
        self.terminal.flush()


def record(script: str, main: Callable[[], int | None], argv: list[str] | None = None) -> int:
    """Run a bench script's `main`, printing as ever, then write its page. Returns its exit status."""
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        code = main() or 0
    path = Path(script).resolve()
    command = [_interpreter(), f"bench/{path.name}", *(sys.argv[1:] if argv is None else argv)]
    page = PAGES / f"{path.stem}.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(path, command, tee.kept.getvalue(), code))
    return code


def render(script: Path, command: list[str], output: str, code: int = 0) -> str:
    """The page: the script's docstring as its title and method, then the run and what it printed."""
    module_doc = _docstring(script)
    title, _, method = module_doc.partition("\n\n")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017 (.venv-ml runs Python 3.10)
    machine = f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"
    return "\n".join(
        [
            f"# {script.stem}",
            "",
            MARKER.format(script=script.name),
            "",
            " ".join(title.split()),
            "",
            *([method.strip(), ""] if method.strip() else []),
            "## The last run",
            "",
            f"- command: `{shlex.join(command)}`",
            f"- commit: `{_commit()}`",
            f"- machine: {machine}",
            f"- date: {when}",
            *([f"- exit status: {code} (the script's budget or target was missed)"] if code else []),
            "",
            "```text",
            output.rstrip(),
            "```",
            "",
        ]
    )


def _docstring(script: Path) -> str:
    return ast.get_docstring(ast.parse(script.read_text())) or script.stem


def _interpreter() -> str:
    """The Python that ran the script, as the command to run it again names it (`.venv-ml/bin/python`)."""
    executable = Path(sys.executable).absolute()
    return str(executable.relative_to(ROOT)) if executable.is_relative_to(ROOT) else "python"


def _commit() -> str:
    """The checkout's commit, `+` when files differ from it."""
    run = {"cwd": ROOT, "capture_output": True, "text": True, "check": False}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run).stdout.strip()
    return f"{head}+" if dirty else head
