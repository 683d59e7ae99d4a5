"""The platform's configuration: typed, frozen sections read once from the `platform` key of cdk.json context.

Each stage has a section per concern (`etl`, `build`, `tuning`, `serving`, `rollout`, `monitoring`, `experiments`)
besides where it goes; `cicd` configures the pipelines. The models here are the one source of the JSON Schema of
that key (`schema/platform.schema.json`, which editors use to complete and check cdk.json) and of the configuration
reference (`docs/configuration-reference.md`); `python -m blueprint.config_schema` writes both.

Values can be overridden on the command line with `-c platform.<path>=<value>`, for example
`-c platform.prefix=acme` or `-c platform.stages.prod.account=111122223333`; `-c stage=<name>` limits the app to one
stage. Every error names the key, cdk.json and what the key takes.
"""

from __future__ import annotations

import copy
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from blueprint.naming import (
    SAGEMAKER_NAME_LENGTH,
    batch_scoring_pipeline_name,
    endpoint_name,
    model_package_group_name,
    monitoring_pipeline_name,
    pipeline_name,
)

CONTEXT_KEY = "platform"
CICD_KEY = "cicd"
STAGE_SELECTOR = "stage"
SOURCE = "cdk.json"

MAX_ROLLOUT_BAKE_MINUTES = 60  # SageMaker waits at most 3600 s between traffic shifts
# SageMaker's bounds on a whole blue/green update (BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds in its API;
# tests/infra/test_config.py holds them to botocore's model), and the time allowed to provision the new fleet.
MIN_UPDATE_SECONDS, MAX_UPDATE_SECONDS = 600, 28_800
PROVISIONING_ALLOWANCE_SECONDS = 1800
# Endpoint instance families with local NVMe instance storage (EC2's instance store volumes). CreateEndpointConfig's
# KmsKeyId "does not encrypt instance local storage" on them (it is encrypted by the instance's hardware, with no key
# of ours): the platform keeps what its endpoints store under its own key, so it does not serve on them.
LOCAL_STORAGE_FAMILIES = frozenset(
    "m5d c5d r5d c6gd m6gd r6gd r7gd g4dn g5 g6 g6e dl1 trn1 trn1n trn2 p4d p4de p5 p5e p5en p6-b200 p6-b300 "
    "p6e-gb200".split()
)
MAX_PREFIX_AND_STAGE = 20
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[\w-]+$")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key and the file."""


def _invalid(key: str, message: str) -> PydanticCustomError:
    """A rule of the config broken at `key` (relative to the section that checks it, '' for the section itself)."""
    return PydanticCustomError("config", message, {"key": key})


def _matching(pattern: str, what: str) -> Any:
    """Text matching `pattern` (in the JSON Schema too); otherwise the error says it is not `what`."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise _invalid("", f"{value!r} is not {what}")
        return value

    return Annotated[str, AfterValidator(check), Field(json_schema_extra={"pattern": pattern})]


Account = _matching(r"^\d{12}$", "a 12-digit AWS account id")
Region = _matching(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", "an AWS region such as 'eu-west-1'")
Schedule = _matching(
    r"^(cron\([^()]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$",
    "an EventBridge schedule such as 'cron(0 2 * * ? *)' or 'rate(1 day)'",
)
InstanceType = _matching(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$", "a SageMaker instance type such as 'ml.m5.large'")
Email = _matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an e-mail address")
Name = _matching(r"^[a-z][a-z0-9-]{1,20}$", "2-21 characters of a-z, 0-9 and '-', starting with a letter")
Emails = tuple[Email, ...]  # from -c: comma-separated
Rollout = Literal["all_at_once", "canary", "linear"]


def instance_family(instance_type: str) -> str:
    """`ml.g5.xlarge` -> `g5`."""
    return instance_type.split(".")[1] if instance_type.count(".") >= 2 else instance_type


def rollout_shifts(mode: str, step_instances: int, max_instances: int) -> int:
    """How many times a blue/green update shifts traffic (each followed by a bake)."""
    if mode == "all_at_once":
        return 1
    if mode == "canary":
        return 2
    if mode == "linear":
        return math.ceil(max_instances / step_instances)
    raise ValueError(f"unknown rollout {mode!r}: use {', '.join(typing.get_args(Rollout))}")


def rollout_seconds(mode: str, step_instances: int, bake_minutes: int, max_instances: int) -> int:
    """The time a whole update may take: the new fleet's provisioning, then every shift and its bake."""
    return PROVISIONING_ALLOWANCE_SECONDS + rollout_shifts(mode, step_instances, max_instances) * bake_minutes * 60


