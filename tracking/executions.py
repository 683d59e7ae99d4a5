"""The run of one pipeline execution, read through boto3's calls: the same code reads SageMaker and S3 on AWS and
the local executor's records and buckets locally (local_mode/experiments.py hands it those clients).

An execution's reports are the JSON and PNG files in its folder, `<reports root>/<execution id>/`, where every step
writes (model build: `s3://<artifacts>/pipelines/<pipeline>`; monitoring:
`s3://<monitoring>/monitoring-reports/<endpoint>`). The run gets:
- parameters: the pipeline's parameters, the hyperparameters and the contract (tracking/reports.py);
- metrics: every figure of those reports; tags: the execution, its status and failure reason, the code commit,
  the data's hash, the registered (or, for monitoring, served) model package;
- artifacts: the report files, at their paths in the execution's folder;
- children: with a tuning step, one run per training job it ran (its hyperparameters and objective).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient

from ml_code.aws_pages import all_items, execution_parameters, list_keys
from ml_code.paths import SERVED_MODEL_FILE
from ml_code.training.objectives import FINAL_PREFIX
from tracking import KINDS, TRIAL
from tracking.reports import report_values
from tracking.runs import STATUSES, RunRecord, find_run, log_run, metric_name

REPORT_SUFFIXES = (".json", ".png")
RUN_STATUS = {"Succeeded": "FINISHED", "Failed": "FAILED", "Stopped": "KILLED", "CompletedWithFailures": "FAILED"}
TRIAL_STATUS = {"Completed": "FINISHED", "Stopped": "KILLED"}  # a training job's; any other ended one failed
EXECUTION_TAG, PIPELINE_TAG, STATUS_TAG, FAILURE_TAG = "execution_arn", "pipeline", "status", "failure_reason"
COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own: the UI shows it as the run's source version
PACKAGE_TAG, VERSION_TAG = "model_package_arn", "model_package_version"


class ExecutionNotDone(RuntimeError):
    """The execution is still running: its run is logged when it ends."""


def log_execution(
    tracking: MlflowClient,
    sagemaker,
    s3,
    execution_arn: str,
    reports_root: str,
    kind: str,
    *,
    artifact_root: str | None = None,
) -> str:
    """Log the ended execution `execution_arn` into the experiment named after its pipeline, once; its run's id."""
    experiment = pipeline_of(execution_arn)
    earlier = find_run(tracking, experiment, execution_arn)
    if earlier is not None and earlier.info.status in STATUSES:
        return earlier.info.run_id
    with tempfile.TemporaryDirectory(prefix="reports-") as downloads:
        record = execution_run(sagemaker, s3, execution_arn, reports_root, kind, Path(downloads))
        return log_run(tracking, experiment, record, artifact_root=artifact_root)


def pipeline_of(execution_arn: str) -> str:
    """The pipeline's name in `arn:...:pipeline/<name>/execution/<id>`."""
    parts = execution_arn.split(":", 5)[-1].split("/")
    if len(parts) != 4 or parts[0] != "pipeline" or parts[2] != "execution":
        raise ValueError(f"not a pipeline execution's ARN: {execution_arn!r}")
    return parts[1]


