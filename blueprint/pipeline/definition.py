"""The SageMaker Pipeline definition, built as data by the SageMaker Python SDK 2.x, offline.

`build_definition` is pure: settings and a dataset contract in, the definition (a dict) out. Values known
only at deploy time appear as `${Name}` placeholders (PLACEHOLDERS) that the stack fills with Fn::Sub; the
SDK only ever sees plain, ARN-shaped stand-ins, never a CDK token. No AWS call is made.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import warnings
from collections.abc import Callable
from unittest import mock

import boto3
from sagemaker.drift_check_baselines import DriftCheckBaselines
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.telemetry import telemetry_logging
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals, ConditionGreaterThanOrEqualTo, ConditionLessThanOrEqualTo
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TuningStep

from blueprint.naming import BASELINE_STEP, CURATED_DATA, MODEL_BUILD_PREFIX, PREPROCESS_STEP, curated_prefix
from blueprint.pipeline.fairness_steps import fairness_steps
from blueprint.pipeline.settings import IMAGE_PLACEHOLDERS, PLACEHOLDERS, PipelineSettings
from ml_code import paths
from ml_code.cluster import REPLICATED, SHARDED
from ml_code.contracts.contract import DatasetContract
from ml_code.settings import DEFAULT_SEED
from ml_code.training.objectives import final_metric_definition, metric_definitions
from ml_code.training.search_space import load_search_space

# The region the SDK builds for; region-specific values (image URIs) then become placeholders.
REFERENCE_REGION = "us-east-1"
XGBOOST_VERSION = "3.0-5"

SOURCE_DIR_URI = f"s3://{PLACEHOLDERS['CodeBucket']}/{PLACEHOLDERS['SourceDirKey']}"
BOOTSTRAP_URI = f"s3://{PLACEHOLDERS['CodeBucket']}/{PLACEHOLDERS['BootstrapKey']}"
TUNING_JOB_NAME = "model-build-tuning"
MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"  # the SDK's trigger for waiting on jobs (build_pipeline)
# The SDK assumes the code channel's file is called sourcedir.tar.gz; an asset's key is its hash.
SDK_SOURCEDIR_PATH = "/opt/ml/input/data/code/sourcedir.tar.gz"


@functools.cache
def image_uri(framework: str, region: str) -> str:
    """A SageMaker image URI from the SDK's bundled tables (no AWS call)."""
    from sagemaker import image_uris, utils

    # The SDK parses botocore's endpoint table (about 80 ms) on every lookup; the stack looks up every region.
    with mock.patch.object(utils, "_botocore_resolver", return_value=_endpoint_resolver()):
        if framework == "xgboost":
            return image_uris.retrieve("xgboost", region=region, version=XGBOOST_VERSION)
        return image_uris.retrieve(framework, region=region)


def image_mapping() -> dict[str, dict[str, str]]:
    """Region -> {image placeholder -> URI}, from the SDK's bundled tables, for every region that has all images."""
    from sagemaker import image_uris

    logging.getLogger("sagemaker.image_uris").setLevel(logging.WARNING)  # one INFO line per lookup otherwise
    regions = set(image_uris.config_for_framework("xgboost")["training"]["versions"][XGBOOST_VERSION]["registries"])
    return {
        region: {name: image_uri(framework, region) for name, framework in IMAGE_PLACEHOLDERS.items()}
        for region in sorted(regions)
    }


@functools.cache
def _endpoint_resolver():
    from sagemaker import utils

    return utils._botocore_resolver()