class _Section(BaseModel):
    """A part of the config: frozen, no key it does not know, no value converted from another type."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)


class EtlConfig(_Section):
    """The stage's data: how long raw exports are kept, and the Glue job that curates them."""

    raw_retention_days: int = Field(365, ge=1)
    """The data-retention policy: days raw exports, which hold personal data, are kept after ingestion."""
    worker_type: Literal["G.1X", "G.2X", "G.4X", "G.8X"] = "G.1X"
    """Worker type of the ETL job."""
    workers: int = Field(2, ge=2)
    """Workers of the ETL job (Glue needs at least 2)."""
    schedule: Schedule | None = None
    """An EventBridge schedule (`cron(0 3 * * ? *)`, `rate(1 day)`) for catch-up ETL runs; null: on upload only."""


class BuildConfig(_Section):
    """The model-build pipeline: the defaults of its instance parameters, and its champion gate."""

    processing_instance_type: InstanceType = "ml.m5.xlarge"
    """Default of the pipeline's processing jobs (and of batch scoring's)."""
    processing_instances: int = Field(1, ge=1)
    """Preprocessing's instances (default of `ProcessingInstanceCount`): more than one each read a share of the
    input's files, the transform's statistics combined over all; the other processing jobs run on one."""
    training_instance_type: InstanceType = "ml.m5.xlarge"
    """Default of the pipeline's training job."""
    training_instances: int = Field(1, ge=1)
    """Hosts that train one model together (default of `TrainingInstanceCount`), each on its files of the train
    split."""
    spot_training: bool = False
    """Managed spot training, with checkpoints."""
    champion_tolerance: float = Field(0.01, ge=0, lt=1)
    """The largest shortfall against the approved model that still passes the gate."""


class TuningConfig(_Section):
    """Hyperparameter tuning in place of the one training job, over `ml_code/training/search_space.json`."""

    trials: int = Field(0, ge=0)
    """Training jobs of the tuning job; 0: no tuning (the best trial's model goes on to evaluation)."""
    parallel: int = Field(2, ge=1)
    """Tuning's training jobs at a time, at most `trials`."""
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"] = "Bayesian"
    """How SageMaker searches."""

    @model_validator(mode="after")
    def _parallel_within_trials(self) -> TuningConfig:
        if self.trials and self.parallel > self.trials:
            raise _invalid("parallel", f"{self.parallel} jobs at a time is more than the {self.trials} trials")
        return self


class ServingConfig(_Section):
    """The stage's endpoint (a ServingStack when `enabled`), its autoscaling and its batch scoring."""

    enabled: bool = False
    """A ServingStack for the stage: an endpoint serving the release stage's Approved models."""
    instance_type: InstanceType = "ml.m5.large"
    """Instance type of the endpoint; no family with local instance storage (`ml.m5d`, `ml.g4dn`, `ml.g5`, `ml.p5`,
    `ml.trn1`, ...), which the endpoint's KMS key does not encrypt."""
    min_instances: int = Field(1, ge=1)
    """Autoscaling floor of the endpoint, and its initial count."""
    max_instances: int = Field(4, ge=1)
    """Autoscaling ceiling of the endpoint (equal to `min_instances`: a fixed fleet)."""
    target_invocations_per_instance: int = Field(600, ge=1)
    """Autoscaling's target: invocations per instance a minute."""
    capture_percentage: int = Field(100, ge=1, le=100)
    """Share of requests captured for monitoring, 1-100."""
    batch_schedule: Schedule | None = None
    """An EventBridge schedule on which batch scoring scores the curated data with the newest Approved model; null:
    on demand only."""

    @model_validator(mode="after")
    def _a_fleet_to_serve_from(self) -> ServingConfig:
        if self.min_instances > self.max_instances:
            raise _invalid("min_instances", f"{self.min_instances} is more than max_instances ({self.max_instances})")
        if instance_family(self.instance_type) in LOCAL_STORAGE_FAMILIES:
            raise _invalid(
                "instance_type",
                f"{self.instance_type!r} has local instance storage, which the endpoint's KMS key does not encrypt "
                "(SageMaker's CreateEndpointConfig); pick a family without it (ml.m5.large, not ml.m5d.large; ml.p3 "
                "among the GPU families)",
            )
        return self


