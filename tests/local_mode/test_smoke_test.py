"""The deploy pipeline's smoke test against local endpoints (real gunicorn servers on loopback) that serve the
packages the real pipeline trained: it passes a good endpoint and fails a wrong answer, a rejected payload and a
slow endpoint, saying why."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.codebuild.smoke_test import http_invoker, read_payload, smoke_test
from local_mode.local_s3 import LocalS3
from ml_code.contracts.contract import PROBLEM_TYPES
from tests.cli import ROOT


def sample_payload(model):
    return LocalS3(model.home).path(model.package.sample_payload_url)


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """`python -m infra.codebuild.smoke_test ...`, as the pipeline's CodeBuild step runs it."""
    command = [sys.executable, "-m", "infra.codebuild.smoke_test", *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_passes_the_released_packages_endpoint_for_each_problem_type(endpoints, approved_models, problem_type):
    model = approved_models[problem_type]
    result = run_cli(
        "--url", endpoints[problem_type].url,
        "--payload", sample_payload(model),
        "--contract", model.contract_source,
        "--max-latency-ms", 10_000,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "smoke test passed" in result.stderr


def test_fails_when_the_answers_do_not_fit_the_contracts_problem_type(endpoints, approved_models):
    regression = approved_models["regression"]
    result = run_cli(
        "--url", endpoints["regression"].url,
        "--payload", sample_payload(regression),
        "--contract", "customer-churn",  # binary: probability and label expected, a value answered
        "--max-latency-ms", 10_000,
    )  # fmt: skip
    assert result.returncode == 1
    assert "smoke test: call 1: prediction 0: expected an object with keys ['label', 'probability']" in result.stderr


def test_fails_when_the_endpoint_rejects_the_payload(endpoints):
    invoke = http_invoker(endpoints["binary_classification"].url)
    problems = smoke_test(
        invoke,
        b"unknown_column\n1\n",
        problem_type="binary_classification",
        positive_label="yes",
        max_latency_ms=10_000,
        calls=2,
    )
    assert len(problems) == 2
    assert problems[0].startswith("call 1: HTTP 400:") and '"error": "RequestError"' in problems[0]


def test_fails_when_the_endpoint_is_slower_than_the_bound(endpoints, approved_models):
    model = approved_models["binary_classification"]
    problems = smoke_test(
        http_invoker(endpoints["binary_classification"].url),
        read_payload(sample_payload(model)),
        problem_type="binary_classification",
        positive_label=model.contract.positive_label,
        max_latency_ms=0.001,
        calls=3,
    )
    (problem,) = problems  # the answers are right; only the latency is not
    assert problem.startswith("median latency") and problem.endswith("over 3 calls is above the bound of 0.001 ms")


def test_fails_when_the_payload_holds_no_records(endpoints):
    with pytest.raises(ValueError, match="the payload holds no records"):
        smoke_test(
            http_invoker(endpoints["binary_classification"].url),
            b"tenure,plan\n",
            problem_type="binary_classification",
            positive_label="yes",
            max_latency_ms=1000,
        )