class _DropJobNameNotices(logging.Filter):
    """The SDK announces, once per step and build, that it leaves job names to the execution; that is what
    the pipeline wants. Every other message of these loggers still gets through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Popping out '")


_JOB_NAME_NOTICES = _DropJobNameNotices()


def build_definition(settings: PipelineSettings, contract: DatasetContract) -> dict:
    """The pipeline definition as a dict, with `${...}` placeholders for deploy-time values."""
    return build_pipeline(lambda session: _pipeline(settings, contract, session))


def build_pipeline(make: Callable[[PipelineSession], Pipeline]) -> dict:
    """The definition of the pipeline `make` builds with an offline session, `${...}` placeholders and all."""
    logging.getLogger("sagemaker").setLevel(logging.WARNING)
    for name in ("sagemaker.workflow.utilities", "sagemaker.workflow._utils"):
        logging.getLogger(name).addFilter(_JOB_NAME_NOTICES)
    # The SDK reports usage over the network; its opt-out is a config file that it re-validates on every
    # lookup (seconds per build), so the sender is switched off for the duration of the build instead.
    # With MLFLOW_TRACKING_URI set, the SDK's Estimator.fit waits for a network-isolated training job to end (on
    # AWS), even under a PipelineSession: the build must not see it (local mode sets it to log runs).
    without_mlflow = {name: value for name, value in os.environ.items() if name != MLFLOW_TRACKING_URI}
    with (
        mock.patch.object(telemetry_logging, "_send_telemetry_request", _no_telemetry),
        mock.patch.dict(os.environ, without_mlflow, clear=True),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", UserWarning)  # "Running within a PipelineSession ...": expected here
        # ModelStep makes its CreateModel step with a class the SDK has deprecated for users, not for itself
        warnings.filterwarnings("ignore", "We are deprecating the use of CreateModelStep", DeprecationWarning)
        text = make(_session()).definition()
    return json.loads(_to_placeholders(text))


@functools.cache
def _session() -> PipelineSession:
    """One offline session per process: making one creates eight boto3 clients (about half a second)."""
    session = PipelineSession(
        boto_session=boto3.Session(region_name=REFERENCE_REGION),
        default_bucket=PLACEHOLDERS["ArtifactsBucket"],
        sagemaker_config={},
    )
    session._default_bucket = PLACEHOLDERS["ArtifactsBucket"]  # else the SDK checks (or creates) the bucket
    return session


def _no_telemetry(*_args, **_kwargs) -> None:
    return None


def _to_placeholders(text: str) -> str:
    """Swap the SDK's stand-ins for `${Name}`; any `${` already there is escaped for Fn::Sub first."""
    text = text.replace("${", "${!")
    text = text.replace(SDK_SOURCEDIR_PATH, SDK_SOURCEDIR_PATH.replace("sourcedir.tar.gz", "${SourceDirKey}"))
    for name, framework in IMAGE_PLACEHOLDERS.items():
        text = text.replace(image_uri(framework, REFERENCE_REGION), "${" + name + "}")
    for name, stand_in in PLACEHOLDERS.items():
        text = text.replace(stand_in, "${" + name + "}")
    text = text.replace(REFERENCE_REGION, "${AWS::Region}")
    if "placeholder" in text or "000000000000" in text:
        raise AssertionError("a stand-in value was left in the pipeline definition")
    return text


def _s3(*parts) -> Join:
    """`s3://<artifacts>/pipelines/<pipeline>/<execution id>/<parts...>`."""
    return execution_uri(MODEL_BUILD_PREFIX, *parts)


def execution_uri(prefix: str, *parts) -> Join:
    """`s3://<artifacts>/<prefix>/<pipeline>/<execution id>/<parts...>`: one execution's step outputs."""
    return Join(
        on="/",
        values=[
            f"s3://{PLACEHOLDERS['ArtifactsBucket']}",
            prefix,
            ExecutionVariables.PIPELINE_NAME,
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            *parts,
        ],
    )


def job_retries() -> list:
    """Retry throttling and service faults quickly, capacity and internal errors after a minute."""
    return [
        StepRetryPolicy(
            exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
            interval_seconds=10,
            backoff_rate=2.0,
            max_attempts=5,
        ),
        SageMakerJobStepRetryPolicy(
            exception_types=[
                SageMakerJobExceptionTypeEnum.CAPACITY_ERROR,
                SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT,
                SageMakerJobExceptionTypeEnum.INTERNAL_ERROR,
            ],
            interval_seconds=60,
            backoff_rate=2.0,
            max_attempts=3,
        ),
    ]


def job_input(name: str, source, folder: str, *, sharded: bool = False) -> ProcessingInput:
    """An input of a processing job, at `/opt/ml/processing/<folder>`; `sharded`: each instance gets some of its
    files (ShardedByS3Key), else every instance all of them."""
    return ProcessingInput(
        input_name=name,
        source=source,
        destination=f"{paths.PROCESSING_BASE}/{folder}",
        s3_data_distribution_type=SHARDED if sharded else REPLICATED,
    )