class RolloutConfig(_Section):
    """How an endpoint update rolls out (blue/green) and what rolls it back."""

    mode: Rollout = "all_at_once"
    """How the update shifts traffic: all at once, a canary then the rest, or linear steps."""
    step_instances: int = Field(1, ge=1)
    """The canary's size or the linear step, in instances: at most half of `serving.min_instances`, and a linear
    step at least 10 % of `serving.max_instances`."""
    bake_minutes: int = Field(10, ge=0, le=MAX_ROLLOUT_BAKE_MINUTES)
    """Baking time between shifts and before the old fleet goes, 0-60 (SageMaker's longest wait)."""
    rollback_5xx_errors: int = Field(5, ge=1)
    """5XX responses a minute that roll an update back."""
    rollback_latency_ms: int = Field(500, ge=1)
    """p99 model latency, in milliseconds, that rolls an update back."""


class MonitoringConfig(_Section):
    """The monitoring pipeline on a serving stage's endpoint, its alarms, and the retraining they start."""

    enabled: bool = False
    """The monitoring pipeline (our own jobs), its metrics and alarms on the stage's endpoint (a serving stage)."""
    schedule: Schedule = "cron(0 * ? * * *)"
    """When the pipeline runs: a cron expression, on the hour (each run monitors the window that ends then)."""
    window_hours: int = Field(1, ge=1, le=24)
    """The hours of captured traffic each run monitors (the schedule's period), 1-24."""
    instance_type: InstanceType = "ml.m5.large"
    """Instance type of the monitoring jobs."""
    drift_threshold: float = Field(0.1, gt=0, le=1)
    """The drift alarm's threshold on the largest feature drift, a distance between two distributions, in (0, 1]."""
    alarm_evaluation_periods: int = Field(3, ge=1)
    """Monitoring runs an alarm looks at."""
    alarm_datapoints: int = Field(2, ge=1)
    """Breaching runs among them that put an alarm in ALARM, at most `alarm_evaluation_periods`."""
    retrain_cooldown_hours: float = Field(12.0, ge=0)
    """The least time between two retrainings the guard starts (at most one per alarm episode)."""

    @model_validator(mode="after")
    def _runs_to_alarm_on(self) -> MonitoringConfig:
        if not self.schedule.startswith("cron("):
            raise _invalid(
                "schedule",
                f"{self.schedule!r} is not a cron expression such as 'cron(0 * ? * * *)' (on the hour: each run "
                "monitors the window that ends then)",
            )
        if self.alarm_datapoints > self.alarm_evaluation_periods:
            raise _invalid(
                "alarm_datapoints",
                f"{self.alarm_datapoints} is more than alarm_evaluation_periods ({self.alarm_evaluation_periods})",
            )
        return self


class ExperimentsConfig(_Section):
    """The stage's experiment tracking on AWS: a SageMaker AI MLflow tracking server, billed by the hour while it
    exists, and the build that logs every ended pipeline execution to it (local mode logs to its own store)."""

    enabled: bool = True
    """The tracking server and the logging build; false: neither (the reports stay in S3, the runs unlogged)."""
    size: Literal["Small", "Medium", "Large"] = "Small"
    """The server's size: AWS recommends Small for teams of up to 25 users, Medium up to 50, Large up to 100."""


