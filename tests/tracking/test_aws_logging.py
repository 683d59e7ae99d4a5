"""`python -m tracking`, as the logging build runs it on AWS: an ended execution read through SageMaker's and S3's
APIs (moto; the step listing and the tuning job's trials, which moto lacks, answered by botocore's Stubber, which
checks every request and response against the service model) and logged to an MLflow store whose artifacts are in
S3, as a SageMaker AI tracking server's are."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber
from mlflow import MlflowClient
from moto import mock_aws

from tests.mlflow_server import tracking_server
from tracking import MODEL_BUILD, MONITORING
from tracking.__main__ import main
from tracking.executions import PACKAGE_TAG, VERSION_TAG
from tracking.runs import KEY_TAG, PARENT_TAG

PIPELINE, ARTIFACTS = "mlops-prod-model-build", "mlops-prod-artifacts-b"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-prod-customer-churn/4"
TUNING = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/model-build-tuning-x1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
EVALUATION = {
    "binary_classification_metrics": {
        "auc": {"value": 0.91, "standard_deviation": 0.012},
        "f1": {"value": 0.62, "standard_deviation": 0.02},
        "confusion_matrix": {"0": {"0": 5, "1": 1}, "1": {"0": 2, "1": 3}},
    }
}
TRIALS = [("tr-001", "Completed", {"max_depth": "4"}, 0.88), ("tr-002", "Failed", {"max_depth": "9"}, None)]


def job_name(execution: str, trial: str) -> str:
    """A trial's training job, named after its execution: a training job belongs to one execution."""
    return f"{trial}-{execution.rsplit('/', 1)[1]}"


class SageMaker:
    """moto's SageMaker, with the two listings moto lacks answered by a stubbed client."""

    def __init__(self, moto_client, stubbed_client) -> None:
        self._moto, self._stubbed = moto_client, stubbed_client

    def __getattr__(self, name):
        stubbed = ("list_pipeline_execution_steps", "list_training_jobs_for_hyper_parameter_tuning_job")
        return getattr(self._stubbed if name in stubbed else self._moto, name)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A tracking server whose runs keep their artifacts in S3, written by the client, as SageMaker AI's does."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with tracking_server(root, "--default-artifact-root", f"s3://{ARTIFACTS}/mlflow", "--no-serve-artifacts") as uri:
        yield uri


@pytest.fixture()
def aws(server):
    with mock_aws():
        sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS)
        sagemaker.create_pipeline(
            PipelineName=PIPELINE,
            RoleArn="arn:aws:iam::123456789012:role/pipeline",
            PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        )
        execution = sagemaker.start_pipeline_execution(
            PipelineName=PIPELINE,
            PipelineExecutionDisplayName="commit-0123456789ab",
            PipelineParameters=[{"Name": "GitCommit", "Value": "0123456789ab" * 3}, {"Name": "Seed", "Value": "7"}],
        )["PipelineExecutionArn"]
        folder = f"pipelines/{PIPELINE}/{execution.rsplit('/', 1)[1]}"
        files = {
            "evaluate/evaluation/evaluation.json": json.dumps(EVALUATION).encode(),
            "evaluate/evaluation/roc_curve.png": PNG,
            "evaluate/evaluation/hyperparameters.json": b'{"eta": 0.05}',
            "preprocess/metadata/metadata.json": json.dumps(
                {"contract": "customer-churn", "data_sha256": "ab" * 32, "rows": {"train": 70}}
            ).encode(),
            "preprocess/train/train.csv": b"1,2,3\n",
        }
        for path, body in files.items():
            s3.put_object(Bucket=ARTIFACTS, Key=f"{folder}/{path}", Body=body)
        stubbed = boto3.client("sagemaker")
        stubber = Stubber(stubbed)
        yield {
            "sagemaker": SageMaker(sagemaker, stubbed),
            "stubber": stubber,
            "s3": s3,
            "execution": execution,
            "files": files,
            "uri": server,
        }


def stub_steps(stubber: Stubber, execution: str) -> None:
    """Two pages of steps: the tuning step, then the registration."""
    at = datetime(2026, 12, 4, 9, tzinfo=UTC)
    step = {"StepStatus": "Succeeded", "StartTime": at, "EndTime": at}
    stubber.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [{**step, "StepName": "Train", "Metadata": {"TuningJob": {"Arn": TUNING}}}],
            "NextToken": "p2",
        },
        {"PipelineExecutionArn": execution},
    )
    stubber.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": [{**step, "StepName": "Register", "Metadata": {"RegisterModel": {"Arn": PACKAGE}}}]},
        {"PipelineExecutionArn": execution, "NextToken": "p2"},
    )
    summaries = [
        {
            "TrainingJobName": job_name(execution, name),
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job_name(execution, name)}",
            "CreationTime": at,
            "TrainingJobStatus": status,
            "TunedHyperParameters": hyperparameters,
            **(
                {"FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation-final-auc", "Value": value}}
                if value is not None
                else {}
            ),
        }
        for name, status, hyperparameters, value in TRIALS
    ]
    stubber.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": summaries},
        {"HyperParameterTuningJobName": TUNING.rsplit("/", 1)[1]},
    )


