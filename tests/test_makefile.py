"""The Makefile's stage targets: a preview and a teardown of one stage, and a clear error without a stage."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli import ROOT


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(("target", "verb"), [("diff", "diff"), ("destroy", "destroy"), ("deploy", "deploy")])
def test_a_stage_target_acts_on_that_stage_only(target, verb):
    planned = make("-n", target, "STAGE=prod")  # -n: print the commands, run nothing
    assert planned.returncode == 0, planned.stderr
    (command,) = [line for line in planned.stdout.splitlines() if f"cdk {verb}" in line]
    assert "-c stage=prod" in command


@pytest.mark.parametrize("target", ["diff", "destroy", "deploy"])
def test_fails_without_a_stage_before_installing_anything(target):
    refused = make(target)
    assert refused.returncode != 0
    assert f"make: say which stage, e.g. make {target} STAGE=dev" in refused.stderr
    assert "pip" not in refused.stdout and "npm" not in refused.stdout