class StageConfig(_Section):
    """One deployment stage (dev, staging, prod): where it goes and what runs in it, a section per concern."""

    name: SkipJsonSchema[str] = Field(exclude=True)
    """The stage's key in `stages` (set from it, never written)."""
    account: Account | None = None
    """12-digit account; null deploys to the account of your credentials."""
    region: Region | None = None
    """Region; null deploys to the region of your credentials."""
    data_key_arn: str | None = None
    """The ARN of the stage's data key (its DataStack's output `DataKeyArn`): required of the release stage once a
    serving stage is in another account, which reads the models with this key."""
    removal_policy: Literal["retain", "destroy"] = "retain"
    """What happens to buckets and keys when they leave the stack."""
    notify: Emails = ()
    """E-mail addresses the stage's topic tells of alarms, failed runs, models waiting for approval and retraining
    decisions."""
    etl: EtlConfig = Field(default_factory=EtlConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)

    @model_validator(mode="after")
    def _consistent(self) -> StageConfig:
        match = _KEY_ARN.match(self.data_key_arn or "")
        if self.data_key_arn is not None and not (
            match and self.account in (None, match["account"]) and self.region in (None, match["region"])
        ):
            raise _invalid(
                "data_key_arn",
                f"{self.data_key_arn!r} is not the ARN of a KMS key in the stage's account and region, such as "
                "'arn:aws:kms:eu-west-1:111122223333:key/<key id>' (the stage's DataStack output DataKeyArn)",
            )
        if self.monitoring.enabled and not self.serving.enabled:
            raise _invalid("monitoring.enabled", "only a serving stage (serving.enabled) has an endpoint to monitor")
        self._check_rollout()
        return self

    def _check_rollout(self) -> None:
        """SageMaker's rules for a blue/green update of this stage's fleet: a canary is at most 50 % of it, a linear
        step 10-50 %, whatever its size between min and max instances; the whole update within its time limit."""
        rollout, serving = self.rollout, self.serving
        if rollout.mode == "all_at_once":
            return
        step = rollout.step_instances
        if 2 * step > serving.min_instances:
            raise _invalid(
                "rollout.step_instances",
                f"a {rollout.mode} step of {step} instance(s) must be at most half of serving.min_instances "
                f"({serving.min_instances}); a {rollout.mode} rollout needs min_instances >= 2",
            )
        if rollout.mode == "linear" and 10 * step < serving.max_instances:
            raise _invalid(
                "rollout.step_instances",
                f"a linear step of {step} instance(s) is under 10 % of serving.max_instances "
                f"({serving.max_instances}), SageMaker's smallest linear step",
            )
        needed = rollout_seconds(rollout.mode, step, rollout.bake_minutes, serving.max_instances)
        if needed > MAX_UPDATE_SECONDS:
            shifts = rollout_shifts(rollout.mode, step, serving.max_instances)
            raise _invalid(
                "rollout.bake_minutes",
                f"a {rollout.mode} rollout of {shifts} shift(s) baking {rollout.bake_minutes} min each, plus "
                f"{PROVISIONING_ALLOWANCE_SECONDS} s to provision, takes {needed} s, over SageMaker's limit of "
                f"{MAX_UPDATE_SECONDS} s for an update; bake for less or step by more instances "
                "(rollout.step_instances)",
            )


class CicdConfig(_Section):
    """The CI/CD pipelines: where their source comes from, where they run, which stage releases.

    The source is the `repository` branch through the CodeConnections connection `connection_arn`, or, without one,
    a zip of the repository uploaded to the pipelines' source bucket (`make upload-source`)."""

    connection_arn: (
        _matching(
            r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[\w-]+$",
            "a CodeConnections connection ARN such as 'arn:aws:codeconnections:eu-west-1:111122223333:connection/<id>'",
        )
        | None
    ) = None
    """A CodeConnections connection; null: the S3 source (`make upload-source`)."""
    repository: _matching(r"^[\w.-]+(/[\w.-]+)+$", "'owner/name'") | None = None
    """`owner/name` of the repository, with `connection_arn`."""
    branch: _matching(r"^[\w./-]{1,100}$", "a branch name") = "main"
    """The branch whose pushes run the commit pipeline."""
    account: Account | None = None
    """The tooling account; null: the first stage's."""
    region: Region | None = None
    """The tooling region; null: the first stage's."""
    release_stage: str | None = None
    """The stage whose approved models every serving stage serves; null: the first serving stage."""
    notify: Emails = ()
    """E-mail addresses told of approvals waiting, rejections and failed runs."""
    smoke_test_latency_ms: int = Field(1000, ge=1)
    """The smoke test's bound on an endpoint's median round trip, in milliseconds."""

    @model_validator(mode="after")
    def _one_source(self) -> CicdConfig:
        if (self.connection_arn is None) != (self.repository is None):
            raise _invalid(
                "connection_arn/repository",
                "give both (a repository through a CodeConnections connection) or neither (a zip uploaded with "
                "`make upload-source`)",
            )
        return self


