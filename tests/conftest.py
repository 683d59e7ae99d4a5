"""Applied to every test run, in both test environments: the offline settings and the network guard."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_DIR = Path(__file__).resolve().parent / "offline"

# Credentials that can never work, so that nothing can reach a real account even by mistake.
TEST_ONLY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "MPLBACKEND": "Agg",
}


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as the Makefile includes them; blank lines and comments skipped."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


os.environ.update(read_env_file(ROOT / "offline.env"))
os.environ.update(TEST_ONLY_ENV)
os.environ["PYTHONPATH"] = os.pathsep.join(
    part for part in (str(OFFLINE_DIR), str(ROOT), os.environ.get("PYTHONPATH", "")) if part
)
sys.path.insert(0, str(OFFLINE_DIR))

import offline_guard  # noqa: E402  (the path above makes it importable)

offline_guard.install()


# Groups that take longest, longest first (from `--durations`): started first, they leave the short ones to fill
# in at the end, so that both workers finish together. The scheduler keeps this order (--no-loadscope-reorder).
LONGEST_FIRST = ("spark", "cdk-synths", "local_mode/test_demo.py", "approved-models", "local_mode/test_run.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup --no-loadscope-reorder`): tests that share an
    expensive session fixture stay on one worker, so that it is built once (the CDK synths, the Spark session,
    the approved models local mode serves); every other module's tests run together (module fixtures are built
    once). It runs before xdist's own hook, which reads the groups into the test ids the scheduler sees."""
    if not config.pluginmanager.hasplugin("xdist"):
        return

    shared = {"infra": "cdk-synths", "etl": "spark"}
    groups = {}
    for item in items:
        module = Path(str(item.fspath)).relative_to(ROOT / "tests")
        group = shared.get(module.parts[0], str(module))
        if "approved_models" in getattr(item, "fixturenames", ()):
            group = "approved-models"
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item] = LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=groups.__getitem__)  # stable: within a group, the collection's order
