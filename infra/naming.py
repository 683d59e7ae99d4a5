"""Physical names: made here and only here, so a rename is one reviewed change."""

from __future__ import annotations

from infra.config import PlatformConfig, StageConfig


def stage_prefix(config: PlatformConfig, stage: StageConfig) -> str:
    """`<prefix>-<stage>`: what every physical name of a stage starts with."""
    return f"{config.prefix}-{stage.name}"


def stack_name(config: PlatformConfig, stage: StageConfig, component: str) -> str:
    """CloudFormation stack name, e.g. `mlops-dev-data`."""
    return f"{stage_prefix(config, stage)}-{component}"


def glue_job_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The ETL job's name: the model build's trigger matches `Glue Job State Change` events on it."""
    return f"{stage_prefix(config, stage)}-etl"


def glue_security_configuration_name(config: PlatformConfig, stage: StageConfig) -> str:
    return f"{stage_prefix(config, stage)}-etl"


# Where the ETL writes in the curated bucket, one folder per dataset contract.
CURATED_DATA = "data"
QUARANTINE = "quarantine"
MANIFESTS = "manifests"


def curated_prefix(area: str, contract_name: str) -> str:
    """`<area>/<contract>/`, e.g. `data/customer-churn/`: the key prefix of one dataset's outputs."""
    return f"{area}/{contract_name}/"
