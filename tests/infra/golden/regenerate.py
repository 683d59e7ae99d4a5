"""Rewrites the golden pipeline definition (`make golden`): review its diff like code, then commit it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from infra.config import load_config
from infra.pipeline.definition import build_definition
from infra.pipeline.settings import PipelineSettings
from ml_code.contracts.contract import load_contract
from tests.infra.synth import cdk_json_context

GOLDEN = Path(__file__).resolve().parent / "pipeline_definition.json"
GOLDEN_STAGE = "dev"


def golden_definition() -> dict:
    """The dev stage's definition, exactly as cdk.json configures it."""
    config = load_config(cdk_json_context())
    settings = PipelineSettings.for_stage(config, config.stage(GOLDEN_STAGE))
    return build_definition(settings, load_contract(config.dataset_contract))


def render(definition: dict) -> str:
    return json.dumps(definition, indent=2, sort_keys=True) + "\n"


def main() -> int:
    GOLDEN.write_text(render(golden_definition()))
    print(f"wrote {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
