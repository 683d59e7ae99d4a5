"""What the platform decides about its SageMaker pipelines, and the placeholders their definitions leave for the
stack: plain data, importable without the SageMaker SDK (the CDK app builds the definitions in a child process,
blueprint/pipeline/builds.py)."""

from __future__ import annotations

from dataclasses import dataclass

from blueprint.config import BuildConfig, MonitoringConfig, PlatformConfig, StageConfig, TuningConfig
from blueprint.naming import (
    EXPLAINABILITY_STEP,
    batch_scoring_pipeline_name,
    endpoint_name,
    model_package_group_name,
    monitoring_pipeline_name,
    pipeline_name,
    released_group_reference,
)

# `${Name}` placeholders the stack substitutes (Fn::Sub), and the plain stand-ins the SDK sees instead.
PLACEHOLDERS = {
    "ArtifactsBucket": "placeholder-artifacts-bucket",
    "CuratedBucket": "placeholder-curated-bucket",
    "MonitoringBucket": "placeholder-monitoring-bucket",
    "JobRoleArn": "arn:aws:iam::000000000000:role/placeholder-job-role",  # processing jobs that need no network
    "TrainingRoleArn": "arn:aws:iam::000000000000:role/placeholder-training-role",
    "ChampionRoleArn": "arn:aws:iam::000000000000:role/placeholder-champion-role",  # reads the Model Registry
    "FinderRoleArn": "arn:aws:iam::000000000000:role/placeholder-finder-role",  # finds what a monitoring run reads
    "KmsKeyArn": "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000",
    "CodeBucket": "placeholder-code-bucket",
    "SourceDirKey": "placeholder-sourcedir.tar.gz",
    "BootstrapKey": "placeholder-bootstrap.py",
}
# Image URIs differ per region: `${Name}` placeholders filled from a region mapping, by framework. Every job of every
# pipeline runs in the framework image.
IMAGE_PLACEHOLDERS = {"XgboostImageUri": "xgboost"}

# Where each fairness step (blueprint/pipeline/fairness_steps.py) writes in an execution's folder; the roles grant
# by these.
FAIRNESS_STEP_FOLDERS = {
    "AnalysisConfig": "analysis-config",
    "DataBias": "data-bias",
    "ModelBias": "model-bias",
    "Explainability": EXPLAINABILITY_STEP,
    "FairnessCheck": "fairness",
}


# A stage's defaults, the one source of these settings' own (tests build settings without a stage).
_BUILD, _TUNING, _MONITORING = BuildConfig(), TuningConfig(), MonitoringConfig()


@dataclass(frozen=True)
class PipelineSettings:
    """What the platform config decides about the pipeline (the rest are pipeline parameters)."""

    pipeline_name: str
    model_package_group_name: str
    processing_instance_type: str = _BUILD.processing_instance_type
    processing_instances: int = _BUILD.processing_instances
    training_instance_type: str = _BUILD.training_instance_type
    training_instances: int = _BUILD.training_instances
    champion_tolerance: float = _BUILD.champion_tolerance
    use_spot: bool = _BUILD.spot_training
    max_run_seconds: int = 3600
    max_wait_seconds: int = 7200
    max_processing_seconds: int = 7200  # every processing and check job stops after this long
    # Hyperparameter tuning in place of a single training job (0 trials: off), over ml_code/training's search space
    tuning_trials: int = _TUNING.trials
    tuning_parallel: int = _TUNING.parallel
    tuning_strategy: str = _TUNING.strategy

    @classmethod
    def for_stage(cls, config: PlatformConfig, stage: StageConfig) -> PipelineSettings:
        return cls(
            pipeline_name=pipeline_name(config, stage),
            model_package_group_name=model_package_group_name(config, stage),
            processing_instance_type=stage.build.processing_instance_type,
            processing_instances=stage.build.processing_instances,
            training_instance_type=stage.build.training_instance_type,
            training_instances=stage.build.training_instances,
            champion_tolerance=stage.build.champion_tolerance,
            use_spot=stage.build.spot_training,
            tuning_trials=stage.tuning.trials,
            tuning_parallel=stage.tuning.parallel,
            tuning_strategy=stage.tuning.strategy,
        )


@dataclass(frozen=True)
class BatchScoringSettings:
    """What the platform config decides about batch scoring (the rest are pipeline parameters)."""

    pipeline_name: str
    model_package_group_name: str
    instance_type: str = _BUILD.processing_instance_type

    @classmethod
    def for_stage(cls, config: PlatformConfig, stage: StageConfig) -> BatchScoringSettings:
        return cls(
            pipeline_name=batch_scoring_pipeline_name(config, stage),
            # the models every serving stage serves are the release stage's
            model_package_group_name=released_group_reference(config, stage),
            instance_type=stage.build.processing_instance_type,
        )


@dataclass(frozen=True)
class MonitoringSettings:
    """What the platform config decides about an endpoint's monitoring pipeline (the rest are pipeline parameters)."""

    pipeline_name: str
    endpoint_name: str
    window_hours: int = _MONITORING.window_hours
    instance_type: str = _MONITORING.instance_type

    @classmethod
    def for_stage(cls, config: PlatformConfig, stage: StageConfig) -> MonitoringSettings:
        endpoint = endpoint_name(config, stage)
        return cls(
            pipeline_name=monitoring_pipeline_name(endpoint),
            endpoint_name=endpoint,
            window_hours=stage.monitoring.window_hours,
            instance_type=stage.monitoring.instance_type,
        )
