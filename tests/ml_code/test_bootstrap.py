"""The processing jobs' bootstrap: unpack the real code package and run a step from it, as SageMaker would."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from blueprint.packages import ml_code_sourcedir
from ml_code import bootstrap, paths

ROOT = Path(__file__).resolve().parents[2]


def test_the_bootstrap_constants_match_the_shared_paths():
    assert bootstrap.CODE_PACKAGE_INPUT == paths.CODE_PACKAGE_INPUT


def test_fails_when_the_code_package_folder_has_no_single_package(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"expected one code package \(.tar.gz\) in .*found \[\]"):
        bootstrap.find_package(tmp_path)


def run_preprocess_through_bootstrap(base: Path, workdir: Path) -> subprocess.CompletedProcess:
    """As a processing job does: the bootstrap unpacks the real code package and runs preprocess from it."""
    command = [
        sys.executable,
        str(ROOT / "ml_code" / "bootstrap.py"),
        "--module",
        "ml_code.processing.preprocess",
        f"--code-package={ml_code_sourcedir()}",
        "--",
        "--contract",
        "customer-churn",
        f"--base-dir={base}",
        f"--failure-file={workdir / 'message'}",
    ]
    return subprocess.run(command, cwd=workdir, env=os.environ, capture_output=True, text=True, timeout=120)


def test_runs_preprocess_from_the_code_package(tmp_path, churn_csv):
    base = tmp_path / "processing"
    (base / paths.PROCESSING_INPUT_DATA).mkdir(parents=True)
    (base / paths.PROCESSING_INPUT_DATA / "data.csv").write_bytes(churn_csv.read_bytes())
    result = run_preprocess_through_bootstrap(base, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (base / "train" / "train.csv").is_file()
    assert (base / paths.METADATA_OUTPUT / paths.METADATA_FILE).is_file()


def test_a_failing_step_exits_non_zero_through_the_bootstrap(tmp_path):
    result = run_preprocess_through_bootstrap(tmp_path, tmp_path)
    assert result.returncode == 1
    assert "no CSV file under" in (tmp_path / "message").read_text()


def test_fails_when_the_package_reaches_outside_its_folder(tmp_path):
    archive_path = tmp_path / "evil.tar.gz"
    with tarfile.open(archive_path, "w:gz") as archive:
        info = tarfile.TarInfo("../escaped.py")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match=r"refusing archive member '../escaped.py'"):
        bootstrap.unpack(archive_path, tmp_path / "out")


def test_the_job_ends_with_its_steps_code_even_when_a_thread_would_keep_it_alive(tmp_path):
    """A step that returns while a library's non-daemon thread still runs (pyarrow's pool at shutdown) ends at once,
    with the step's exit code, its output flushed."""
    step = tmp_path / "code" / "stuck_step.py"
    step.parent.mkdir()
    step.write_text(
        "import sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,)).start()\n"
        "print('step done', flush=False)\n"
        "sys.exit(int(sys.argv[1]))\n"
    )
    package = tmp_path / "package.tar.gz"
    with tarfile.open(package, "w:gz") as archive:
        archive.add(step, arcname="stuck_step.py")
    for code in (0, 3):
        command = [sys.executable, str(ROOT / "ml_code" / "bootstrap.py"), "--module", "stuck_step"]
        result = subprocess.run(
            [*command, f"--code-package={package}", "--", str(code)], capture_output=True, text=True, timeout=60
        )
        assert (result.returncode, result.stdout) == (code, "step done\n")
