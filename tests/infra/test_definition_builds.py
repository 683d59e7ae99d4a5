"""The app's pipeline definitions, built in a child process: the same JSON as in-process builds, clear failures,
and the SageMaker SDK kept out of the CDK app's process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from blueprint.pipeline.batch_definition import build_batch_definition
from blueprint.pipeline.builds import ROOT, DefinitionBuilds
from blueprint.pipeline.definition import build_definition, image_mapping
from blueprint.pipeline.settings import BatchScoringSettings, PipelineSettings
from ml_code.contracts.contract import load_contract
from tests.infra.golden.regenerate import render

TRAINING = PipelineSettings(pipeline_name="mlops-test-model-build", model_package_group_name="mlops-test-models")
BATCH = BatchScoringSettings(pipeline_name="mlops-test-batch-scoring", model_package_group_name="mlops-test-models")


def test_the_child_builds_what_an_in_process_build_gives():
    builds = DefinitionBuilds("customer-churn", training=[TRAINING], batch_scoring=[BATCH], in_child=True)
    churn = load_contract("customer-churn")
    assert render(builds.training(TRAINING)) == render(build_definition(TRAINING, churn))
    assert render(builds.batch_scoring(BATCH)) == render(build_batch_definition(BATCH, churn))
    assert builds.images() == image_mapping()


@pytest.mark.parametrize("in_child", [True, False])
def test_fails_with_the_builds_error_when_a_build_fails(in_child):
    builds = DefinitionBuilds("no-such-contract", training=[TRAINING], in_child=in_child)
    with pytest.raises(RuntimeError, match=r"(?s)building the pipeline definitions failed:.*no-such-contract"):
        builds.training(TRAINING)


def test_a_process_that_has_imported_the_sdk_builds_here(monkeypatch):
    assert "sagemaker" in sys.modules  # this module imported it

    def no_child(*_args, **_kwargs):
        raise AssertionError("a child process was started")

    monkeypatch.setattr(subprocess, "Popen", no_child)
    builds = DefinitionBuilds("customer-churn", training=[TRAINING])
    assert render(builds.training(TRAINING)) == render(build_definition(TRAINING, load_contract("customer-churn")))


def test_fails_when_a_definition_was_not_requested():
    builds = DefinitionBuilds("customer-churn", training=[TRAINING])
    with pytest.raises(KeyError, match=r"no definition was requested for BatchScoringSettings"):
        builds.batch_scoring(BATCH)


def test_the_cdk_app_does_not_import_the_sagemaker_sdk():
    check = "import sys, infra.platform; sys.exit('sagemaker' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=False).returncode == 0


def test_a_builder_started_ahead_answers_the_next_request(monkeypatch):
    from blueprint.pipeline import builds

    started = builds._builder()  # what start_builder starts in a process without the SDK (app.py)
    monkeypatch.setattr(builds, "_STARTED", [started])
    definitions = DefinitionBuilds("customer-churn", training=[TRAINING], in_child=True)
    assert builds._STARTED == [] and definitions._process is started
    churn = load_contract("customer-churn")
    assert render(definitions.training(TRAINING)) == render(build_definition(TRAINING, churn))


def test_a_builder_that_gets_no_request_ends_quietly():
    from blueprint.pipeline import builds

    builder = builds._builder()
    output, errors = builder.communicate(timeout=120)  # the app ended before it asked for anything
    assert (builder.returncode, output) == (0, b"") and b"Traceback" not in errors
