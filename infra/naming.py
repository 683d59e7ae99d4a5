"""Physical names: made here and only here, so a rename is one reviewed change."""

from __future__ import annotations

from infra.config import PlatformConfig, StageConfig


def stage_prefix(config: PlatformConfig, stage: StageConfig) -> str:
    """`<prefix>-<stage>`: what every physical name of a stage starts with."""
    return f"{config.prefix}-{stage.name}"


def stack_name(config: PlatformConfig, stage: StageConfig, component: str) -> str:
    """CloudFormation stack name, e.g. `mlops-dev-data`."""
    return f"{stage_prefix(config, stage)}-{component}"
