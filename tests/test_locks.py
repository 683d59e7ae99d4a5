"""The locks (locks/) hold what the pins say: every pin of requirements.txt in locks/platform.txt, every pin of
ml_code/requirements.txt (the container's) and of the ML test tools in locks/ml.txt, at the same version; the logging
build's lock (locks/tracking.txt) at the platform lock's versions."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#\\]+)")


def pins(path: Path) -> dict[str, str]:
    """Name (normalized) -> version of a requirements or lock file's `name==version` lines, following `-r`."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif match := _PIN.match(line):
            found[re.sub(r"[._-]+", "-", match[1]).lower()] = match[2]
    return found


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "locks/platform.txt"), ("tests/requirements-ml.txt", "locks/ml.txt")],
)
def test_every_pin_is_in_its_lock_at_its_version(requirements, lock):
    wanted, locked = pins(ROOT / requirements), pins(ROOT / lock)
    assert wanted, requirements
    differ = {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version}
    assert not differ, f"{lock} is stale (pinned, locked): {differ}; run `make lock`"


def test_the_ml_lock_holds_the_containers_pins_and_no_second_sdk():
    container, locked = pins(ROOT / "ml_code/requirements.txt"), pins(ROOT / "locks/ml.txt")
    assert {"xgboost-cpu", "numpy", "pandas", "pyarrow", "flask", "gunicorn"} <= set(container)
    assert all(locked[name] == version for name, version in container.items())
    assert "xgboost" not in locked  # the CUDA build: 469 MB for the same library


def test_pins_are_read_with_extras_and_included_files(tmp_path):
    (tmp_path / "base.txt").write_text("Flask==1.1.1\n# a comment\n")
    (tmp_path / "all.txt").write_text("-r base.txt\nmoto[s3,sagemaker]==5.2.5\nscikit_learn==1.5.2 \\\n")
    assert pins(tmp_path / "all.txt") == {"flask": "1.1.1", "moto": "5.2.5", "scikit-learn": "1.5.2"}


def test_the_release_builds_install_the_locked_boto3_and_botocore():
    from infra.constructs.cicd_builds import LOCKED_BOTO3

    locked = pins(ROOT / "locks/platform.txt")
    listed = subprocess.run(["bash", "-c", LOCKED_BOTO3], cwd=ROOT, capture_output=True, text=True, check=True)
    assert listed.stdout.split() == [f"boto3=={locked['boto3']}", f"botocore=={locked['botocore']}"]


def test_the_logging_build_installs_the_client_local_mode_logs_with():
    tracking, platform = pins(ROOT / "locks/tracking.txt"), pins(ROOT / "locks/platform.txt")
    assert {"mlflow-skinny", "sagemaker-mlflow", "boto3"} <= set(tracking)
    assert {
        name: (version, platform.get(name)) for name, version in tracking.items() if platform.get(name) != version
    } == {}
