"""The platform's configuration: frozen dataclasses read once from the `platform` key of cdk.json context.

Values can be overridden on the command line with `-c platform.<path>=<value>`, for example
`-c platform.prefix=acme` or `-c platform.stages.prod.account=111122223333`; `-c stage=<name>` limits
the app to one stage. Every error names the key and cdk.json.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

REMOVAL_POLICIES = ("retain", "destroy")
GLUE_WORKER_TYPES = ("G.1X", "G.2X", "G.4X", "G.8X")
ROLLOUTS = ("all_at_once", "canary", "linear")
TUNING_STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")
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
_SCHEDULE = re.compile(r"^(cron\([^()]+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,20}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_CONNECTION = re.compile(r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[\w-]+$")
_REPOSITORY = re.compile(r"^[\w.-]+(/[\w.-]+)+$")
_BRANCH = re.compile(r"^[\w./-]{1,100}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key and the file."""


_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[\w-]+$")


def _key_arn_of(arn: str, account: str | None, region: str | None) -> bool:
    """Whether `arn` is a KMS key's ARN, in `account` and `region` where they are given."""
    match = _KEY_ARN.match(arn)
    return bool(match) and account in (None, match["account"]) and region in (None, match["region"])


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
    raise ValueError(f"unknown rollout {mode!r}: use {', '.join(ROLLOUTS)}")


def rollout_seconds(mode: str, step_instances: int, bake_minutes: int, max_instances: int) -> int:
    """The time a whole update may take: the new fleet's provisioning, then every shift and its bake."""
    return PROVISIONING_ALLOWANCE_SECONDS + rollout_shifts(mode, step_instances, max_instances) * bake_minutes * 60


