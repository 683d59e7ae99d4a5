"""Physical names: made here and only here, so a rename is one reviewed change."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config's types, for annotations only: the config stands on this module (its name checks)
    from blueprint.config import PlatformConfig, StageConfig


def stage_prefix(config: PlatformConfig, stage: StageConfig) -> str:
    """`<prefix>-<stage>`: what every physical name of a stage starts with."""
    return f"{config.prefix}-{stage.name}"


def bucket_name(config: PlatformConfig, stage: StageConfig, purpose: str, *, account: str, region: str) -> str:
    """`<prefix>-<stage>-<purpose>-<account>-<region>`: globally unique, and known to every stack without a
    cross-stack export (config.py keeps prefix and stage short enough for S3's 63 characters). The stage's account
    and region when the config names them (a stage of its own account is named by it from any account), else
    `account` and `region` (the deploying stack's: infra/deploying.py)."""
    return f"{stage_prefix(config, stage)}-{purpose}-{stage.account or account}-{stage.region or region}"


def data_key_alias(config: PlatformConfig, stage: StageConfig) -> str:
    """The alias of the stage's KMS key, by which other stages' roles are granted its use."""
    return f"alias/{stage_prefix(config, stage)}-data"


def stack_name(config: PlatformConfig, stage: StageConfig, component: str) -> str:
    """CloudFormation stack name, e.g. `mlops-dev-data`."""
    return f"{stage_prefix(config, stage)}-{component}"


def stack_id(stage: StageConfig, component: str) -> str:
    """A stage's stack's construct id, e.g. `ProdServing`: what `cdk deploy` selects it by."""
    return f"{stage.name.capitalize()}{component}"


# The CI/CD pipelines' stack (one, in the tooling account): its construct id, and the prefix of its names.
CICD_STACK_ID = "Cicd"


def cicd_prefix(config: PlatformConfig) -> str:
    """`<prefix>-cicd`: what the CI/CD pipelines' physical names start with."""
    return f"{config.prefix}-cicd"


def cicd_bucket_name(config: PlatformConfig, purpose: str, *, account: str, region: str) -> str:
    """A bucket of the CI/CD stack, e.g. `mlops-cicd-source-<account>-<region>`, in the tooling account and region
    the config names, else in `account` and `region`."""
    return f"{cicd_prefix(config)}-{purpose}-{config.tooling_account or account}-{config.tooling_region or region}"


def cicd_name(config: PlatformConfig, purpose: str) -> str:
    """A named resource of the CI/CD stack: `mlops-cicd-notifications` (its topic), `-tests` (its test reports)."""
    return f"{cicd_prefix(config)}-{purpose}"


def cicd_role_name(config: PlatformConfig, purpose: str) -> str:
    """A CI/CD build's role, named so that the stages' roles can trust it alone, e.g. `mlops-cicd-smoke-test`."""
    return f"{cicd_prefix(config)}-{purpose}"


def commit_pipeline_name(config: PlatformConfig) -> str:
    return f"{config.prefix}-commit"


def deploy_pipeline_name(config: PlatformConfig) -> str:
    return f"{config.prefix}-deploy"


def stage_access_role_name(config: PlatformConfig, stage: StageConfig, build: str) -> str:
    """A stage's role that the CI/CD build `build` assumes, e.g. `mlops-staging-release` or `mlops-prod-smoke-test`."""
    return f"{stage_prefix(config, stage)}-{build}"


def glue_job_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The ETL job's name: the model build's trigger matches `Glue Job State Change` events on it."""
    return f"{stage_prefix(config, stage)}-etl"


def etl_events_source(config: PlatformConfig, stage: StageConfig) -> str:
    """The EventBridge source of the ETL's `ETL Run Wrote Rows` events, e.g. `mlops-dev.etl`."""
    return f"{stage_prefix(config, stage)}.etl"


def glue_security_configuration_name(config: PlatformConfig, stage: StageConfig) -> str:
    return f"{stage_prefix(config, stage)}-etl"


# Where the ETL writes in the curated bucket, one folder per dataset contract.
CURATED_DATA = "data"
QUARANTINE = "quarantine"
MANIFESTS = "manifests"


def curated_prefix(area: str, contract_name: str) -> str:
    """`<area>/<contract>/`, e.g. `data/customer-churn/`: the key prefix of one dataset's outputs."""
    return f"{area}/{contract_name}/"


def pipeline_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The SageMaker Pipeline that trains, evaluates and registers models."""
    return f"{stage_prefix(config, stage)}-model-build"


def model_package_group_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The Model Registry group of the stage's dataset, e.g. `mlops-dev-customer-churn`."""
    return f"{stage_prefix(config, stage)}-{config.dataset_contract}"


def released_group_reference(config: PlatformConfig, serving: StageConfig) -> str:
    """How `serving` names the release stage's group in API calls: by name in the same account, by ARN from another."""
    release = config.release_stage or serving
    name = model_package_group_name(config, release)
    if not config.serves_from_another_account(serving):
        return name
    partition = (
        "aws-cn"
        if release.region.startswith("cn-")
        else "aws-us-gov"
        if release.region.startswith("us-gov-")
        else "aws"
    )
    return f"arn:{partition}:sagemaker:{release.region}:{release.account}:model-package-group/{name}"


# Where the model build writes in the artifacts bucket (the pipeline definition uses the same prefix):
# `pipelines/<pipeline>/<execution>/<step>/...`, models under the `train` step.
MODEL_BUILD_PREFIX = "pipelines"
PREPROCESS_STEP = "preprocess"  # the preprocessing step's folder of an execution (splits, transform, metadata)
BASELINE_STEP = "baseline"  # the data-quality baseline's folder of an execution (the drift baselines)
EXPLAINABILITY_STEP = "explainability"  # the Explainability step's folder of an execution (global SHAP values)


def model_data_prefix(config: PlatformConfig, stage: StageConfig) -> str:
    """Where the stage's trained models are in the artifacts bucket: `pipelines/<pipeline>/*/train/`."""
    return f"{MODEL_BUILD_PREFIX}/{pipeline_name(config, stage)}/*/train/"


def baselines_prefix(config: PlatformConfig, stage: StageConfig) -> str:
    """Where the stage's drift baselines are in the artifacts bucket: `pipelines/<pipeline>/*/baseline/` (the
    monitoring pipelines of every serving stage read them)."""
    return f"{MODEL_BUILD_PREFIX}/{pipeline_name(config, stage)}/*/{BASELINE_STEP}/"


def explainability_prefix(config: PlatformConfig, stage: StageConfig) -> str:
    """Where the stage's explainability reports are in the artifacts bucket: `pipelines/<pipeline>/*/explainability/`
    (the attribution-drift baselines the monitoring pipelines read)."""
    return f"{MODEL_BUILD_PREFIX}/{pipeline_name(config, stage)}/*/{EXPLAINABILITY_STEP}/"


def tracking_server_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The stage's MLflow tracking server, e.g. `mlops-dev-experiments` (part of its ARN)."""
    return f"{stage_prefix(config, stage)}-experiments"


def experiment_readers_policy_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The managed policy that lets people open and read the stage's MLflow runs: `mlops-dev-experiment-readers`."""
    return f"{stage_prefix(config, stage)}-experiment-readers"


def endpoint_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The stage's endpoint, named after its dataset as local mode names it, e.g. `mlops-prod-customer-churn`."""
    return f"{stage_prefix(config, stage)}-{config.dataset_contract}"


# The ServingStack's parameter naming the package to serve; the deploy pipeline sets it.
MODEL_PACKAGE_PARAMETER = "ModelPackageArn"


def rollback_alarm_name(endpoint: str, signal: str) -> str:
    """An alarm whose firing rolls an endpoint update back, e.g. `mlops-prod-customer-churn-rollback-5xx`."""
    return f"{endpoint}-rollback-{signal}"


def drift_alarm_name(endpoint: str) -> str:
    """The alarm on an endpoint's feature drift (the largest per-feature distance a monitoring run publishes)."""
    return f"{endpoint}-feature-drift"


def model_quality_alarm_name(endpoint: str) -> str:
    """The alarm on an endpoint's model quality (the contract's metric, on ground truth, a monitoring run publishes)."""
    return f"{endpoint}-model-quality"


def attribution_drift_alarm_name(endpoint: str) -> str:
    """The alarm on an endpoint's feature-attribution drift (its features ranked otherwise than at training)."""
    return f"{endpoint}-attribution-drift"


def bias_alarm_name(endpoint: str, metric: str) -> str:
    """The alarm on a bias metric the contract limits, on an endpoint's labelled traffic, e.g. `...-bias-dppl`."""
    return f"{endpoint}-bias-{metric.lower()}"


def notification_topic_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The stage's SNS topic: alarms, failed runs, models waiting for approval, retraining decisions."""
    return f"{stage_prefix(config, stage)}-notifications"


SAGEMAKER_NAME_LENGTH = 63  # endpoints, pipelines, model package groups


def monitoring_pipeline_name(endpoint: str) -> str:
    """An endpoint's monitoring pipeline, e.g. `mlops-prod-customer-churn-monitoring`."""
    return f"{endpoint}-monitoring"


# Where the monitoring runs write their reports, `monitoring-reports/<endpoint>/<execution id>/`, in the stage's
# monitoring bucket (captured traffic and ground truth are there too: ml_code/paths.py).
MONITORING_REPORTS = "monitoring-reports"


def deployed_name(config: PlatformConfig, stage: StageConfig, version: str, kind: str, digest: str) -> str:
    """A Model or EndpointConfig, which CloudFormation replaces on any change: `<prefix>-<stage>-<kind>-v<package
    version>-<digest of its settings>`, so every replacement gets a new name, e.g. `mlops-prod-model-v7-1a2b3c4d`."""
    return f"{stage_prefix(config, stage)}-{kind}-v{version}-{digest}"


def batch_scoring_pipeline_name(config: PlatformConfig, stage: StageConfig) -> str:
    """The SageMaker Pipeline that scores curated data with the newest Approved model."""
    return f"{stage_prefix(config, stage)}-batch-scoring"


# Where batch scoring writes its predictions in the curated bucket (`predictions/<contract>/<execution>/`), and
# its steps' outputs in the artifacts bucket.
PREDICTIONS = "predictions"
BATCH_SCORING_PREFIX = "batch-scoring"
