"""Rewrites the golden pipeline definitions (`make golden`): review their diff like code, then commit them.

Two: the dev stage's, with the shipped contract; and the same without the contract's fairness section, which
must stay what the pipeline was before fairness existed (no Clarify step, nothing else changed)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from blueprint.config import load_config
from blueprint.pipeline.definition import build_definition
from blueprint.pipeline.settings import PipelineSettings
from ml_code.contracts.contract import load_contract
from tests.infra.synth import cdk_json_context

GOLDEN = Path(__file__).resolve().parent / "pipeline_definition.json"
GOLDEN_WITHOUT_FAIRNESS = GOLDEN.with_name("pipeline_definition_without_fairness.json")
GOLDEN_STAGE = "dev"


def golden_definition(*, fairness: bool = True) -> dict:
    """The dev stage's definition, exactly as cdk.json configures it (or without the fairness section)."""
    config = load_config(cdk_json_context())
    settings = PipelineSettings.for_stage(config, config.stage(GOLDEN_STAGE))
    contract = load_contract(config.dataset_contract)
    return build_definition(settings, contract if fairness else dataclasses.replace(contract, fairness=None))


def render(definition: dict) -> str:
    return json.dumps(definition, indent=2, sort_keys=True) + "\n"


def main() -> int:
    GOLDEN.write_text(render(golden_definition()))
    GOLDEN_WITHOUT_FAIRNESS.write_text(render(golden_definition(fairness=False)))
    print(f"wrote {GOLDEN} and {GOLDEN_WITHOUT_FAIRNESS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