def execution_run(sagemaker, s3, execution_arn: str, reports_root: str, kind: str, downloads: Path) -> RunRecord:
    """The run of the ended execution `execution_arn` whose steps wrote under `reports_root`; its report files are
    downloaded into `downloads`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of execution {kind!r}: one of {', '.join(KINDS)}")
    execution = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    status = execution["PipelineExecutionStatus"]
    if status not in RUN_STATUS:
        raise ExecutionNotDone(f"execution {execution_arn} is {status}: log it when it has ended")
    execution_id = execution_arn.rsplit("/", 1)[1]
    steps = all_items(
        sagemaker.list_pipeline_execution_steps, "PipelineExecutionSteps", PipelineExecutionArn=execution_arn
    )
    parameters = execution_parameters(sagemaker, execution_arn)
    files = download_reports(s3, f"{reports_root.rstrip('/')}/{execution_id}/", downloads)
    metrics, params, tags = {}, dict(parameters), {}
    for path, local in files.items():
        if path.endswith(".json"):
            found_metrics, found_params, found_tags = report_values(path, json.loads(local.read_text()))
            metrics.update(found_metrics)
            params.update(found_params)
            tags.update(found_tags)
    tags.update(
        {
            EXECUTION_TAG: execution_arn,
            PIPELINE_TAG: pipeline_of(execution_arn),
            STATUS_TAG: status,
            **({FAILURE_TAG: execution["FailureReason"]} if execution.get("FailureReason") else {}),
            **({COMMIT_TAG: parameters["GitCommit"]} if parameters.get("GitCommit") else {}),
            **_package_tags(steps, files),
        }
    )
    return RunRecord(
        key=execution_arn,
        kind=kind,
        name=execution.get("PipelineExecutionDisplayName") or execution_id,
        status=RUN_STATUS[status],
        params=params,
        metrics=metrics,
        tags=tags,
        artifacts=files,
        children=tuple(_trials(sagemaker, steps)),
        start_ms=_ms(execution.get("CreationTime")),
        end_ms=_ms(execution.get("LastModifiedTime")),
    )


def download_reports(s3, folder: str, destination: Path) -> dict[str, Path]:
    """The report files under the S3 folder `folder`, downloaded into `destination`: path in the folder -> file."""
    parsed = urlparse(folder)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an S3 folder: {folder!r}")
    prefix = parsed.path.lstrip("/")
    found = {}
    for key in list_keys(s3, parsed.netloc, prefix):
        path = key[len(prefix) :]
        if not path.endswith(REPORT_SUFFIXES):
            continue
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=parsed.netloc, Key=key)["Body"].read())
        found[path] = target
    return found


def _package_tags(steps: list[dict], files: dict[str, Path]) -> dict[str, str]:
    """The model package the execution registered (its RegisterModel step's), or the one a monitoring run watched."""
    arn = next(
        (step["Metadata"]["RegisterModel"]["Arn"] for step in steps if "RegisterModel" in step.get("Metadata", {})),
        None,
    )
    if arn is None:
        served = next((local for path, local in files.items() if path.endswith(f"/{SERVED_MODEL_FILE}")), None)
        arn = json.loads(served.read_text())["model_package_arn"] if served else None
    return {PACKAGE_TAG: arn, VERSION_TAG: arn.rsplit("/", 1)[1]} if arn else {}


def _trials(sagemaker, steps: list[dict]):
    """One child run per training job of the execution's tuning step."""
    for step in steps:
        tuning = step.get("Metadata", {}).get("TuningJob")
        if not tuning:
            continue
        name = tuning["Arn"].rsplit("/", 1)[1]
        for job in all_items(
            sagemaker.list_training_jobs_for_hyper_parameter_tuning_job,
            "TrainingJobSummaries",
            HyperParameterTuningJobName=name,
        ):
            objective = job.get("FinalHyperParameterTuningJobObjectiveMetric")
            yield RunRecord(
                key=job["TrainingJobArn"],
                kind=TRIAL,
                name=job["TrainingJobName"],
                status=TRIAL_STATUS.get(job["TrainingJobStatus"], "FAILED"),
                params=dict(job.get("TunedHyperParameters", {})),
                metrics={objective_metric(objective["MetricName"]): objective["Value"]} if objective else {},
                tags={"tuning_job": name, "training_job_status": job["TrainingJobStatus"]},
                start_ms=_ms(job.get("TrainingStartTime")),
                end_ms=_ms(job.get("TrainingEndTime")),
            )


def objective_metric(name: str) -> str:
    """A trial's objective as a local trial's metric is named: `validation-final-auc` -> `validation/auc`."""
    return metric_name("validation", name.removeprefix(FINAL_PREFIX)) if name.startswith(FINAL_PREFIX) else name


def _ms(moment) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)
