"""The batch-scoring pipeline definition: curated CSV scored with the group's newest Approved model, built as
data by the SageMaker Python SDK 2.x, offline, with the same `${...}` placeholders as the model build's.

Two processing steps in the XGBoost image: `FindApprovedModel` asks the registry for the newest Approved package
(`ml_code/inference/approved_model.py`); `Score` runs `ml_code/inference/batch_score.py`, network-isolated, on
that package's model.tar.gz and the input prefix, through the serving code, and writes the predictions with the
records' ids to `s3://<curated>/predictions/<contract>/<execution id>/`.

A processing job rather than a Batch Transform job: curated CSV files have a header and carry ids, targets and
columns the model does not take, while Transform splits files into header-less batches scored by position and
can only join whole input lines to the output. The scorer reads columns by name, keeps only the ids, streams
files in chunks, and runs the same `model_fn`/`predict_fn` as the endpoint.
"""

from __future__ import annotations

from sagemaker.processing import ProcessingOutput, ScriptProcessor
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.parameters import ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from blueprint.naming import BATCH_SCORING_PREFIX, CURATED_DATA, PREDICTIONS, curated_prefix
from blueprint.pipeline.definition import (
    build_pipeline,
    execution_uri,
    job_input,
    job_retries,
    processing_job,
    run_module,
)
from blueprint.pipeline.settings import PLACEHOLDERS, BatchScoringSettings
from ml_code import paths
from ml_code.contracts.contract import DatasetContract

MAX_RUNTIME_SECONDS = 6 * 3600


def build_batch_definition(settings: BatchScoringSettings, contract: DatasetContract) -> dict:
    """The batch-scoring definition as a dict, with `${...}` placeholders for deploy-time values."""
    return build_pipeline(lambda session: _pipeline(settings, contract, session))


def _pipeline(settings: BatchScoringSettings, contract: DatasetContract, session: PipelineSession) -> Pipeline:
    curated = f"s3://{PLACEHOLDERS['CuratedBucket']}"
    input_data = ParameterString(
        "InputDataUri", default_value=f"{curated}/{curated_prefix(CURATED_DATA, contract.name)}"
    )
    instance_type = ParameterString("InstanceType", default_value=settings.instance_type)

    def processor(base_job_name: str, *, isolated: bool) -> ScriptProcessor:
        return processing_job(
            session,
            base_job_name,
            role=PLACEHOLDERS["JobRoleArn"],
            instance_type=instance_type,
            max_runtime_seconds=MAX_RUNTIME_SECONDS,
            isolated=isolated,
        )

    approved = PropertyFile(
        name="ApprovedModel", output_name=paths.APPROVED_MODEL_OUTPUT, path=paths.APPROVED_MODEL_FILE
    )
    find = ProcessingStep(
        name="FindApprovedModel",
        step_args=run_module(
            processor("find-approved-model", isolated=False),  # asks the Model Registry
            "ml_code.inference.approved_model",
            inputs=[],
            outputs=[
                ProcessingOutput(
                    output_name=paths.APPROVED_MODEL_OUTPUT,
                    source=f"{paths.PROCESSING_BASE}/{paths.APPROVED_MODEL_OUTPUT}",
                    destination=execution_uri(BATCH_SCORING_PREFIX, paths.APPROVED_MODEL_OUTPUT),
                )
            ],
            arguments=["--model-package-group", settings.model_package_group_name],
        ),
        property_files=[approved],
        retry_policies=job_retries(),
    )
    approved_uri = find.properties.ProcessingOutputConfig.Outputs[paths.APPROVED_MODEL_OUTPUT].S3Output.S3Uri
    score = ProcessingStep(
        name="Score",
        step_args=run_module(
            processor("batch-score", isolated=True),
            "ml_code.inference.batch_score",
            inputs=[
                job_input("data", input_data, paths.PROCESSING_INPUT_DATA),
                job_input(
                    "model",
                    JsonGet(step_name=find.name, property_file=approved, json_path="model_data_url"),
                    paths.SCORING_MODEL_INPUT,
                ),
                job_input(paths.APPROVED_MODEL_OUTPUT, approved_uri, paths.APPROVED_MODEL_OUTPUT),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=paths.PREDICTIONS_OUTPUT,
                    source=f"{paths.PROCESSING_BASE}/{paths.PREDICTIONS_OUTPUT}",
                    destination=Join(
                        on="/",
                        values=[
                            curated,
                            PREDICTIONS,
                            contract.name,
                            ExecutionVariables.PIPELINE_EXECUTION_ID,
                        ],
                    ),
                )
            ],
            arguments=["--contract", contract.name],
        ),
        retry_policies=job_retries(),
    )
    return Pipeline(
        name=settings.pipeline_name,
        parameters=[input_data, instance_type],
        steps=[find, score],
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )
