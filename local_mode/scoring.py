"""`local_mode score`: batch scoring on this machine, the pipeline the ServingStack deploys.

The batch-scoring definition (blueprint/pipeline/batch_definition.py, built with the local stage's settings) runs on
the local executor: `FindApprovedModel` asks the local registry for the group's newest Approved package, `Score`
runs `ml_code/inference/batch_score.py` on its model.tar.gz and the data. Predictions land where the AWS run puts
them in the curated bucket: `<workdir>/s3/local-curated/predictions/<contract>/<execution>/`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from blueprint.naming import PREDICTIONS
from local_mode.definition import build_local_batch_definition
from local_mode.deployment import BUCKETS
from local_mode.executor import ExecutionResult
from local_mode.local_s3 import LocalS3
from local_mode.runner import deployed_executor, stage_input
from ml_code import paths
from ml_code.contracts.contract import load_contract


@dataclass(frozen=True)
class ScoringResult:
    execution: ExecutionResult
    predictions: Path | None  # the folder of predictions, when the run succeeded
    summary: dict | None  # its _scoring.json


def run_batch_scoring(
    contract_source: str | Path,
    data: Path,
    home: Path,
    *,
    python: str | None = None,
    log: Callable[[str], None] = print,
) -> ScoringResult:
    """Deploy the code locally and run one batch-scoring execution on `data` (a CSV file or a folder)."""
    contract = load_contract(contract_source)
    executor = deployed_executor(contract_source, build_local_batch_definition(contract), home, python=python, log=log)
    result = executor.start({"InputDataUri": stage_input(data, home, None)})
    if result.status != "Succeeded":
        return ScoringResult(result, None, None)
    uri = f"s3://{BUCKETS['CuratedBucket']}/{PREDICTIONS}/{contract.name}/{result.execution_id}"
    folder = LocalS3(home).path(uri)
    return ScoringResult(result, folder, json.loads((folder / paths.SCORING_SUMMARY_FILE).read_text()))