def log(aws, *extra: str) -> int:
    arguments = ["--execution-arn", aws["execution"], "--reports", f"s3://{ARTIFACTS}/pipelines/{PIPELINE}"]
    return main(
        [*arguments, "--kind", MODEL_BUILD, "--tracking-uri", aws["uri"], *extra],
        clients=(aws["sagemaker"], aws["s3"]),
    )


def test_logs_an_ended_execution_with_its_trials_and_its_reports_in_s3(aws, capsys):
    stub_steps(aws["stubber"], aws["execution"])
    with aws["stubber"]:
        assert log(aws) == 0
        aws["stubber"].assert_no_pending_responses()
    tracking = MlflowClient(aws["uri"])
    experiment = tracking.get_experiment_by_name(PIPELINE)
    assert experiment.artifact_location == f"s3://{ARTIFACTS}/mlflow/{experiment.experiment_id}"
    (run,) = tracking.search_runs([experiment.experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{aws['execution']}'")
    children = tracking.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{run.info.run_id}'"
    )
    runs = {child.info.run_name: child for child in children}
    assert run.info.run_name == "commit-0123456789ab"
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {
        "test/auc": 0.91,
        "test/auc_std": 0.012,
        "test/f1": 0.62,
        "test/f1_std": 0.02,
        "rows/train": 70,
    }
    assert run.data.params == {
        "GitCommit": "0123456789ab" * 3,
        "Seed": "7",
        "eta": "0.05",
        "contract": "customer-churn",
    }
    assert (run.data.tags[PACKAGE_TAG], run.data.tags[VERSION_TAG]) == (PACKAGE, "4")
    assert run.data.tags["data_sha256"] == "ab" * 32
    # the report files, byte for byte, in the artifact store's S3 folder; the data split is no report
    logged = aws["s3"].list_objects_v2(Bucket=ARTIFACTS, Prefix=f"mlflow/{experiment.experiment_id}/")["Contents"]
    paths = {item["Key"].split("/artifacts/", 1)[1]: item["Key"] for item in logged}
    assert set(paths) == {path for path in aws["files"] if not path.endswith(".csv")}
    png = aws["s3"].get_object(Bucket=ARTIFACTS, Key=paths["evaluate/evaluation/roc_curve.png"])["Body"].read()
    assert png == PNG
    # the tuning job's trials, children of the execution's run
    trials = {name: runs[job_name(aws["execution"], name)] for name, *_ in TRIALS}
    assert trials["tr-001"].data.metrics == {"validation/auc": 0.88} and trials["tr-001"].info.status == "FINISHED"
    assert trials["tr-002"].data.params == {"max_depth": "9"} and trials["tr-002"].info.status == "FAILED"
    assert f"logged {aws['execution']} as run {run.info.run_id}" in capsys.readouterr().out


def test_an_execution_logged_before_is_not_logged_again(aws):
    stub_steps(aws["stubber"], aws["execution"])
    with aws["stubber"]:
        assert log(aws) == 0
        assert log(aws) == 0  # no call to SageMaker the second time: the stubber has no response left to give
    tracking = MlflowClient(aws["uri"])
    experiment = [tracking.get_experiment_by_name(PIPELINE).experiment_id]
    (run,) = tracking.search_runs(experiment, filter_string=f"tags.`{KEY_TAG}` = '{aws['execution']}'")
    assert len(tracking.search_runs(experiment, filter_string=f"tags.`{PARENT_TAG}` = '{run.info.run_id}'")) == 2


def test_fails_when_the_execution_has_not_ended(aws, capsys, monkeypatch):
    running = dict(aws["sagemaker"]._moto.describe_pipeline_execution(PipelineExecutionArn=aws["execution"]))
    running["PipelineExecutionStatus"] = "Executing"
    monkeypatch.setattr(aws["sagemaker"]._moto, "describe_pipeline_execution", lambda **_: running)
    assert log(aws) == 1
    assert f"{aws['execution']} was not logged: execution {aws['execution']} is Executing" in capsys.readouterr().err


def test_fails_when_the_reports_are_not_in_s3(aws, capsys):
    arguments = ["--execution-arn", aws["execution"], "--reports", "/tmp/reports", "--kind", MONITORING]
    stub_steps(aws["stubber"], aws["execution"])
    with aws["stubber"]:
        code = main([*arguments, "--tracking-uri", aws["uri"]], clients=(aws["sagemaker"], aws["s3"]))
    assert code == 1
    assert "not an S3 folder: '/tmp/reports/" in capsys.readouterr().err


def test_fails_when_the_kind_is_unknown(aws, capsys):
    with pytest.raises(SystemExit):
        log(aws, "--kind", "batch")
    assert "invalid choice: 'batch'" in capsys.readouterr().err