def processing_job(
    session: PipelineSession,
    base_job_name: str,
    *,
    role: str,
    instance_type,
    max_runtime_seconds: int,
    isolated: bool,
    instance_count=1,
    encrypt_between_instances: bool = False,
) -> ScriptProcessor:
    """A processing job in the framework image, its volume and outputs under the platform key; network-isolated
    unless it must call an AWS API (the Model Registry, an endpoint's description); with instances that talk to each
    other (a sharded preprocessing), their traffic encrypted."""
    return ScriptProcessor(
        image_uri=image_uri("xgboost", REFERENCE_REGION),
        command=["python3"],
        role=role,
        instance_type=instance_type,
        instance_count=instance_count,
        volume_kms_key=PLACEHOLDERS["KmsKeyArn"],
        output_kms_key=PLACEHOLDERS["KmsKeyArn"],
        max_runtime_in_seconds=max_runtime_seconds,
        network_config=NetworkConfig(
            enable_network_isolation=isolated,
            **({"encrypt_inter_container_traffic": True} if encrypt_between_instances else {}),
        ),
        base_job_name=base_job_name,
        sagemaker_session=session,
    )


def run_module(processor: ScriptProcessor, module: str, *, inputs, outputs, arguments=()):
    """A processing job that runs `python -m <module>` from the code package, through the bootstrap."""
    code_package = ProcessingInput(
        input_name="code_package", source=SOURCE_DIR_URI, destination=paths.CODE_PACKAGE_INPUT
    )
    return processor.run(
        code=BOOTSTRAP_URI,
        inputs=[code_package, *inputs],
        outputs=outputs,
        arguments=["--module", module, "--", *arguments],
    )


