"""The monitoring pipeline definition: one run monitors an endpoint's last window of traffic with our own jobs
(SageMaker Model Monitor is closed to new customers), built as data by the SageMaker Python SDK, offline, with the
same `${...}` placeholders as the other definitions.

`FindServedModel` (ml_code/monitoring/served_model.py; it calls SageMaker and lists S3, so it has a network) finds
the package the endpoint serves and the window's files, into `served.json` and a manifest; `HasTraffic` skips the
rest when the window captured nothing (a quiet hour is missing data, as CloudWatch treats it, not a failure);
`Monitor` (ml_code/monitoring/monitor.py, network-isolated: it reads what clients sent) downloads the manifest's files
and the package's baselines (with a fairness section in the contract, also the served model and its explainability
report, for bias and attribution drift) and writes its reports and `cloudwatch_metrics.json` to
`s3://<monitoring>/monitoring-reports/<endpoint>/<execution id>/reports/` (beside `served/`), where the publishing
function picks the metrics up.

Parameters: `EndpointName`, `WindowHours` (the schedule's period), `WindowEnd` (default: the current hour),
`WindowStart` (default: `WindowHours` before the end) and `ModelPackageArn` (default: the package the endpoint
serves). Local mode gives the last three: its runs cover the time since the last one, and it has no endpoint API.
"""

from __future__ import annotations

from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionGreaterThan
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.parameters import ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

from blueprint.naming import MONITORING_REPORTS
from blueprint.pipeline.definition import build_pipeline, job_input, job_retries, processing_job, run_module
from blueprint.pipeline.settings import PLACEHOLDERS, MonitoringSettings
from ml_code import paths
from ml_code.contracts.contract import DatasetContract

MAX_RUNTIME_SECONDS = 3600


def build_monitoring_definition(settings: MonitoringSettings, contract: DatasetContract) -> dict:
    """The monitoring definition as a dict, with `${...}` placeholders for deploy-time values."""
    return build_pipeline(lambda session: _pipeline(settings, contract, session))


def fairness_inputs(served_value) -> list[ProcessingInput]:
    """The served model (SHAP and the bias metrics recompute its answers) and its explainability report."""
    return [
        job_input(
            paths.MONITORING_MODEL_INPUT, served_value("model_data_url"), f"input/{paths.MONITORING_MODEL_INPUT}"
        ),
        job_input(
            paths.MONITORING_EXPLAINABILITY_INPUT,
            served_value("explainability_uri"),
            f"input/{paths.MONITORING_EXPLAINABILITY_INPUT}",
        ),
    ]


def _pipeline(settings: MonitoringSettings, contract: DatasetContract, session: PipelineSession) -> Pipeline:
    bucket = PLACEHOLDERS["MonitoringBucket"]
    endpoint = ParameterString("EndpointName", default_value=settings.endpoint_name)
    window_hours = ParameterInteger("WindowHours", default_value=settings.window_hours)
    window_end = ParameterString("WindowEnd", default_value="")
    window_start = ParameterString("WindowStart", default_value="")
    package = ParameterString("ModelPackageArn", default_value="")
    instance_type = ParameterString("InstanceType", default_value=settings.instance_type)
    run_folder = Join(
        on="/", values=[f"s3://{bucket}", MONITORING_REPORTS, endpoint, ExecutionVariables.PIPELINE_EXECUTION_ID]
    )

    def processor(base_job_name: str, *, isolated: bool) -> ScriptProcessor:
        return processing_job(
            session,
            base_job_name,
            role=PLACEHOLDERS["JobRoleArn" if isolated else "FinderRoleArn"],
            instance_type=instance_type,
            max_runtime_seconds=MAX_RUNTIME_SECONDS,
            isolated=isolated,
        )

    served = PropertyFile(name="ServedModel", output_name=paths.SERVED_MODEL_OUTPUT, path=paths.SERVED_MODEL_FILE)
    find = ProcessingStep(
        name="FindServedModel",
        step_args=run_module(
            processor("find-served-model", isolated=False),
            "ml_code.monitoring.served_model",
            inputs=[],
            outputs=[
                ProcessingOutput(
                    output_name=paths.SERVED_MODEL_OUTPUT,
                    source=f"{paths.PROCESSING_BASE}/{paths.SERVED_MODEL_OUTPUT}",
                    destination=Join(on="/", values=[run_folder, paths.SERVED_MODEL_OUTPUT]),
                )
            ],
            arguments=[
                "--endpoint",
                endpoint,
                "--model-package-arn",
                package,
                "--monitoring-bucket",
                bucket,
                "--window-hours",
                window_hours.to_string(),
                "--window-end",
                window_end,
                "--window-start",
                window_start,
                *(["--fairness"] if contract.fairness is not None else []),
            ],
        ),
        property_files=[served],
        retry_policies=job_retries(),
    )
    found = find.properties.ProcessingOutputConfig.Outputs[paths.SERVED_MODEL_OUTPUT].S3Output.S3Uri

    def served_value(key: str) -> JsonGet:
        return JsonGet(step_name=find.name, property_file=served, json_path=key)

    monitor = ProcessingStep(
        name="Monitor",
        step_args=run_module(
            processor("monitor", isolated=True),
            "ml_code.monitoring.monitor",
            inputs=[
                job_input(paths.SERVED_MODEL_OUTPUT, found, f"input/{paths.SERVED_MODEL_OUTPUT}"),
                ProcessingInput(
                    input_name=paths.MONITORING_WINDOW_INPUT,
                    source=Join(on="/", values=[found, paths.WINDOW_MANIFEST_FILE]),
                    destination=f"{paths.PROCESSING_BASE}/input/{paths.MONITORING_WINDOW_INPUT}",
                    s3_data_type="ManifestFile",
                ),
                job_input(
                    paths.MONITORING_STATISTICS_INPUT,
                    served_value("statistics_uri"),
                    f"input/{paths.MONITORING_STATISTICS_INPUT}",
                ),
                job_input(
                    paths.MONITORING_CONSTRAINTS_INPUT,
                    served_value("constraints_uri"),
                    f"input/{paths.MONITORING_CONSTRAINTS_INPUT}",
                ),
                *(fairness_inputs(served_value) if contract.fairness is not None else []),
            ],
            outputs=[
                ProcessingOutput(
                    output_name=paths.MONITORING_REPORTS_OUTPUT,
                    source=f"{paths.PROCESSING_BASE}/{paths.MONITORING_REPORTS_OUTPUT}",
                    destination=Join(on="/", values=[run_folder, paths.MONITORING_REPORTS_OUTPUT]),
                )
            ],
            arguments=["--contract", contract.name],
        ),
        retry_policies=job_retries(),
    )
    has_traffic = ConditionStep(
        name="HasTraffic",
        conditions=[ConditionGreaterThan(left=served_value("captured_files"), right=0)],
        if_steps=[monitor],
        else_steps=[],
    )
    return Pipeline(
        name=settings.pipeline_name,
        parameters=[endpoint, window_hours, window_end, window_start, package, instance_type],
        steps=[find, has_traffic],
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )
