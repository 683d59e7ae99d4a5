"""The app's pipeline definitions, built in a child process: the same JSON as in-process builds, clear failures,
the SageMaker SDK kept out of the CDK app's process, and a build kept for the next synth that asks the same."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from blueprint.pipeline import builds as builds_module
from blueprint.pipeline.batch_definition import build_batch_definition
from blueprint.pipeline.builds import ROOT, DefinitionBuilds, cache_key
from blueprint.pipeline.definition import build_definition, image_mapping
from blueprint.pipeline.settings import BatchScoringSettings, PipelineSettings
from ml_code.contracts.contract import load_contract
from tests.infra.golden.regenerate import render

TRAINING = PipelineSettings(pipeline_name="mlops-test-model-build", model_package_group_name="mlops-test-models")
BATCH = BatchScoringSettings(pipeline_name="mlops-test-batch-scoring", model_package_group_name="mlops-test-models")


def test_the_child_builds_what_an_in_process_build_gives():
    builds = DefinitionBuilds("customer-churn", training=[TRAINING], batch_scoring=[BATCH], in_child=True, cache=None)
    churn = load_contract("customer-churn")
    assert render(builds.training(TRAINING)) == render(build_definition(TRAINING, churn))
    assert render(builds.batch_scoring(BATCH)) == render(build_batch_definition(BATCH, churn))
    assert builds.images() == image_mapping()


@pytest.mark.parametrize("in_child", [True, False])
def test_fails_with_the_builds_error_when_a_build_fails(in_child):
    builds = DefinitionBuilds("no-such-contract", training=[TRAINING], in_child=in_child, cache=None)
    with pytest.raises(RuntimeError, match=r"(?s)building the pipeline definitions failed:.*no-such-contract"):
        builds.training(TRAINING)


def test_a_process_that_has_imported_the_sdk_builds_here(monkeypatch):
    assert "sagemaker" in sys.modules  # this module imported it

    def no_child(*_args, **_kwargs):
        raise AssertionError("a child process was started")

    monkeypatch.setattr(subprocess, "Popen", no_child)
    builds = DefinitionBuilds("customer-churn", training=[TRAINING], cache=None)
    assert render(builds.training(TRAINING)) == render(build_definition(TRAINING, load_contract("customer-churn")))


def test_fails_when_a_definition_was_not_requested():
    builds = DefinitionBuilds("customer-churn", training=[TRAINING])
    with pytest.raises(KeyError, match=r"no definition was requested for BatchScoringSettings"):
        builds.batch_scoring(BATCH)


def test_the_cdk_app_does_not_import_the_sagemaker_sdk():
    check = "import sys, infra.platform; sys.exit('sagemaker' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=False).returncode == 0


def test_a_builder_started_ahead_answers_the_next_request(monkeypatch):
    started = builds_module._builder()  # what start_builder starts in a process without the SDK (app.py)
    monkeypatch.setattr(builds_module, "_STARTED", [started])
    definitions = DefinitionBuilds("customer-churn", training=[TRAINING], in_child=True, cache=None)
    assert builds_module._STARTED == [] and definitions._process is started
    churn = load_contract("customer-churn")
    assert render(definitions.training(TRAINING)) == render(build_definition(TRAINING, churn))


def test_a_builder_that_gets_no_request_ends_quietly():
    builder = builds_module._builder()
    output, errors = builder.communicate(timeout=120)  # the app ended before it asked for anything
    assert (builder.returncode, output) == (0, b"") and b"Traceback" not in errors


def test_a_build_is_kept_and_the_next_one_asking_the_same_reads_it_and_stops_the_builder_started_ahead(
    tmp_path, monkeypatch
):
    first = DefinitionBuilds("customer-churn", training=[TRAINING], in_child=False, cache=tmp_path)
    built = first.training(TRAINING)
    (kept,) = tmp_path.glob("*.json")
    assert kept.name == f"{cache_key(first._request)}.json" and json.loads(kept.read_text())["training"] == [built]

    def no_build(_request):
        raise AssertionError("built again")

    monkeypatch.setattr(builds_module, "build_all", no_build)
    started = builds_module._builder()
    monkeypatch.setattr(builds_module, "_STARTED", [started])
    again = DefinitionBuilds("customer-churn", training=[TRAINING], in_child=True, cache=tmp_path)
    assert again.training(TRAINING) == built and again._process is None
    assert builds_module._STARTED == [] and started.wait(timeout=60) != 0  # stopped, not left importing the SDK


def test_a_damaged_kept_build_is_built_again(tmp_path):
    request = DefinitionBuilds("customer-churn", training=[TRAINING], cache=None)._request
    (tmp_path / f"{cache_key(request)}.json").write_text('{"training": [')
    builds = DefinitionBuilds("customer-churn", training=[TRAINING], in_child=False, cache=tmp_path)
    assert render(builds.training(TRAINING)) == render(build_definition(TRAINING, load_contract("customer-churn")))
    assert json.loads((tmp_path / f"{cache_key(request)}.json").read_text())["training"]


def test_the_key_follows_the_request_every_source_file_and_the_sdks_version(tmp_path, monkeypatch):
    sources = tmp_path / "blueprint"
    (sources / "pipeline").mkdir(parents=True)
    (sources / "pipeline" / "definition.py").write_text("STEPS = 1\n")
    (sources / "pipeline" / "__pycache__").mkdir()
    request = {"contract": "customer-churn", "training": [{"pipeline_name": "a"}]}
    key = cache_key(request, [sources])
    assert cache_key(dict(request), [sources]) == key
    (sources / "pipeline" / "__pycache__" / "definition.pyc").write_bytes(b"compiled")
    assert cache_key(request, [sources]) == key  # compiled files are not sources
    assert cache_key({**request, "training": [{"pipeline_name": "b"}]}, [sources]) != key
    (sources / "pipeline" / "definition.py").write_text("STEPS = 2\n")
    changed = cache_key(request, [sources])
    assert changed != key
    (sources / "pipeline" / "definition.py").rename(sources / "pipeline" / "other.py")
    renamed = cache_key(request, [sources])
    assert renamed != changed
    monkeypatch.setattr(builds_module.metadata, "version", lambda _name: "3.0.0")
    assert cache_key(request, [sources]) != renamed


def test_a_build_that_cannot_be_kept_is_used_with_a_warning(tmp_path, caplog):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    builds = DefinitionBuilds("customer-churn", training=[TRAINING], in_child=False, cache=blocked / "definitions")
    assert render(builds.training(TRAINING)) == render(build_definition(TRAINING, load_contract("customer-churn")))
    assert "pipeline definitions not kept in" in caplog.text
