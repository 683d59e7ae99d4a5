"""Processes of the ML environment, forked from an interpreter that imported its libraries once: each must behave
as `python <script>` started afresh would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_mode import ml_processes
from local_mode.jobs import default_python, python_path


@pytest.fixture
def python() -> str:
    return default_python()


def script(folder: Path, source: str, name: str = "step.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": python_path(), **extra}


def test_a_script_runs_as_main_with_its_arguments_environment_folder_and_output(tmp_path, python):
    step = script(
        tmp_path,
        """
        import os, sys
        print("name", __name__)
        print("argv", sys.argv)
        print("path0", sys.path[0])
        print("cwd", os.getcwd())
        print("env", os.environ["STEP_SETTING"], "LEFT_OVER" in os.environ)
        print("to stderr", file=sys.stderr)
        """,
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    log = tmp_path / "logs" / "step.log"
    # a start-up setting of its own: the interpreter starts here, with the first command's environment
    own = env(PYTHON_TEST_INTERPRETER=str(tmp_path))
    first = {**own, "STEP_SETTING": "y", "LEFT_OVER": "z"}
    assert ml_processes.run([python, str(step)], env=first, cwd=workdir, log=log) == 0
    assert "env y True" in log.read_text().splitlines()
    status = ml_processes.run(
        [python, str(step), "--flag", "a b"], env={**own, "STEP_SETTING": "x"}, cwd=workdir, log=log
    )
    assert status == 0
    lines = log.read_text().splitlines()
    assert "name __main__" in lines
    assert f"argv {[str(step), '--flag', 'a b']}" in lines
    assert f"path0 {tmp_path}" in lines
    assert f"cwd {workdir}" in lines
    assert "env x False" in lines
    assert "to stderr" in lines


def test_a_module_runs_as_python_m_does(tmp_path, python):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    script(package, "import sys\nprint('module', __name__, sys.argv[1:])\n", name="tool.py")
    log = tmp_path / "tool.log"
    status = ml_processes.run([python, "-m", "pkg.tool", "--x", "1"], env=env(), cwd=tmp_path, log=log)
    assert status == 0  # found from the working directory, as `python -m` finds it
    assert log.read_text().strip() == "module __main__ ['--x', '1']"


@pytest.mark.parametrize(
    ("source", "status", "logged"),
    [
        ("import sys\nsys.exit(3)\n", 3, ""),
        ("raise ValueError('bad input')\n", 1, "ValueError: bad input"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", -signal.SIGTERM, ""),
    ],
)
def test_the_exit_status_is_the_processs_own(tmp_path, python, source, status, logged):
    log = tmp_path / "step.log"
    assert ml_processes.run([python, str(script(tmp_path, source))], env=env(), cwd=tmp_path, log=log) == status
    assert logged in log.read_text()


def test_the_process_exits_as_the_interpreter_does_after_its_threads_and_atexit_handlers(tmp_path, python):
    step = script(
        tmp_path,
        """
        import atexit, threading, time
        from pathlib import Path
        def late():
            time.sleep(0.2)
            Path("thread.txt").write_text("done")
        threading.Thread(target=late).start()
        atexit.register(lambda: print("atexit ran"))
        """,
    )
    log = tmp_path / "step.log"
    assert ml_processes.run([python, str(step)], env=env(), cwd=tmp_path, log=log) == 0
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert log.read_text().strip() == "atexit ran"


def test_the_libraries_are_imported_once_and_the_projects_code_afresh_each_time(tmp_path, python):
    step = script(tmp_path, "import sys, version\nprint(version.VALUE, 'pandas' in sys.modules)\n")
    log = tmp_path / "step.log"
    for value in ("1", "22"):  # sizes differ: a cached bytecode file could not pass for the new source
        (tmp_path / "version.py").write_text(f"VALUE = {value}\n")
        assert ml_processes.run([python, str(step)], env=env(), cwd=tmp_path, log=log) == 0
        assert log.read_text().split() == [value, "True"]  # pandas is there before the script imports it


def test_interpreter_start_up_settings_get_an_interpreter_of_their_own(tmp_path, python):
    step = script(tmp_path, "import sys\nprint(sys.dont_write_bytecode)\n")
    log = tmp_path / "step.log"
    plain = {key: value for key, value in env().items() if key != "PYTHONDONTWRITEBYTECODE"}
    for environment, expected in ((plain, "False"), ({**plain, "PYTHONDONTWRITEBYTECODE": "1"}, "True")):
        assert ml_processes.run([python, str(step)], env=environment, cwd=tmp_path, log=log) == 0
        assert log.read_text().strip() == expected


def test_commands_run_at_the_same_time_each_into_its_own_log(tmp_path, python):
    """Each waits until all four have started: run one after another, the first would give up and fail."""
    step = script(
        tmp_path,
        """
        import sys, time
        from pathlib import Path
        Path(sys.argv[1] + ".started").touch()
        deadline = time.monotonic() + 30
        while len(list(Path().glob("*.started"))) < 4:
            if time.monotonic() > deadline:
                sys.exit("the others never started")
            time.sleep(0.05)
        print(sys.argv[1])
        """,
    )

    def one(number: int) -> tuple[int, str]:
        log = tmp_path / f"{number}.log"
        status = ml_processes.run([python, str(step), str(number)], env=env(), cwd=tmp_path, log=log)
        return status, log.read_text().strip()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(one, range(4))) == [(0, str(number)) for number in range(4)]


def test_fails_when_the_command_outlives_its_timeout_and_the_process_is_killed(tmp_path, python):
    step = script(tmp_path, "import os, time\nprint(os.getpid(), flush=True)\ntime.sleep(60)\n")
    log = tmp_path / "step.log"
    with pytest.raises(subprocess.TimeoutExpired):
        ml_processes.run([python, str(step)], env=env(), cwd=tmp_path, log=log, timeout=1)
    pid = int(log.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][0] != "Z"  # a zombie has ended


def test_fails_naming_the_interpreter_when_it_cannot_import_the_libraries(tmp_path, capfd):
    """The CDK app's environment has no xgboost: its interpreter cannot be the one that forks."""
    step = script(tmp_path, "print('never')\n")
    with pytest.raises(ml_processes.InterpreterGone, match=rf"{re.escape(sys.executable)} exited before it ran"):
        ml_processes.run([sys.executable, str(step)], env=env(), cwd=tmp_path, log=tmp_path / "step.log")
    assert "No module named" in capfd.readouterr().err
