"""The pipeline's SageMaker Clarify steps, for a contract with a `fairness` section.

After training: `CandidateModel` makes the trained model a SageMaker Model (Clarify serves it on a shadow
endpoint), `ClarifyConfig` writes the analysis configs for it (ml_code/fairness/config.py), then three Clarify
processing jobs: `DataBias` (pre-training bias of the training split), `ModelBias` (post-training bias of the
test split's predictions) and `Explainability` (SHAP against a baseline record). `FairnessCheck` holds their
bias metrics to the contract's limits (ml_code/fairness/check.py); the quality gate reads its decision. The
reports go on the model package (ModelMetrics) and so do the monitors' baselines (DriftCheckBaselines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sagemaker.model import Model
from sagemaker.model_metrics import FileSource, MetricsSource
from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor
from sagemaker.workflow.conditions import ConditionEquals
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from infra.pipeline.settings import FAIRNESS_STEP_FOLDERS as STEP_FOLDERS
from infra.pipeline.settings import PLACEHOLDERS
from ml_code import paths
from ml_code.contracts.contract import DatasetContract

CLARIFY_OUTPUT = "analysis_result"  # the output name the SDK gives a Clarify job's results
# Clarify job step -> (its analysis config, the fairness dataset it reads)
CLARIFY_JOBS = {
    "DataBias": (paths.DATA_BIAS, paths.FAIRNESS_TRAIN_FILE),
    "ModelBias": (paths.MODEL_BIAS, paths.FAIRNESS_TEST_FILE),
    "Explainability": (paths.EXPLAINABILITY, paths.FAIRNESS_TEST_FILE),
}


@dataclass(frozen=True)
class FairnessSteps:
    """What the rest of the pipeline needs of the Clarify steps."""

    steps: list
    condition: ConditionEquals  # the fairness check passed
    reason: JsonGet  # why it passed or failed, for the FailStep's message
    model_metrics: dict  # ModelMetrics' bias and explainability reports
    drift_check_baselines: dict  # DriftCheckBaselines' for the bias and explainability monitors


def fairness_steps(
    contract: DatasetContract,
    *,
    model: Model,
    clarify_image: str,
    processor: Callable[[str], object],
    run_module: Callable,
    job_input: Callable,
    step_uri: Callable[..., Join],
    transform_uri,
    fairness_data_uri,
    seed,
    instance_type,
    max_runtime_seconds: int,
    retries: list,
) -> FairnessSteps:
    """The Clarify steps of `contract` for the trained `model`. `processor(name)` makes a network-isolated
    processing job of the step scripts; `step_uri(folder, name)` is where a step's output goes."""
    candidate = ModelStep(name="CandidateModel", step_args=model.create(instance_type="ml.m5.large"))

    def output(step: str, name: str, source: str) -> ProcessingOutput:
        return ProcessingOutput(output_name=name, source=source, destination=step_uri(STEP_FOLDERS[step], name))

    config = ProcessingStep(
        name="ClarifyConfig",
        step_args=run_module(
            processor("clarify-config"),
            "ml_code.fairness.config",
            inputs=[job_input(paths.TRANSFORM_OUTPUT, transform_uri, paths.TRANSFORM_OUTPUT)],
            outputs=[
                output(
                    "ClarifyConfig",
                    paths.CLARIFY_CONFIG_OUTPUT,
                    f"{paths.PROCESSING_BASE}/{paths.CLARIFY_CONFIG_OUTPUT}",
                )
            ],
            arguments=[
                "--contract",
                contract.name,
                "--model-name",
                candidate.properties.ModelName,
                "--instance-type",
                instance_type,
                "--seed",
                seed.to_string(),
            ],
        ),
        retry_policies=retries,
    )
    configs = config.properties.ProcessingOutputConfig.Outputs[paths.CLARIFY_CONFIG_OUTPUT].S3Output.S3Uri

    def config_file(name: str) -> Join:
        return Join(on="/", values=[configs, name, paths.CLARIFY_CONFIG_FILE])

    clarify = Processor(
        role=PLACEHOLDERS["ClarifyRoleArn"],
        image_uri=clarify_image,
        instance_type=instance_type,
        instance_count=1,
        volume_kms_key=PLACEHOLDERS["KmsKeyArn"],
        output_kms_key=PLACEHOLDERS["KmsKeyArn"],
        max_runtime_in_seconds=max_runtime_seconds,
        # Clarify starts (and stops) a shadow endpoint of the model through the SageMaker API
        network_config=NetworkConfig(enable_network_isolation=False),
        base_job_name="clarify",
        sagemaker_session=model.sagemaker_session,
    )
    jobs = {}
    for name, (analysis, dataset) in CLARIFY_JOBS.items():
        jobs[name] = ProcessingStep(
            name=name,
            step_args=clarify.run(
                inputs=[
                    ProcessingInput(
                        input_name="analysis_config",
                        source=Join(on="/", values=[configs, analysis, ""]),
                        destination=f"{paths.PROCESSING_BASE}/{paths.CLARIFY_CONFIG_INPUT}",
                    ),
                    ProcessingInput(
                        input_name="dataset",
                        source=Join(on="/", values=[fairness_data_uri, dataset]),
                        destination=f"{paths.PROCESSING_BASE}/{paths.CLARIFY_DATA_INPUT}",
                    ),
                ],
                outputs=[output(name, CLARIFY_OUTPUT, f"{paths.PROCESSING_BASE}/{paths.CLARIFY_RESULT_OUTPUT}")],
            ),
            retry_policies=retries,
        )

    def results(step: str):
        return jobs[step].properties.ProcessingOutputConfig.Outputs[CLARIFY_OUTPUT].S3Output.S3Uri

    def report(step: str) -> Join:
        return Join(on="/", values=[results(step), paths.CLARIFY_ANALYSIS_FILE])

    decision = PropertyFile(
        name="FairnessDecision", output_name=paths.FAIRNESS_DECISION_OUTPUT, path=paths.FAIRNESS_DECISION_FILE
    )
    check = ProcessingStep(
        name="FairnessCheck",
        step_args=run_module(
            processor("fairness-check"),
            "ml_code.fairness.check",
            inputs=[
                job_input(folder, results(step), folder)
                for step, folder in zip(("DataBias", "ModelBias"), paths.FAIRNESS_CHECK_INPUTS, strict=True)
            ],
            outputs=[
                output(
                    "FairnessCheck",
                    paths.FAIRNESS_DECISION_OUTPUT,
                    f"{paths.PROCESSING_BASE}/{paths.FAIRNESS_DECISION_OUTPUT}",
                )
            ],
            arguments=["--contract", contract.name],
        ),
        property_files=[decision],
        retry_policies=retries,
    )

    def metrics(step: str) -> MetricsSource:
        return MetricsSource(s3_uri=report(step), content_type="application/json")

    return FairnessSteps(
        steps=[candidate, config, *jobs.values(), check],
        condition=ConditionEquals(
            left=JsonGet(step_name=check.name, property_file=decision, json_path="passes"), right=True
        ),
        reason=JsonGet(step_name=check.name, property_file=decision, json_path="reason"),
        model_metrics={
            "bias_pre_training": metrics("DataBias"),
            "bias_post_training": metrics("ModelBias"),
            "explainability": metrics("Explainability"),
        },
        drift_check_baselines={
            "bias_config_file": FileSource(
                s3_uri=config_file(paths.MODEL_BIAS_MONITOR), content_type="application/json"
            ),
            "bias_pre_training_constraints": metrics("DataBias"),
            "bias_post_training_constraints": metrics("ModelBias"),
            "explainability_constraints": metrics("Explainability"),
            "explainability_config_file": FileSource(
                s3_uri=config_file(paths.EXPLAINABILITY_MONITOR), content_type="application/json"
            ),
        },
    )