class PlatformConfig(_Section):
    """Everything the CDK app needs to know (the `platform` key of cdk.json's context), validated before any
    construct is built."""

    prefix: Name
    """Starts every physical name (`<prefix>-<stage>-...`); with a stage's name at most 20 characters."""
    dataset_contract: str
    """The dataset contract (`ml_code/contracts/<name>.json`) the platform trains on; with the prefix and each stage
    it names SageMaker resources of at most 63 characters, checked at load."""
    stages: dict[Name, StageConfig] = Field(min_length=1)
    """One entry per stage (`dev`, `staging`, `prod`), by name."""
    cicd: CicdConfig = Field(default_factory=CicdConfig)

    @model_validator(mode="after")
    def _consistent(self) -> PlatformConfig:
        for stage in self.stages.values():
            if len(self.prefix) + len(stage.name) > MAX_PREFIX_AND_STAGE:
                raise _invalid(
                    f"prefix and {CONTEXT_KEY}.stages.{stage.name}",
                    f"together {len(self.prefix) + len(stage.name)} characters, at most {MAX_PREFIX_AND_STAGE} "
                    "(bucket names add purpose, account and region within S3's 63)",
                )
        release = self.cicd.release_stage
        if release is not None and release not in self.stages:
            raise _invalid(f"{CICD_KEY}.release_stage", f"{release!r} is not a stage; stages are {list(self.stages)}")
        released_from = self.release_stage
        elsewhere = [
            stage.name
            for stage in self.stages.values()
            if stage.serving.enabled and stage.account is not None and released_from is not None
        ]
        if elsewhere and (released_from.account is None or released_from.region is None):
            raise _invalid(
                f"stages.{released_from.name}.account and .region",
                f"serving stages {elsewhere} name their accounts, so the release stage {released_from.name!r}, whose "
                "models they serve, must name its account and region too",
            )
        return self

    @property
    def release_stage(self) -> StageConfig | None:
        """The stage whose Model Registry group releases models to every serving stage (`cicd.release_stage`, by
        default the first serving stage); None when no stage serves."""
        if self.cicd.release_stage is not None:
            return self.stage(self.cicd.release_stage)
        return next((stage for stage in self.stages.values() if stage.serving.enabled), None)

    def serves_from_another_account(self, stage: StageConfig) -> bool:
        """Whether `stage` serves models of a release stage in another account (which then shares them with it)."""
        release = self.release_stage
        return release is not None and release.account is not None and stage.account != release.account

    def forwards_alarms(self, stage: StageConfig) -> bool:
        """Whether a monitored `stage`'s alarms must travel to the release stage's event bus (its retrain guard): in
        another account, or in another region of the same one."""
        release = self.release_stage
        if not stage.monitoring.enabled or release is None or release.name == stage.name:
            return False
        other_region = release.region is not None and stage.region != release.region
        return self.serves_from_another_account(stage) or other_region

    @property
    def release_consumers(self) -> tuple[str, ...]:
        """The accounts, other than the release stage's, of stages that serve its models: it shares them with these."""
        return tuple(
            dict.fromkeys(
                stage.account
                for stage in self.stages.values()
                if stage.serving.enabled and stage.account and self.serves_from_another_account(stage)
            )
        )

    @property
    def first_stage(self) -> StageConfig:
        """The first stage in cdk.json."""
        return next(iter(self.stages.values()))

    @property
    def tooling_account(self) -> str | None:
        """The CI/CD pipelines' account: `cicd.account`, else the first stage's; None: the deploying credentials'."""
        return self.cicd.account or self.first_stage.account

    @property
    def tooling_region(self) -> str | None:
        """The CI/CD pipelines' region: `cicd.region`, else the first stage's; None: the deploying credentials'."""
        return self.cicd.region or self.first_stage.region

    def stage(self, name: str) -> StageConfig:
        """The stage called `name`; an error lists the configured ones."""
        if name in self.stages:
            return self.stages[name]
        raise ConfigError(
            f"unknown stage {name!r} (from -c {STAGE_SELECTOR}=...): {SOURCE} key {CONTEXT_KEY}.stages defines "
            f"{list(self.stages)}"
        )


