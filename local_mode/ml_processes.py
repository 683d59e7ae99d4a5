"""Processes of the ML environment (.venv-ml), forked from an interpreter that has imported its libraries once.

Every job local mode runs is `python <script> ...` or `python -m <module> ...` in the ML environment, and most of
a short job's time is its imports: pandas, xgboost and matplotlib cost about 2 s of CPU a process, and a pipeline
runs ten of them. So one interpreter of that environment imports those libraries once (`PRELOAD`), and each
command runs in a process forked from it, as gunicorn's preload serves its workers: a new process with the
command's own arguments, environment, working directory and output, which runs the script as `__main__` and
exits as the interpreter would (its exit status, atexit handlers, non-daemon threads joined). The project's own
code is imported fresh in each process, from the command's paths; only the libraries below are shared, and only
as they are right after their import.

This module is both sides, standard library only: `run` for the caller, and, run as a script
(`python ml_processes.py <socket fd>`), the interpreter that forks.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

# What the step scripts import at start-up (ml_code and local_mode's model monitor): each costs 0.3 to 1 s of CPU.
PRELOAD = ("numpy", "pandas", "pyarrow.csv", "xgboost", "matplotlib.pyplot")
STARTUP_PREFIX = "PYTHON"  # variables the interpreter reads as it starts (PYTHONPATH, PYTHONDONTWRITEBYTECODE)


class InterpreterGone(RuntimeError):
    """The forking interpreter exited before it ran a command (its error, e.g. a library it could not import, is on
    this process's stderr)."""


def run(
    command: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    timeout: float | None = None,
    started: Callable[[int], None] | None = None,
) -> int:
    """Run `command` (`[python, script, ...]` or `[python, "-m", module, ...]`) as a new process of that Python,
    its stdout and stderr written to the file `log`; returns its exit status as `subprocess.run` would (negative:
    the signal that ended it). Past `timeout` seconds the process is killed and `subprocess.TimeoutExpired` raised.
    `started` is told the process's id once it runs (to stop it from elsewhere)."""
    startup = tuple(sorted((key, value) for key, value in env.items() if key.startswith(STARTUP_PREFIX)))
    with _LOCK:  # one interpreter for each Python and start-up settings, started at its first command
        interpreter = _INTERPRETERS.get((command[0], startup))
        if interpreter is None or not interpreter.alive():
            interpreter = _INTERPRETERS[command[0], startup] = _Interpreter(command[0], env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        return interpreter.run(command, env=env, cwd=cwd, output=output, timeout=timeout, started=started)


class _Interpreter:
    """The caller's side of one forking interpreter: a socket to it, which each command's socket passes through."""

    def __init__(self, python: str, env: dict[str, str]):
        self._control, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(  # noqa: S603  (the ML environment's interpreter, this module)
                [python, __file__, str(theirs.fileno())],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
            )
        self._send = threading.Lock()

    def alive(self) -> bool:
        return self._process.poll() is None

    def run(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        output: IO,
        timeout: float | None,
        started: Callable[[int], None] | None,
    ) -> int:
        mine, theirs = socket.socketpair()
        with mine:
            request = {"argv": command[1:], "env": env, "cwd": str(cwd)}
            try:
                with theirs, self._send:
                    socket.send_fds(self._control, [b"\0"], [theirs.fileno(), output.fileno()])
                mine.sendall(json.dumps(request).encode())
                mine.shutdown(socket.SHUT_WR)
            except OSError as error:
                raise InterpreterGone(f"{command[0]} has exited: {error}") from error
            replies = mine.makefile("r")
            pid = _reply(replies, command)
            if started is not None:
                started(pid)
            mine.settimeout(timeout)  # from the process's start
            try:
                return _reply(replies, command)
            except BaseException as error:  # a timeout or an interrupt: the process goes, as subprocess.run's does
                with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile: then it is gone already
                    os.kill(pid, signal.SIGKILL)
                if isinstance(error, TimeoutError):
                    raise subprocess.TimeoutExpired(command, timeout) from error
                raise

    def close(self) -> None:
        self._control.close()  # the interpreter exits when it reads the end of its socket
        self._process.wait()


def _reply(replies: IO[str], command: list[str]) -> int:
    try:
        line = replies.readline()
    except ConnectionResetError:  # the interpreter exited with this command's socket unread
        line = ""
    if not line:
        raise InterpreterGone(f"{command[0]} exited before it ran {command[1:3]}: its error is above")
    return int(line)


_INTERPRETERS: dict[tuple, _Interpreter] = {}
_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    for interpreter in _INTERPRETERS.values():
        interpreter.close()


# ---- the forking interpreter's side (runs in the ML environment) ----


def _serve(control: socket.socket) -> dict | None:
    """Fork a waiter for each command the caller sends; returns only in a command's process, with its request."""
    while True:
        message, fds, _flags, _address = socket.recv_fds(control, 1, 2)
        if not message:
            return None  # the caller has closed its end (or exited)
        if os.fork() == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                return _fork_command(*fds)
            except BaseException:  # noqa: BLE001  (the caller reads no pid and says the interpreter is gone)
                os._exit(1)
        for fd in fds:
            os.close(fd)


def _fork_command(request_fd: int, output_fd: int) -> dict:
    """In the waiter: fork the command's process and return its request there; here, tell the caller its pid and
    then its exit status, and exit."""
    with socket.socket(fileno=request_fd) as connection:
        with connection.makefile("rb") as reader:
            request = json.loads(reader.read())
        pid = os.fork()
        if pid == 0:
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
            return request
        try:
            os.close(output_fd)
            connection.sendall(f"{pid}\n".encode())
            _pid, status = os.waitpid(pid, 0)
            connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        finally:
            os._exit(0)


def _run_command(request: dict, library_path: list[str]) -> None:
    """In the command's process: become `python <argv>` with the request's environment and working directory."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    python_path = [part for part in os.environ.get("PYTHONPATH", "").split(os.pathsep) if part]
    argv = request["argv"]
    if argv[0] == "-m":
        sys.path[:] = [os.getcwd(), *python_path, *library_path]
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.path[:] = [os.path.dirname(os.path.realpath(argv[0])), *python_path, *library_path]
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")


def main(control_fd: int) -> None:
    python_path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    library_path = [path for path in sys.path[1:] if path not in python_path]  # the standard library, site-packages
    for module in PRELOAD:
        importlib.import_module(module)
    gc.freeze()  # the commands' collections skip what is imported here, and so do not copy its memory
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # an interrupt is for the commands; this ends with its caller
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the waiters
    request = _serve(socket.socket(fileno=control_fd))
    if request is not None:
        _run_command(request, library_path)


if __name__ == "__main__":
    main(int(sys.argv[1]))