def _pipeline(settings: PipelineSettings, contract: DatasetContract, session: PipelineSession) -> Pipeline:
    role, key = PLACEHOLDERS["JobRoleArn"], PLACEHOLDERS["KmsKeyArn"]
    xgboost_image = image_uri("xgboost", REFERENCE_REGION)
    curated = f"s3://{PLACEHOLDERS['CuratedBucket']}/{curated_prefix(CURATED_DATA, contract.name)}"

    input_data = ParameterString("InputDataUri", default_value=curated)
    processing_type = ParameterString("ProcessingInstanceType", default_value=settings.processing_instance_type)
    processing_count = ParameterInteger("ProcessingInstanceCount", default_value=settings.processing_instances)
    training_type = ParameterString("TrainingInstanceType", default_value=settings.training_instance_type)
    training_count = ParameterInteger("TrainingInstanceCount", default_value=settings.training_instances)
    threshold = ParameterFloat("GateThreshold", default_value=contract.metric.threshold)
    tolerance = ParameterFloat("ChampionTolerance", default_value=settings.champion_tolerance)
    approval = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
    git_commit = ParameterString("GitCommit", default_value="unknown")
    # why this run started: a commit, new ETL rows, a drift alarm (the retrain function says which), or by hand
    start_reason = ParameterString("StartReason", default_value="unspecified")
    seed = ParameterInteger("Seed", default_value=DEFAULT_SEED)  # the split, the model, the bootstrap
    parameters = [
        input_data,
        processing_type,
        processing_count,
        training_type,
        training_count,
        threshold,
        tolerance,
        approval,
        git_commit,
        start_reason,
        seed,
    ]

    # Several hosts share the work when the stage says so: training hosts each get files of the train split, and
    # preprocessing's instances each some of the input's (with a count raised only at run time, the scripts share
    # the rows or files every host got).
    sharded_training = settings.training_instances > 1
    sharded_preprocess = settings.processing_instances > 1
    cache = CacheConfig(enable_caching=True, expire_after="P30D")
    retries = job_retries()

    def processor(base_job_name: str, *, registry: bool = False, shares_work: bool = False) -> ScriptProcessor:
        """A processing job, network-isolated unless it reads the Model Registry (then with its own role). With a
        stage's several processing instances, only a job that `shares_work` among them gets them."""
        return processing_job(
            session,
            base_job_name,
            role=PLACEHOLDERS["ChampionRoleArn"] if registry else role,
            instance_type=processing_type,
            instance_count=processing_count if shares_work or not sharded_preprocess else 1,
            max_runtime_seconds=settings.max_processing_seconds,
            isolated=not registry,
            encrypt_between_instances=shares_work and sharded_preprocess,
        )

    def job_output(name: str, step: str) -> ProcessingOutput:
        return ProcessingOutput(output_name=name, source=f"{paths.PROCESSING_BASE}/{name}", destination=_s3(step, name))

    # 1. Preprocess: curated CSV -> splits, Model Monitor baseline, feature transform, data hash
    metadata = PropertyFile(name="PreprocessMetadata", output_name=paths.METADATA_OUTPUT, path=paths.METADATA_FILE)
    preprocess = ProcessingStep(
        name="Preprocess",
        step_args=run_module(
            processor(PREPROCESS_STEP, shares_work=True),
            "ml_code.processing.preprocess",
            inputs=[job_input("data", input_data, paths.PROCESSING_INPUT_DATA, sharded=sharded_preprocess)],
            outputs=[job_output(name, PREPROCESS_STEP) for name in _preprocess_outputs(contract)],
            # with several training hosts, one file of the train split per host: the channel is sharded by file
            arguments=["--contract", contract.name, "--seed", seed.to_string()]
            + (["--train-parts", training_count.to_string()] if sharded_training else []),
        ),
        property_files=[metadata],
        cache_config=cache,
        retry_policies=retries,
    )

    def preprocessed(name: str):
        return preprocess.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    # 2. DataQualityBaseline: Model Monitor's statistics and constraints of what the endpoint receives (our job)
    baseline = ProcessingStep(
        name="DataQualityBaseline",
        step_args=run_module(
            processor("baseline"),
            "ml_code.monitoring.data_quality",
            inputs=[job_input("baseline", preprocessed(paths.BASELINE_OUTPUT), paths.DATA_QUALITY_INPUT)],
            outputs=[job_output(paths.DATA_QUALITY_OUTPUT, BASELINE_STEP)],
        ),
        cache_config=cache,
        retry_policies=retries,
    )
    baseline_uri = baseline.properties.ProcessingOutputConfig.Outputs[paths.DATA_QUALITY_OUTPUT].S3Output.S3Uri

    def baseline_file(name: str) -> MetricsSource:
        return MetricsSource(s3_uri=Join(on="/", values=[baseline_uri, name]), content_type="application/json")

    # 3. Train: script mode in the XGBoost 3.0-5 image, code from the deterministic sourcedir asset
    estimator = Estimator(
        image_uri=xgboost_image,
        entry_point="ml_code/training/train.py",
        source_dir=SOURCE_DIR_URI,
        role=PLACEHOLDERS["TrainingRoleArn"],
        instance_type=training_type,
        instance_count=training_count,
        output_path=_s3("train"),
        volume_kms_key=key,
        output_kms_key=key,
        max_run=settings.max_run_seconds,
        metric_definitions=metric_definitions(contract.problem_type),
        hyperparameters={"seed": seed},
        enable_network_isolation=True,
        encrypt_inter_container_traffic=True,
        disable_profiler=True,
        debugger_hook_config=False,
        sagemaker_session=session,
        **_spot(settings),
    )
    channels = {
        "train": TrainingInput(
            preprocessed("train"),
            content_type="text/csv",
            distribution=SHARDED if sharded_training else REPLICATED,
        ),
        "validation": TrainingInput(preprocessed("validation"), content_type="text/csv"),
        paths.TRANSFORM_OUTPUT: TrainingInput(preprocessed(paths.TRANSFORM_OUTPUT), content_type="application/json"),
    }
    if settings.tuning_trials:
        train, model_data = _tuning_step(settings, contract, estimator, channels, retries)
    else:
        train = TrainingStep(name="Train", step_args=estimator.fit(inputs=channels), retry_policies=retries)
        model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    # 4. Evaluate: score the test split -> evaluation.json
    evaluation = PropertyFile(name="EvaluationReport", output_name=paths.EVALUATION_OUTPUT, path=paths.REPORT_FILE)
    # with tuning, what the winning trial was trained with (evaluate.py puts it beside the report) goes on the package
    trained = PropertyFile(
        name="TrainedHyperparameters", output_name=paths.EVALUATION_OUTPUT, path=paths.HYPERPARAMETERS_FILE
    )
    evaluate = ProcessingStep(
        name="Evaluate",
        step_args=run_module(
            processor("evaluate"),
            "ml_code.evaluation.evaluate",
            inputs=[
                job_input("model", model_data, paths.EVALUATION_MODEL_INPUT),
                job_input("test", preprocessed("test"), paths.EVALUATION_TEST_INPUT),
            ],
            outputs=[job_output(paths.EVALUATION_OUTPUT, "evaluate")],
            arguments=["--seed", seed.to_string()],
        ),
        property_files=[evaluation, *([trained] if settings.tuning_trials else [])],
        retry_policies=retries,
    )
    evaluation_uri = evaluate.properties.ProcessingOutputConfig.Outputs[paths.EVALUATION_OUTPUT].S3Output.S3Uri
    tuned = {
        f"hyperparameter_{spec.name}": Join(
            on="", values=[JsonGet(step_name=evaluate.name, property_file=trained, json_path=spec.name)]
        )
        for spec in (load_search_space() if settings.tuning_trials else [])
    }

    # 5. CompareWithChampion: the candidate against the group's current Approved model
    champion = PropertyFile(name="ChampionDecision", output_name=paths.CHAMPION_OUTPUT, path=paths.CHAMPION_FILE)
    compare = ProcessingStep(
        name="CompareWithChampion",
        step_args=run_module(
            processor("champion", registry=True),
            "ml_code.evaluation.champion",
            inputs=[job_input("evaluation", evaluation_uri, paths.EVALUATION_OUTPUT)],
            outputs=[job_output(paths.CHAMPION_OUTPUT, "champion")],
            arguments=[
                "--model-package-group",
                settings.model_package_group_name,
                "--metric-path",
                contract.report_metric_path,
                "--direction",
                "higher" if contract.metric.higher_is_better else "lower",
                "--tolerance",
                tolerance.to_string(),
            ],
        ),
        property_files=[champion],
        retry_policies=retries,
    )

    # 6. With a fairness section: the bias and explainability reports of our own jobs, and the fairness check
    fairness = None
    if contract.fairness is not None:
        fairness = fairness_steps(
            contract,
            processor=processor,
            run_module=run_module,
            job_input=job_input,
            step_uri=_s3,
            model_data=model_data,
            transform_uri=preprocessed(paths.TRANSFORM_OUTPUT),
            fairness_data_uri=preprocessed(paths.FAIRNESS_DATA_OUTPUT),
            seed=seed,
            instance_type=processing_type,
            retries=retries,
        )

    # 7. Register: a model package with its metrics, drift baselines and provenance; the model as the endpoint
    # serves it (the serving code is in the model's own folder)
    model = Model(
        image_uri=xgboost_image,
        model_data=model_data,
        role=role,
        env={
            "SAGEMAKER_PROGRAM": paths.SERVING_PROGRAM,
            "SAGEMAKER_SUBMIT_DIRECTORY": f"{paths.MODEL_DIR}/{paths.SERVING_CODE_DIR}",
        },
        enable_network_isolation=True,
        sagemaker_session=session,
    )
    register = ModelStep(
        name="Register",
        step_args=model.register(
            content_types=["text/csv", "application/json"],
            response_types=["application/json", "text/csv"],
            inference_instances=["ml.m5.large", "ml.m5.xlarge"],
            transform_instances=["ml.m5.large"],
            model_package_group_name=settings.model_package_group_name,
            approval_status=approval,
            description=f"{contract.name}: XGBoost {XGBOOST_VERSION}, gated on {contract.metric.name}",
            sample_payload_url=Join(
                on="/", values=[preprocessed(paths.SAMPLE_PAYLOAD_OUTPUT), paths.SAMPLE_PAYLOAD_ARCHIVE]
            ),
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(
                    s3_uri=Join(on="/", values=[evaluation_uri, paths.REPORT_FILE]), content_type="application/json"
                ),
                model_data_statistics=baseline_file(paths.STATISTICS_FILE),
                model_data_constraints=baseline_file(paths.CONSTRAINTS_FILE),
                **(fairness.model_metrics if fairness else {}),
            ),
            drift_check_baselines=DriftCheckBaselines(
                model_data_statistics=baseline_file(paths.STATISTICS_FILE),
                model_data_constraints=baseline_file(paths.CONSTRAINTS_FILE),
                **(fairness.drift_check_baselines if fairness else {}),
            ),
            customer_metadata_properties={
                "git_commit": git_commit,
                "start_reason": start_reason,
                # the lineage from a package to the execution that made it (its parameters, its outputs)
                "pipeline_execution_arn": ExecutionVariables.PIPELINE_EXECUTION_ARN,
                "data_sha256": JsonGet(step_name=preprocess.name, property_file=metadata, json_path="data_sha256"),
                "contract": contract.name,
                **tuned,
            },
        ),
    )

    # 8. QualityGate: the contract's metric against the threshold, not worse than the champion, and fair
    candidate = JsonGet(step_name=evaluate.name, property_file=evaluation, json_path=contract.report_metric_path)
    meets_threshold = (
        ConditionGreaterThanOrEqualTo(left=candidate, right=threshold)
        if contract.metric.higher_is_better
        else ConditionLessThanOrEqualTo(left=candidate, right=threshold)
    )
    holds_against_champion = ConditionEquals(
        left=JsonGet(step_name=compare.name, property_file=champion, json_path="passes"), right=True
    )
    comparison = ">=" if contract.metric.higher_is_better else "<="
    fail = FailStep(
        name="GateFailed",
        error_message=Join(
            on=" ",
            values=[
                f"Quality gate failed: {contract.metric.name}",
                candidate,
                f"must be {comparison}",
                threshold,
                "and hold against the champion:",
                JsonGet(step_name=compare.name, property_file=champion, json_path="reason"),
                *(["; fairness:", fairness.reason] if fairness else []),
            ],
        ),
    )
    gate = ConditionStep(
        name="QualityGate",
        conditions=[meets_threshold, holds_against_champion, *([fairness.condition] if fairness else [])],
        if_steps=[register],
        else_steps=[fail],
    )

    return Pipeline(
        name=settings.pipeline_name,
        parameters=parameters,
        steps=[preprocess, baseline, train, evaluate, compare, *(fairness.steps if fairness else []), gate],
        pipeline_experiment_config=None,  # no SageMaker Experiments: runs are tracked by the registry
        sagemaker_session=session,
    )