@dataclass(frozen=True)
class StageConfig:
    """One deployment stage (dev, staging, prod): where it goes and how big it is."""

    name: str
    account: str | None = None
    region: str | None = None
    # The ARN of the stage's data key (its DataStack's output `DataKeyArn`): serving stages in other accounts reach a
    # release stage's models through it (set it once that stack is deployed).
    data_key_arn: str | None = None
    removal_policy: str = "retain"
    endpoint_instance_type: str = "ml.m5.large"
    min_instances: int = 1
    max_instances: int = 4
    # How long raw exports, which hold personal data, are kept after ingestion: the data-retention policy.
    raw_retention_days: int = 365
    glue_worker_type: str = "G.1X"
    glue_workers: int = 2
    etl_schedule: str | None = None
    training_instance_type: str = "ml.m5.xlarge"
    # Hosts of the training job: more than one train one model together, each on its share of the train split
    # (sharded by S3 key; preprocessing writes one file per host).
    training_instances: int = 1
    processing_instance_type: str = "ml.m5.xlarge"
    # Instances of the preprocessing job: more than one each read a share of the input's files and transform it,
    # the transform's statistics combined over all (the other processing jobs run on one).
    processing_instances: int = 1
    spot_training: bool = False
    champion_tolerance: float = 0.01
    # Monitoring: an alarm fires when `alarm_datapoints` of the last `alarm_evaluation_periods` monitoring runs
    # breach (the largest feature drift above `drift_threshold`, a distance; the contract's metric worse than its
    # threshold); a retraining starts at most once per alarm episode and `retrain_cooldown_hours` apart.
    drift_threshold: float = 0.1
    alarm_evaluation_periods: int = 3
    alarm_datapoints: int = 2
    retrain_cooldown_hours: float = 12.0
    # Where a serving stage is monitored (`monitor`): its monitoring pipeline (our own jobs) runs on
    # `monitor_schedule` (hourly by default) over the last `monitor_window_hours` of captured traffic (the
    # schedule's period). `notify` lists the e-mail addresses the stage's topic tells of alarms, failed runs, models
    # waiting for approval and retraining decisions.
    # Tuning: `tuning_trials` training jobs (0: one, untuned) over ml_code/training/search_space.json, `tuning_parallel`
    # at a time, searched with `tuning_strategy`; the best one's model goes on to evaluation.
    tuning_trials: int = 0
    tuning_parallel: int = 2
    tuning_strategy: str = "Bayesian"
    monitor: bool = False
    monitor_schedule: str = "cron(0 * ? * * *)"
    monitor_window_hours: int = 1
    monitor_instance_type: str = "ml.m5.large"
    notify: tuple[str, ...] = ()
    # Serving (a ServingStack when `serving` is on): the endpoint's instances autoscale between min_instances and
    # max_instances on `target_invocations_per_instance` (per minute); `capture_percentage` of requests are captured
    # for monitoring. An update rolls out blue/green: all at once, or a canary of `rollout_step_instances`
    # (linear: steps of that many) with `rollout_bake_minutes` between shifts, and rolls back when the endpoint's
    # 5XX errors (`rollback_5xx_errors` a minute) or p99 model latency (`rollback_latency_ms`) alarm.
    # `batch_schedule` scores the curated data with the newest Approved model periodically.
    serving: bool = False
    capture_percentage: int = 100
    target_invocations_per_instance: int = 600
    rollout: str = "all_at_once"
    rollout_step_instances: int = 1
    rollout_bake_minutes: int = 10
    rollback_5xx_errors: int = 5
    rollback_latency_ms: int = 500
    batch_schedule: str | None = None

    def __post_init__(self) -> None:
        where = f"{CONTEXT_KEY}.stages.{self.name}"
        if self.account is not None and not _ACCOUNT.match(self.account):
            raise ConfigError(f"{where}.account in {SOURCE}: {self.account!r} is not a 12-digit AWS account id")
        if self.region is not None and not _REGION.match(self.region):
            raise ConfigError(f"{where}.region in {SOURCE}: {self.region!r} is not an AWS region such as 'eu-west-1'")
        if self.removal_policy not in REMOVAL_POLICIES:
            raise ConfigError(
                f"{where}.removal_policy in {SOURCE}: {self.removal_policy!r} is not one of {list(REMOVAL_POLICIES)}"
            )
        if self.glue_worker_type not in GLUE_WORKER_TYPES:
            raise ConfigError(
                f"{where}.glue_worker_type in {SOURCE}: {self.glue_worker_type!r} is not one of "
                f"{list(GLUE_WORKER_TYPES)}"
            )
        if self.raw_retention_days < 1:
            raise ConfigError(
                f"{where}.raw_retention_days in {SOURCE}: {self.raw_retention_days!r} must be at least 1, the days "
                "raw exports are kept after ingestion"
            )
        if self.glue_workers < 2:
            raise ConfigError(
                f"{where}.glue_workers in {SOURCE}: Glue needs at least 2 workers, got {self.glue_workers}"
            )
        for key in ("etl_schedule", "batch_schedule"):
            schedule = getattr(self, key)
            if schedule is not None and not _SCHEDULE.match(schedule):
                raise ConfigError(
                    f"{where}.{key} in {SOURCE}: {schedule!r} is not an EventBridge schedule such as "
                    "'cron(0 2 * * ? *)' or 'rate(1 day)'"
                )
        if not 0 <= self.champion_tolerance < 1:
            raise ConfigError(
                f"{where}.champion_tolerance in {SOURCE}: {self.champion_tolerance!r} must be in [0, 1), the largest "
                "shortfall against the approved model that still passes"
            )
        trials, parallel = self.tuning_trials, self.tuning_parallel
        if trials < 0 or parallel < 1 or (trials and parallel > trials):
            raise ConfigError(
                f"{where}.tuning_trials/tuning_parallel in {SOURCE}: need trials >= 0 (0: no tuning) and 1 <= parallel "
                f"<= trials, got {self.tuning_trials} and {self.tuning_parallel}"
            )
        for key, what in (
            ("training_instances", "the hosts that train one model together"),
            ("processing_instances", "the instances that preprocess the input together"),
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"{where}.{key} in {SOURCE}: {getattr(self, key)!r} must be at least 1, {what}")
        if self.tuning_strategy not in TUNING_STRATEGIES:
            raise ConfigError(
                f"{where}.tuning_strategy in {SOURCE}: {self.tuning_strategy!r} is not one of {list(TUNING_STRATEGIES)}"
            )
        if self.data_key_arn is not None and not _key_arn_of(self.data_key_arn, self.account, self.region):
            raise ConfigError(
                f"{where}.data_key_arn in {SOURCE}: {self.data_key_arn!r} is not the ARN of a KMS key in the stage's "
                "account and region, such as 'arn:aws:kms:eu-west-1:111122223333:key/<key id>' (the stage's DataStack "
                "output DataKeyArn)"
            )
        if self.monitor and not self.serving:
            raise ConfigError(f"{where}.monitor in {SOURCE}: only a serving stage has an endpoint to monitor")
        if not _SCHEDULE.match(self.monitor_schedule) or not self.monitor_schedule.startswith("cron("):
            raise ConfigError(
                f"{where}.monitor_schedule in {SOURCE}: {self.monitor_schedule!r} is not a cron expression such as "
                "'cron(0 * ? * * *)' (on the hour: each run monitors the window that ends then)"
            )
        if not 1 <= self.monitor_window_hours <= 24:
            raise ConfigError(
                f"{where}.monitor_window_hours in {SOURCE}: {self.monitor_window_hours!r} must be 1 to 24, the hours "
                "between two runs of monitor_schedule"
            )
        for address in self.notify:
            if not _EMAIL.match(address):
                raise ConfigError(f"{where}.notify in {SOURCE}: {address!r} is not an e-mail address")
        for key in (
            "training_instance_type",
            "processing_instance_type",
            "endpoint_instance_type",
            "monitor_instance_type",
        ):
            if not getattr(self, key).startswith("ml."):
                raise ConfigError(f"{where}.{key} in {SOURCE}: {getattr(self, key)!r} is not a SageMaker instance type")
        if not 0 < self.drift_threshold <= 1:
            raise ConfigError(
                f"{where}.drift_threshold in {SOURCE}: {self.drift_threshold!r} must be in (0, 1], a distance between "
                "two distributions"
            )
        if not 1 <= self.alarm_datapoints <= self.alarm_evaluation_periods:
            raise ConfigError(
                f"{where}.alarm_datapoints/alarm_evaluation_periods in {SOURCE}: need 1 <= datapoints <= periods, "
                f"got {self.alarm_datapoints} and {self.alarm_evaluation_periods}"
            )
        if self.retrain_cooldown_hours < 0:
            raise ConfigError(
                f"{where}.retrain_cooldown_hours in {SOURCE}: {self.retrain_cooldown_hours!r} must not be negative"
            )
        if not 1 <= self.min_instances <= self.max_instances:
            raise ConfigError(
                f"{where}.min_instances/max_instances in {SOURCE}: need 1 <= min <= max, "
                f"got {self.min_instances} and {self.max_instances}"
            )
        self._validate_serving(where)

    def _validate_serving(self, where: str) -> None:
        if instance_family(self.endpoint_instance_type) in LOCAL_STORAGE_FAMILIES:
            raise ConfigError(
                f"{where}.endpoint_instance_type in {SOURCE}: {self.endpoint_instance_type!r} has local instance "
                "storage, which the endpoint's KMS key does not encrypt (SageMaker's CreateEndpointConfig); pick a "
                "family without it (ml.m5.large, not ml.m5d.large; ml.p3 among the GPU families)"
            )
        if not 1 <= self.capture_percentage <= 100:
            raise ConfigError(
                f"{where}.capture_percentage in {SOURCE}: {self.capture_percentage!r} must be 1-100, the share of "
                "requests captured for monitoring"
            )
        for key in ("target_invocations_per_instance", "rollback_5xx_errors", "rollback_latency_ms"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{where}.{key} in {SOURCE}: {getattr(self, key)!r} must be at least 1")
        if self.rollout not in ROLLOUTS:
            raise ConfigError(f"{where}.rollout in {SOURCE}: {self.rollout!r} is not one of {list(ROLLOUTS)}")
        if not 0 <= self.rollout_bake_minutes <= MAX_ROLLOUT_BAKE_MINUTES:
            raise ConfigError(
                f"{where}.rollout_bake_minutes in {SOURCE}: {self.rollout_bake_minutes!r} must be 0-"
                f"{MAX_ROLLOUT_BAKE_MINUTES}, SageMaker's longest wait between traffic shifts"
            )
        if self.rollout == "all_at_once":
            return
        # SageMaker: a canary is at most 50 % of the fleet, a linear step 10-50 %; the fleet is anywhere
        # between min and max instances when a rollout starts.
        step = self.rollout_step_instances
        if step < 1 or 2 * step > self.min_instances:
            raise ConfigError(
                f"{where}.rollout_step_instances in {SOURCE}: a {self.rollout} step of {step} instance(s) must be at "
                f"least 1 and at most half of min_instances ({self.min_instances}); a {self.rollout} rollout needs "
                "min_instances >= 2"
            )
        if self.rollout == "linear" and 10 * step < self.max_instances:
            raise ConfigError(
                f"{where}.rollout_step_instances in {SOURCE}: a linear step of {step} instance(s) is under 10 % of "
                f"max_instances ({self.max_instances}), SageMaker's smallest linear step"
            )
        needed = rollout_seconds(self.rollout, step, self.rollout_bake_minutes, self.max_instances)
        if needed > MAX_UPDATE_SECONDS:
            shifts = rollout_shifts(self.rollout, step, self.max_instances)
            raise ConfigError(
                f"{where}.rollout_bake_minutes/rollout_step_instances in {SOURCE}: a {self.rollout} rollout of "
                f"{shifts} shift(s) baking {self.rollout_bake_minutes} min each, plus "
                f"{PROVISIONING_ALLOWANCE_SECONDS} s to provision, takes {needed} s, over SageMaker's limit of "
                f"{MAX_UPDATE_SECONDS} s for an update; "
                "bake for less or step by more instances"
            )


@dataclass(frozen=True)
class CicdConfig:
    """The CI/CD pipelines (the `cicd` key): where their source comes from, where they run, which stage releases.

    The source is the `repository` branch through the CodeConnections connection `connection_arn`, or, without
    one, a zip of the repository uploaded to the pipelines' source bucket (`make upload-source`). They run in
    `account`/`region` (default: the first stage's). Models are trained and approved in `release_stage` (default:
    the first serving stage), and every serving stage serves that stage's Approved packages. `notify` lists the
    e-mail addresses told of approvals waiting, rejected packages and failed runs. The smoke test fails an endpoint
    whose median round trip is over `smoke_test_latency_ms`.
    """

    connection_arn: str | None = None
    repository: str | None = None
    branch: str = "main"
    account: str | None = None
    region: str | None = None
    release_stage: str | None = None
    notify: tuple[str, ...] = ()
    smoke_test_latency_ms: int = 1000

    def __post_init__(self) -> None:
        where = f"{CONTEXT_KEY}.{CICD_KEY}"
        if self.connection_arn is not None and not _CONNECTION.match(self.connection_arn):
            raise ConfigError(
                f"{where}.connection_arn in {SOURCE}: {self.connection_arn!r} is not a CodeConnections connection ARN "
                "such as 'arn:aws:codeconnections:eu-west-1:111122223333:connection/<id>'"
            )
        if (self.connection_arn is None) != (self.repository is None):
            raise ConfigError(
                f"{where}.connection_arn and {where}.repository in {SOURCE}: give both (a repository through a "
                "CodeConnections connection) or neither (a zip uploaded with `make upload-source`)"
            )
        if self.repository is not None and not _REPOSITORY.match(self.repository):
            raise ConfigError(f"{where}.repository in {SOURCE}: {self.repository!r} is not 'owner/name'")
        if not _BRANCH.match(self.branch):
            raise ConfigError(f"{where}.branch in {SOURCE}: {self.branch!r} is not a branch name")
        if self.account is not None and not _ACCOUNT.match(self.account):
            raise ConfigError(f"{where}.account in {SOURCE}: {self.account!r} is not a 12-digit AWS account id")
        if self.region is not None and not _REGION.match(self.region):
            raise ConfigError(f"{where}.region in {SOURCE}: {self.region!r} is not an AWS region such as 'eu-west-1'")
        if self.smoke_test_latency_ms < 1:
            raise ConfigError(
                f"{where}.smoke_test_latency_ms in {SOURCE}: {self.smoke_test_latency_ms!r} must be at least 1"
            )
        for address in self.notify:
            if not _EMAIL.match(address):
                raise ConfigError(f"{where}.notify in {SOURCE}: {address!r} is not an e-mail address")


@dataclass(frozen=True)
class PlatformConfig:
    """Everything the CDK app needs to know, validated before any construct is built."""

    prefix: str
    dataset_contract: str
    stages: tuple[StageConfig, ...]
    cicd: CicdConfig = CicdConfig()

    def __post_init__(self) -> None:
        if not _NAME.match(self.prefix):
            raise ConfigError(
                f"{CONTEXT_KEY}.prefix in {SOURCE}: {self.prefix!r} must be 2-21 characters of a-z, 0-9 and '-', "
                "starting with a letter"
            )
        if not self.stages:
            raise ConfigError(f"{CONTEXT_KEY}.stages in {SOURCE}: configure at least one stage")
        for stage in self.stages:
            if not _NAME.match(stage.name):
                raise ConfigError(
                    f"{CONTEXT_KEY}.stages in {SOURCE}: stage name {stage.name!r} must be 2-21 characters "
                    "of a-z, 0-9 and '-'"
                )
            if len(self.prefix) + len(stage.name) > MAX_PREFIX_AND_STAGE:
                raise ConfigError(
                    f"{CONTEXT_KEY}.prefix and {CONTEXT_KEY}.stages.{stage.name} in {SOURCE}: together "
                    f"{len(self.prefix) + len(stage.name)} characters, at most {MAX_PREFIX_AND_STAGE} (bucket names "
                    "add purpose, account and region within S3's 63)"
                )
        names = [stage.name for stage in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"{CONTEXT_KEY}.stages in {SOURCE}: stage names must differ, got {names}")
        release = self.cicd.release_stage
        if release is not None and release not in names:
            raise ConfigError(
                f"{CONTEXT_KEY}.{CICD_KEY}.release_stage in {SOURCE}: {release!r} is not a stage; stages are {names}"
            )
        released_from = self.release_stage
        elsewhere = [s.name for s in self.stages if s.serving and s.account is not None and released_from is not None]
        if elsewhere and (released_from.account is None or released_from.region is None):
            raise ConfigError(
                f"{CONTEXT_KEY}.stages.{released_from.name}.account and .region in {SOURCE}: serving stages "
                f"{elsewhere} name their accounts, so the release stage {released_from.name!r}, whose models they "
                "serve, must name its account and region too"
            )

    @property
    def release_stage(self) -> StageConfig | None:
        """The stage whose Model Registry group releases models to every serving stage (`cicd.release_stage`, by
        default the first serving stage); None when no stage serves."""
        if self.cicd.release_stage is not None:
            return self.stage(self.cicd.release_stage)
        return next((stage for stage in self.stages if stage.serving), None)

    def serves_from_another_account(self, stage: StageConfig) -> bool:
        """Whether `stage` serves models of a release stage in another account (which then shares them with it)."""
        release = self.release_stage
        return release is not None and release.account is not None and stage.account != release.account

    def forwards_alarms(self, stage: StageConfig) -> bool:
        """Whether a monitored `stage`'s alarms must travel to the release stage's event bus (its retrain guard): in
        another account, or in another region of the same one."""
        release = self.release_stage
        if not stage.monitor or release is None or release.name == stage.name:
            return False
        other_region = release.region is not None and stage.region != release.region
        return self.serves_from_another_account(stage) or other_region

    @property
    def release_consumers(self) -> tuple[str, ...]:
        """The accounts, other than the release stage's, of stages that serve its models: it shares them with these."""
        return tuple(
            dict.fromkeys(
                stage.account
                for stage in self.stages
                if stage.serving and stage.account and self.serves_from_another_account(stage)
            )
        )

    @property
    def tooling_account(self) -> str | None:
        """The CI/CD pipelines' account: `cicd.account`, else the first stage's; None: the deploying credentials'."""
        return self.cicd.account or self.stages[0].account

    @property
    def tooling_region(self) -> str | None:
        """The CI/CD pipelines' region: `cicd.region`, else the first stage's; None: the deploying credentials'."""
        return self.cicd.region or self.stages[0].region

    def stage(self, name: str) -> StageConfig:
        """The stage called `name`; an error lists the configured ones."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = [stage.name for stage in self.stages]
        raise ConfigError(
            f"unknown stage {name!r} (from -c {STAGE_SELECTOR}=...): {SOURCE} key {CONTEXT_KEY}.stages defines {known}"
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
    config = _platform_from_dict(raw)
    check_sagemaker_names(config)
    return config


def check_sagemaker_names(config: PlatformConfig) -> None:
    """Fail when a SageMaker name the config makes (from the prefix, a stage and the dataset contract's name) is over
    SageMaker's 63 characters, saying how long the contract's name may be."""
    for stage in config.stages:
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
    return config.stages if name is None else (config.stage(str(name)),)


def _platform_from_dict(raw: Any) -> PlatformConfig:
    _require_object(raw, CONTEXT_KEY)
    stages_raw = raw.get("stages")
    _require_object(stages_raw, f"{CONTEXT_KEY}.stages")
    stages = tuple(
        _from_dict(
            StageConfig,
            {"name": name, **_require_object(body, f"{CONTEXT_KEY}.stages.{name}")},
            f"{CONTEXT_KEY}.stages.{name}",
        )
        for name, body in stages_raw.items()
    )
    nested = {"stages": stages}
    if CICD_KEY in raw:
        where = f"{CONTEXT_KEY}.{CICD_KEY}"
        nested[CICD_KEY] = _from_dict(CicdConfig, _require_object(raw[CICD_KEY], where), where)
    return _from_dict(PlatformConfig, {**raw, **nested}, CONTEXT_KEY)


def _from_dict(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    """Instantiate a config dataclass, rejecting unknown keys, missing keys and wrong types by name."""
    fields = {field.name: field for field in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {where}.{unknown[0]} in {SOURCE}; known keys: {sorted(fields)}")
    missing = [
        name
        for name, field in fields.items()
        if name not in raw and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing key {where}.{missing[0]} in {SOURCE}")
    values = {}
    for name, value in raw.items():
        if name in ("stages", CICD_KEY) and cls is PlatformConfig:  # built above from their own dataclasses
            values[name] = value
            continue
        values[name] = _check_type(value, hints[name], f"{where}.{name}")
    return cls(**values)


class _CliText(str):
    """A value given with `-c` on the command line: text that becomes the type its key expects."""


def _from_cli(text: _CliText, allowed: tuple[type, ...]) -> Any:
    if type(None) in allowed and text == "null":
        return None
    if int in allowed and re.fullmatch(r"-?\d+", text) and str not in allowed:
        return int(text)
    if float in allowed and re.fullmatch(r"-?\d+(\.\d*)?([eE]-?\d+)?", text):
        return float(text)
    if bool in allowed and text in ("true", "false"):
        return text == "true"
    return str(text)


def _check_type(value: Any, hint: Any, key: str) -> Any:
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]: a JSON list (or, from -c, comma-separated text)
        if isinstance(value, _CliText):
            value = [item for item in value.split(",") if item]
        if not isinstance(value, list):
            raise ConfigError(f"wrong type for key {key} in {SOURCE}: expected a list, got {value!r}")
        (item_hint, _) = typing.get_args(hint)
        return tuple(_check_type(item, item_hint, f"{key}[{index}]") for index, item in enumerate(value))
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if isinstance(value, _CliText):
        value = _from_cli(value, allowed)
    for expected in allowed:
        if expected is type(None) and value is None:
            return None
        # bool is an int in Python, never in a config file; an int is a fine float
        if expected in (str, int, bool) and type(value) is expected:
            return value
        if expected is float and type(value) in (int, float):
            return float(value)
    names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
    raise ConfigError(f"wrong type for key {key} in {SOURCE}: expected {names}, got {value!r}")


def _apply_override(raw: dict, path: list[str], value: Any, key: str) -> None:
    """Set `platform.<path>` from a `-c` flag; its text is converted to the key's type when it is checked."""
    if not path or not all(path):
        raise ConfigError(f"bad override key {key!r}: use -c {CONTEXT_KEY}.<key>[.<key>...]=<value>")
    node = raw
    for part in path[:-1]:
        node = node.setdefault(part, {})
        _require_object(node, key)
    node[path[-1]] = _CliText(value) if isinstance(value, str) else value


def _parse_json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"key {key} (from -c): not valid JSON: {error}") from error


def _require_object(value: Any, key: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"wrong type for key {key} in {SOURCE}: expected an object, got {value!r}")
    return value