def load_config(context: Mapping[str, Any]) -> PlatformConfig:
    """Build the config from CDK context: the `platform` object, then `-c platform.<path>=<value>` overrides."""
    raw = context.get(CONTEXT_KEY)
    if raw is None:
        raise ConfigError(f"missing key {CONTEXT_KEY!r} in the context of {SOURCE}")
    if isinstance(raw, str):  # `-c platform=<json>` replaces the whole object
        raw = _parse_json(raw, CONTEXT_KEY)
    raw = copy.deepcopy(raw)  # overrides change a private copy
    for key in sorted(context):
        if key.startswith(CONTEXT_KEY + "."):
            _apply_override(raw, key.split(".")[1:], context[key], key)
    try:  # through JSON: a list is a fine tuple, an int a fine float, and nothing else converts
        config = PlatformConfig.model_validate_json(json.dumps(_named_stages(raw)), strict=True)
    except ValidationError as error:
        raise _config_error(error) from error
    check_sagemaker_names(config)
    return config


def _named_stages(raw: Any) -> Any:
    """`raw` with each stage's `name` set from its key in `stages`."""
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), dict):
        return raw  # validation names what is wrong
    for name, body in raw["stages"].items():
        if isinstance(body, dict) and "name" in body:
            raise ConfigError(
                f"{CONTEXT_KEY}.stages.{name}.name in {SOURCE}: is not a key: a stage's name is its key in `stages`"
            )
    named = {name: {**body, "name": name} if isinstance(body, dict) else body for name, body in raw["stages"].items()}
    return {**raw, "stages": named}


def check_sagemaker_names(config: PlatformConfig) -> None:
    """Fail when a SageMaker name the config makes (from the prefix, a stage and the dataset contract's name) is over
    SageMaker's 63 characters, saying how long the contract's name may be."""
    for stage in config.stages.values():
        endpoint = endpoint_name(config, stage)
        names = {
            "model package group": model_package_group_name(config, stage),
            "endpoint": endpoint,
            "model build pipeline": pipeline_name(config, stage),
            "batch scoring pipeline": batch_scoring_pipeline_name(config, stage),
            "monitoring pipeline": monitoring_pipeline_name(endpoint),
        }
        for what, name in names.items():
            if len(name) > SAGEMAKER_NAME_LENGTH:
                contract = config.dataset_contract
                budget = SAGEMAKER_NAME_LENGTH - (len(name) - len(contract))
                raise ConfigError(
                    f"platform.dataset_contract in {SOURCE}: the {what} of stage {stage.name!r}, {name!r}, has "
                    f"{len(name)} characters, over SageMaker's {SAGEMAKER_NAME_LENGTH}: with prefix {config.prefix!r} "
                    f"and that stage, a contract name may have {budget} characters ({contract!r} has {len(contract)})"
                )


def selected_stages(config: PlatformConfig, context: Mapping[str, Any]) -> tuple[StageConfig, ...]:
    """The stages to synthesize: all of them, or the one named by `-c stage=<name>`."""
    name = context.get(STAGE_SELECTOR)
    return tuple(config.stages.values()) if name is None else (config.stage(str(name)),)


def stage_sections() -> dict[str, type[BaseModel]]:
    """A stage's sections by key: `etl` -> EtlConfig, ..."""
    return {
        name: field.annotation
        for name, field in StageConfig.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def section_at(path: typing.Sequence[str]) -> type[BaseModel] | None:
    """The section whose key a config path's last part is (`stages.<name>` steps over a stage's name); None when the
    path leaves the config."""
    node: Any = PlatformConfig
    for part in path[:-1]:
        if isinstance(node, type) and issubclass(node, BaseModel) and part in node.model_fields:
            node = node.model_fields[part].annotation
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]
        else:
            return None
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _config_error(error: ValidationError) -> ConfigError:
    problems = [_problem(detail) for detail in error.errors(include_url=False)]
    if len(problems) == 1:
        return ConfigError(problems[0])
    return ConfigError(f"{len(problems)} problems in {SOURCE}:\n  " + "\n  ".join(problems))


