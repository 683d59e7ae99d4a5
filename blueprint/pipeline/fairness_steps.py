"""The pipeline's bias and explainability steps, for a contract with a `fairness` section: our own jobs in the
framework container, network-isolated (SageMaker Clarify is closed to new customers, so neither its image nor
the shadow endpoint it served a model on is used).

After training: `AnalysisConfig` writes the analysis configs (ml_code/fairness/config.py, Clarify's format), then
three processing jobs of ml_code/fairness/analyze.py: `DataBias` (pre-training bias of the training split),
`ModelBias` (post-training bias of the model's predictions for the test split) and `Explainability` (exact
TreeSHAP of the test split); the last two read the model's archive directly. `FairnessCheck` holds their bias
metrics to the contract's limits (ml_code/fairness/check.py); the quality gate reads its decision. The reports
go on the model package (ModelMetrics) and so do the monitors' baselines (DriftCheckBaselines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sagemaker.model_metrics import FileSource, MetricsSource
from sagemaker.processing import ProcessingOutput
from sagemaker.workflow.conditions import ConditionEquals
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from blueprint.pipeline.settings import FAIRNESS_STEP_FOLDERS as STEP_FOLDERS
from ml_code import paths
from ml_code.contracts.contract import DatasetContract

ANALYSIS_OUTPUT = "analysis_result"
# analysis job step -> (its analysis config, the fairness dataset it reads, whether it reads the model)
ANALYSIS_JOBS = {
    "DataBias": (paths.DATA_BIAS, paths.FAIRNESS_TRAIN_FILE, False),
    "ModelBias": (paths.MODEL_BIAS, paths.FAIRNESS_TEST_FILE, True),
    "Explainability": (paths.EXPLAINABILITY, paths.FAIRNESS_TEST_FILE, True),
}


@dataclass(frozen=True)
class FairnessSteps:
    """What the rest of the pipeline needs of the fairness steps."""

    steps: list
    condition: ConditionEquals  # the fairness check passed
    reason: JsonGet  # why it passed or failed, for the FailStep's message
    model_metrics: dict  # ModelMetrics' bias and explainability reports
    drift_check_baselines: dict  # DriftCheckBaselines' for the bias and explainability monitors


def fairness_steps(
    contract: DatasetContract,
    *,
    processor: Callable[[str], object],
    run_module: Callable,
    job_input: Callable,
    step_uri: Callable[..., Join],
    model_data,
    transform_uri,
    fairness_data_uri,
    seed,
    instance_type,
    retries: list,
) -> FairnessSteps:
    """The fairness steps of `contract` for the trained model at `model_data`. `processor(name)` makes a
    network-isolated processing job of the step scripts; `step_uri(folder, name)` is where a step's output goes."""

    def output(step: str, name: str, source: str) -> ProcessingOutput:
        return ProcessingOutput(output_name=name, source=source, destination=step_uri(STEP_FOLDERS[step], name))

    config = ProcessingStep(
        name="AnalysisConfig",
        step_args=run_module(
            processor("analysis-config"),
            "ml_code.fairness.config",
            inputs=[job_input(paths.TRANSFORM_OUTPUT, transform_uri, paths.TRANSFORM_OUTPUT)],
            outputs=[
                output(
                    "AnalysisConfig",
                    paths.CLARIFY_CONFIG_OUTPUT,
                    f"{paths.PROCESSING_BASE}/{paths.CLARIFY_CONFIG_OUTPUT}",
                )
            ],
            arguments=["--contract", contract.name, "--instance-type", instance_type, "--seed", seed.to_string()],
        ),
        retry_policies=retries,
    )
    configs = config.properties.ProcessingOutputConfig.Outputs[paths.CLARIFY_CONFIG_OUTPUT].S3Output.S3Uri

    def config_file(name: str) -> Join:
        return Join(on="/", values=[configs, name, paths.CLARIFY_CONFIG_FILE])

    jobs = {}
    for name, (analysis, dataset, reads_model) in ANALYSIS_JOBS.items():
        inputs = [
            job_input("analysis_config", Join(on="/", values=[configs, analysis, ""]), paths.CLARIFY_CONFIG_INPUT),
            job_input("dataset", Join(on="/", values=[fairness_data_uri, dataset]), paths.CLARIFY_DATA_INPUT),
        ]
        if reads_model:
            inputs.append(job_input("model", model_data, paths.ANALYSIS_MODEL_INPUT))
        jobs[name] = ProcessingStep(
            name=name,
            step_args=run_module(
                processor(STEP_FOLDERS[name]),
                "ml_code.fairness.analyze",
                inputs=inputs,
                outputs=[output(name, ANALYSIS_OUTPUT, f"{paths.PROCESSING_BASE}/{paths.CLARIFY_RESULT_OUTPUT}")],
            ),
            retry_policies=retries,
        )

    def results(step: str):
        return jobs[step].properties.ProcessingOutputConfig.Outputs[ANALYSIS_OUTPUT].S3Output.S3Uri

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
        steps=[config, *jobs.values(), check],
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
