"""The pipeline definition local mode runs: the one `blueprint/pipeline/definition.py` builds for AWS.

Built with the settings of LOCAL_STAGE in cdk.json, for the contract of the run (the group and pipeline
names follow that contract); that stage is also the release stage, whose models it serves. Needs the SageMaker
SDK, which lives in the CDK app's environment (.venv).
"""

from __future__ import annotations

import json
import logging
import os
import types
from pathlib import Path

from blueprint.packages import ROOT
from ml_code.contracts.contract import DatasetContract

LOCAL_STAGE = "dev"


def local_stage(contract_name: str):
    """(platform config for `contract_name`, the LOCAL_STAGE settings) from cdk.json, as the stack reads them."""
    try:
        from blueprint.config import load_config
    except ImportError as error:  # run from .venv-ml, which has no CDK
        raise RuntimeError(
            f"reading cdk.json's settings needs the CDK app's environment ({error.name} is missing): "
            "run local mode with .venv/bin/python (`make venv`)"
        ) from error
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    config = load_config(context)
    # One stage on this machine: it trains, releases and serves its own models.
    config = config.model_copy(
        update={
            "dataset_contract": contract_name,
            "cicd": config.cicd.model_copy(update={"release_stage": LOCAL_STAGE}),
        }
    )
    # Locally, tuning is `local_mode tune` (then `run --tuned`): the executor runs the pipeline's one training job.
    stage = config.stage(LOCAL_STAGE)
    return config, stage.model_copy(update={"tuning": stage.tuning.model_copy(update={"trials": 0})})


def build_local_definition(contract: DatasetContract) -> tuple[str, dict]:
    """(pipeline name, definition) for `contract`, with the `${...}` placeholders the stack would fill."""
    pipelines = _pipelines(
        "the pipeline definition", ", or pass --definition with a file that `make definition` exported"
    )
    settings = pipelines.settings.PipelineSettings.for_stage(*local_stage(contract.name))
    return settings.pipeline_name, pipelines.definition.build_definition(settings, contract)


def build_local_batch_definition(contract: DatasetContract) -> tuple[str, dict]:
    """(pipeline name, definition) of batch scoring for `contract`, as the ServingStack deploys it."""
    pipelines = _pipelines("the batch-scoring definition")
    settings = pipelines.settings.BatchScoringSettings.for_stage(*local_stage(contract.name))
    return settings.pipeline_name, pipelines.batch_definition.build_batch_definition(settings, contract)


def build_local_monitoring_definition(contract: DatasetContract) -> tuple[str, dict]:
    """(pipeline name, definition) of the monitoring pipeline for `contract`, as the MonitoringStack deploys it."""
    pipelines = _pipelines("the monitoring definition")
    settings = pipelines.settings.MonitoringSettings.for_stage(*local_stage(contract.name))
    return settings.pipeline_name, pipelines.monitoring_definition.build_monitoring_definition(settings, contract)


def _pipelines(what: str, alternative: str = "") -> types.SimpleNamespace:
    """The definition builders of blueprint/pipeline, which need the SageMaker SDK of the CDK app's environment."""
    _quiet_sdk()
    try:
        from blueprint.pipeline import batch_definition, definition, monitoring_definition, settings
    except ImportError as error:  # run from .venv-ml, which has no SDK and no CDK
        raise RuntimeError(
            f"building {what} needs the CDK app's environment ({error.name} is missing): run local mode with "
            f".venv/bin/python (`make venv`){alternative}"
        ) from error
    return types.SimpleNamespace(
        batch_definition=batch_definition,
        definition=definition,
        monitoring_definition=monitoring_definition,
        settings=settings,
    )


def _quiet_sdk() -> None:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)


def read_definition(path: Path) -> tuple[str, dict]:
    """(pipeline name, definition) from a file `export` wrote: the file is named after the pipeline."""
    try:
        return path.stem, json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the pipeline definition {path}: {error}") from error


def export(contract: DatasetContract, folder: Path) -> Path:
    """Write the definition to `<folder>/<pipeline name>.json`."""
    name, definition = build_local_definition(contract)
    path = folder / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition, indent=2, sort_keys=True) + "\n")
    return path