def _tuning_step(settings: PipelineSettings, contract: DatasetContract, estimator, channels: dict, retries: list):
    """The Train step as a tuning job over ml_code/training/search_space.json (the contract's metric on the
    validation split, as train.py logs it); (step, the best training job's model.tar.gz)."""
    ranges = {}
    for spec in load_search_space():
        parameter = IntegerParameter if spec.is_integer else ContinuousParameter
        scaling = "Logarithmic" if spec.scaling == "log" else "Linear"
        ranges[spec.name] = parameter(spec.min, spec.max, scaling_type=scaling)
    objective = final_metric_definition(contract.metric.name)
    tuner = HyperparameterTuner(
        estimator,
        objective_metric_name=objective["Name"],
        hyperparameter_ranges=ranges,
        metric_definitions=[objective],
        objective_type="Maximize" if contract.metric.higher_is_better else "Minimize",
        strategy=settings.tuning_strategy,
        max_jobs=settings.tuning_trials,
        max_parallel_jobs=settings.tuning_parallel,
    )
    # a fixed name where the SDK would stamp one with the time into the static hyperparameters (`sagemaker_job_name`):
    # the pipeline names the real jobs, and a definition must not change from one build to the next
    step = TuningStep(
        name="Train", step_args=tuner.fit(inputs=channels, job_name=TUNING_JOB_NAME), retry_policies=retries
    )
    prefix = Join(
        on="/",
        values=[
            MODEL_BUILD_PREFIX,
            ExecutionVariables.PIPELINE_NAME,
            ExecutionVariables.PIPELINE_EXECUTION_ID,
            "train",
        ],
    )
    return step, step.get_top_model_s3_uri(top_k=0, s3_bucket=PLACEHOLDERS["ArtifactsBucket"], prefix=prefix)


def _preprocess_outputs(contract: DatasetContract) -> tuple[str, ...]:
    """Preprocessing's outputs: with a fairness section, also the datasets the bias jobs analyze."""
    return (*paths.PREPROCESS_OUTPUTS, *((paths.FAIRNESS_DATA_OUTPUT,) if contract.fairness else ()))


def _spot(settings: PipelineSettings) -> dict:
    """Managed spot training with checkpoints (train.py resumes from them). A stage setting, not a pipeline
    parameter: CreateTrainingJob rejects MaxWaitTimeInSeconds without spot, and a parameter cannot drop it."""
    if not settings.use_spot:
        return {}
    return {
        "use_spot_instances": True,
        "max_wait": settings.max_wait_seconds,
        "checkpoint_s3_uri": _s3("checkpoints"),
    }