def _problem(detail: Mapping[str, Any]) -> str:
    """One validation error as a sentence naming the key, the file, the rule and what the key means."""
    path = [part for part in detail["loc"] if part != "[key]"]  # a stage's name is checked at its key
    keys = [str(part) for part in path if not isinstance(part, int)]
    key = ".".join([CONTEXT_KEY, *(f"[{part}]" if isinstance(part, int) else part for part in path)]).replace(".[", "[")
    kind, value = detail["type"], detail.get("input")
    if kind == "config":
        relative = detail["ctx"]["key"]
        return f"{key}{'.' + relative if relative else ''} in {SOURCE}: {detail['msg']}"
    section = section_at(keys)
    if kind == "extra_forbidden":
        known = sorted(name for name, field in section.model_fields.items() if not field.exclude) if section else []
        moved = _section_key(keys[-1]) if section is StageConfig else None
        hint = f" (a key of the flat shape before sections: now {moved})" if moved else ""
        return f"unknown key {key} in {SOURCE}{hint}; known keys: {known}"
    if kind == "missing":
        return f"missing key {key} in {SOURCE}"
    field = section.model_fields.get(keys[-1]) if section and keys else None
    meaning = f" ({_SENTENCE_END.split(field.description)[0]})" if field and field.description else ""
    if kind.endswith("_type"):
        return f"wrong type for key {key} in {SOURCE}: {detail['msg'].lower()}, got {value!r}{meaning}"
    return f"{key} in {SOURCE}: {value!r}: {detail['msg']}{meaning}"


def _section_key(name: str) -> str | None:
    """Where a stage's key of the flat shape before sections went: `min_instances` -> `serving.min_instances`,
    `glue_workers` -> `etl.workers`, `monitor_schedule` -> `monitoring.schedule`; None when no one place fits."""
    first, _, rest = name.partition("_")
    owners = {
        f"{section}.{key}": section
        for section, model in stage_sections().items()
        for key in model.model_fields
        if key in (name, rest)
    }
    if len(owners) > 1:  # the same name first, else the section its first word begins (`etl_schedule`)
        exact = {key: section for key, section in owners.items() if key.endswith(f".{name}")}
        owners = exact or {key: section for key, section in owners.items() if section.startswith(first)}
    return next(iter(owners)) if len(owners) == 1 else None


def _plain_types(annotation: Any) -> tuple[Any, ...]:
    """The types a key takes: `Annotated` and unions opened, a Literal as its values' type."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _plain_types(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(kind for arg in typing.get_args(annotation) for kind in _plain_types(arg))
    if origin is Literal:
        return tuple(dict.fromkeys(type(value) for value in typing.get_args(annotation)))
    return (origin or annotation,)


def _from_cli(text: str, path: list[str]) -> Any:
    """A `-c` value as the type its key takes (text when the key is unknown: validation then names it)."""
    section = section_at(path)
    field = section.model_fields.get(path[-1]) if section else None
    allowed = _plain_types(field.annotation) if field else (str,)
    if tuple in allowed:  # a list: comma-separated
        return [item for item in text.split(",") if item]
    if type(None) in allowed and text == "null":
        return None
    if int in allowed and re.fullmatch(r"-?\d+", text) and str not in allowed:
        return int(text)
    if float in allowed and re.fullmatch(r"-?\d+(\.\d*)?([eE]-?\d+)?", text):
        return float(text)
    if bool in allowed and text in ("true", "false"):
        return text == "true"
    return text


def _apply_override(raw: dict, path: list[str], value: Any, key: str) -> None:
    """Set `platform.<path>` from a `-c` flag, its text as the type of its key."""
    if not path or not all(path):
        raise ConfigError(f"bad override key {key!r}: use -c {CONTEXT_KEY}.<key>[.<key>...]=<value>")
    node = raw
    for part in path[:-1]:
        node = node.setdefault(part, {})
        _require_object(node, key)
    node[path[-1]] = _from_cli(value, path) if isinstance(value, str) else value


def _parse_json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"key {key} (from -c): not valid JSON: {error}") from error


def _require_object(value: Any, key: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"wrong type for key {key} in {SOURCE}: expected an object, got {value!r}")
    return value
