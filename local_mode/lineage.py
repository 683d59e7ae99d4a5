"""`local_mode lineage`: where a prediction came from, from its capture record back to the raw export files.

The chain: the captured request (endpoint, time), the package that answered (version, approval: who, when, why;
the container image; its metric), the pipeline execution that made it (the package's `pipeline_execution_arn`:
its code commit, seed, data and why it started), the training data (its hash, and the ETL runs whose output
preprocessing read) and, from the ETL's manifests, the raw files each run processed.

The chain is read through boto3's calls (DescribeModelPackage, DescribePipelineExecution,
ListPipelineParametersForExecution, S3 GetObject), so the same code walks it locally, where the registry, the
executions and the local buckets answer those calls, and on AWS (`--aws`). Locally the capture record names the
package that answered; on AWS the endpoint's current model does (DescribeEndpoint, its config and its model).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from blueprint.naming import CURATED_DATA, MANIFESTS, PREPROCESS_STEP
from local_mode.executor import EXECUTIONS_DIR, RECORD_FILE
from local_mode.local_s3 import LocalS3
from local_mode.records import DamagedRecord, read_json
from local_mode.registry import LocalS3Client, LocalSageMakerClient, Registry
from local_mode.serving.capture import TIME_FORMAT as CAPTURE_TIME_FORMAT
from local_mode.serving.endpoint import CAPTURE_DIR
from ml_code.aws_pages import execution_parameters
from ml_code.contracts.contract import load_contract
from ml_code.evaluation.champion import metric_at
from ml_code.monitoring.served_model import endpoint_package
from ml_code.paths import DATA_CAPTURE_PREFIX, ENDPOINT_VARIANT, METADATA_FILE, METADATA_OUTPUT

LOCAL_MANIFESTS = "manifests"  # beside the ETL's curated folder, as local_mode etl writes them


class LineageError(LookupError):
    """A link of the chain cannot be found; the message says which and where it was looked for."""


@dataclass(frozen=True)
class Link:
    what: str
    facts: dict[str, object]


def prediction_link(inference_id: str, endpoint: str, record: dict) -> Link:
    return Link(
        "prediction",
        {
            "inference id": inference_id,
            "endpoint": endpoint,
            "answered at": record["eventMetadata"]["inferenceTime"],
            "request": record["captureData"]["endpointInput"]["observedContentType"],
        },
    )


def chain(sagemaker, s3, package_arn: str) -> list[Link]:
    """The links from a model package to the raw files its model was trained on, through boto3-shaped clients."""
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    container = package["InferenceSpecification"]["Containers"][0]
    metadata = package.get("CustomerMetadataProperties", {})
    contract = load_contract(metadata["contract"])
    report = json.loads(_get(s3, package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]))
    approver = package.get("LastModifiedBy", {}).get("UserProfileName", "?")
    version = f"{package['ModelPackageGroupName']} version {package['ModelPackageVersion']}"
    decided = f"by {approver} at {package.get('LastModifiedTime')}: {package.get('ApprovalDescription')!r}"
    links = [
        Link(
            "model package",
            {
                "package": f"{version} ({package_arn})",
                "status": package["ModelApprovalStatus"],
                "decided": decided,
                "container image": container["Image"],
                "model data": container["ModelDataUrl"],
                contract.metric.name: round(metric_at(report, contract.report_metric_path), 6),
            },
        )
    ]
    execution_arn = metadata.get("pipeline_execution_arn")
    if not execution_arn:
        raise LineageError(f"package {package_arn} names no pipeline execution (registered before lineage was kept)")
    execution = sagemaker.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    parameters = execution_parameters(sagemaker, execution_arn)
    links.append(
        Link(
            "pipeline execution",
            {
                "execution": f"{execution_arn} ({execution['PipelineExecutionStatus']})",
                "code commit": parameters.get("GitCommit"),
                "seed": parameters.get("Seed"),
                "started because": parameters.get("StartReason"),
                "gate": f"{contract.metric.name} {'>=' if contract.metric.higher_is_better else '<='} "
                f"{parameters.get('GateThreshold', contract.metric.threshold)}",
                "training data": parameters.get("InputDataUri"),
            },
        )
    )
    execution_id = execution_arn.rsplit("/", 1)[1]
    artifacts = container["ModelDataUrl"].split(f"/{execution_id}/", 1)[0]
    training = json.loads(_get(s3, f"{artifacts}/{execution_id}/{PREPROCESS_STEP}/{METADATA_OUTPUT}/{METADATA_FILE}"))
    links.append(
        Link(
            "training data",
            {"sha256": training["data_sha256"], "rows": training["rows"], "ETL runs": training["etl_runs"]},
        )
    )
    manifests = manifests_location(parameters.get("InputDataUri", ""), contract.name)
    for run in training["etl_runs"]:
        try:
            ledger = json.loads(_get(s3, f"{manifests}/run={run}.json"))
        except (FileNotFoundError, LookupError):
            links.append(Link(f"ETL run {run}", {"manifest": f"not found at {manifests}/run={run}.json"}))
            continue
        links.append(
            Link(
                f"ETL run {run}",
                {"ingested": ledger["ingest_date"], "counts": ledger["counts"], "raw files": ledger["source_files"]},
            )
        )
    return links


def manifests_location(input_data: str, contract_name: str) -> str:
    """Where the ETL's manifests are for the curated data the pipeline read: `s3://<curated>/manifests/<contract>`
    beside `s3://<curated>/data/<contract>/`; locally, the folder beside the curated one."""
    if input_data.startswith("s3://"):
        return input_data.rstrip("/").replace(f"/{CURATED_DATA}/{contract_name}", f"/{MANIFESTS}/{contract_name}")
    return str(Path(input_data).parent / LOCAL_MANIFESTS)


def _get(s3, uri: str) -> bytes:
    """An object's bytes by S3 URI (or a local path, as a local run's InputDataUri is)."""
    if not uri.startswith("s3://"):
        path = Path(uri)
        if not path.is_file():
            raise FileNotFoundError(f"nothing at {path}")
        return path.read_bytes()
    parsed = urlparse(uri)
    try:
        return s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    except (ClientError, FileNotFoundError) as error:  # S3's NoSuchKey, the local client's missing file
        raise LineageError(f"cannot read {uri}: {error}") from error


class LocalLineageClient(LocalSageMakerClient):
    """The local registry's client, answering for the local executions too."""

    def __init__(self, home: Path) -> None:
        super().__init__(Registry(home))
        self.home = Path(home)

    def describe_pipeline_execution(self, *, PipelineExecutionArn: str) -> dict:  # noqa: N803
        record = execution_record(self.home, PipelineExecutionArn.rsplit("/", 1)[1])
        return {
            "PipelineExecutionArn": PipelineExecutionArn,
            "PipelineExecutionStatus": record["status"],
            **({"FailureReason": record["failure_reason"]} if record.get("failure_reason") else {}),
        }

    def list_pipeline_execution_steps(self, *, PipelineExecutionArn: str, NextToken=None) -> dict:  # noqa: N803
        """The steps that ran, as the executor recorded them; the RegisterModel step names the package it registered."""
        record = execution_record(self.home, PipelineExecutionArn.rsplit("/", 1)[1])
        return {
            "PipelineExecutionSteps": [
                {
                    "StepName": step["name"],
                    "StepStatus": step["status"],
                    **({"FailureReason": step["failure_reason"]} if step.get("failure_reason") else {}),
                    "Metadata": {"RegisterModel": {"Arn": record["registered"]}}
                    if step["type"] == "RegisterModel" and step["status"] == "Succeeded" and record.get("registered")
                    else {},
                }
                for step in record["steps"]
                if step["status"] != "NotRun"  # a branch not taken: SageMaker lists no such step
            ]
        }

    def list_pipeline_parameters_for_execution(self, *, PipelineExecutionArn: str, NextToken=None) -> dict:  # noqa: N803
        record = execution_record(self.home, PipelineExecutionArn.rsplit("/", 1)[1])
        return {"PipelineParameters": [{"Name": k, "Value": str(v)} for k, v in sorted(record["parameters"].items())]}


def execution_record(home: Path, execution_id: str) -> dict:
    """The record the local executor kept of an execution (its parameters, steps and status)."""
    path = Path(home) / EXECUTIONS_DIR / execution_id / RECORD_FILE
    try:
        return read_json(path)
    except FileNotFoundError:
        raise LineageError(f"the pipeline execution {execution_id} has no record at {path}") from None
    except DamagedRecord as error:
        raise LineageError(str(error)) from None


def lineage(
    home: Path, inference_id: str | None = None, *, endpoint: str | None = None, at: datetime | None = None
) -> list[Link]:
    """The chain of a request to this machine's endpoint: the one sent with `inference_id`, or else the first that
    `endpoint` answered in the second `at`."""
    home = Path(home)
    root = home / CAPTURE_DIR
    if inference_id is None:
        if endpoint is None or at is None:
            raise ValueError("name the request: its inference id, or the endpoint and the time it answered")
        second = at.astimezone(timezone.utc).strftime(CAPTURE_TIME_FORMAT)
        name, record = _find(_local_capture(root, endpoint), second, root / endpoint, key="inferenceTime")
    else:
        name, record = _find(_local_capture(root), inference_id, root)
    arn = record["eventMetadata"].get("modelPackageArn")
    shown = inference_id or record["eventMetadata"]["eventId"]
    if not arn:
        raise LineageError(f"the request {shown!r} was answered by a bare model archive (serve --model), not a package")
    links = chain(LocalLineageClient(home), LocalS3Client(LocalS3(home)), arn)
    return [prediction_link(shown, name, record), *links]


def aws_lineage(sagemaker, s3, *, bucket: str, endpoint: str, at: datetime, inference_id: str) -> list[Link]:
    """The chain of a request to an endpoint on AWS: its capture record in the hour of `at` (and the hour before),
    the package the endpoint serves (its config's model), and on."""
    prefix = f"{DATA_CAPTURE_PREFIX}/{endpoint}/{ENDPOINT_VARIANT}"
    hours = [at.astimezone(timezone.utc) - timedelta(hours=back) for back in (0, 1)]
    where = f"s3://{bucket}/{prefix}/ in the hours of {at.isoformat()}"
    _, record = _find(
        _aws_capture(s3, bucket, [f"{prefix}/{hour:%Y/%m/%d/%H}/" for hour in hours], endpoint), inference_id, where
    )
    arn = endpoint_package(sagemaker, endpoint)
    return [prediction_link(inference_id, endpoint, record), *chain(sagemaker, s3, arn)]


def _find(records: Iterator[tuple[str, str]], value: str, where, *, key: str = "inferenceId") -> tuple[str, dict]:
    """The first record whose `eventMetadata[key]` (an inference id, or a time) is `value`."""
    for endpoint, line in records:
        if value not in line:  # a cheap test before the parse
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("eventMetadata", {}).get(key) == value:
            return endpoint, record
    what = "inference id" if key == "inferenceId" else "time"
    raise LineageError(f"no captured request has {what} {value!r} (looked under {where})")


def _local_capture(root: Path, endpoint: str | None = None) -> Iterator[tuple[str, str]]:
    """(endpoint, line) of every capture file under `root` (the capture folder), or of one endpoint's."""
    for path in sorted((root / endpoint if endpoint else root).rglob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                yield endpoint or path.relative_to(root).parts[0], line


def _aws_capture(s3, bucket: str, prefixes: list[str], endpoint: str) -> Iterator[tuple[str, str]]:
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode("utf-8", "replace")
                for line in body.splitlines():
                    yield endpoint, line


def describe(links: list[Link]) -> str:
    lines = []
    for link in links:
        lines.append(f"{link.what}:")
        for name, value in link.facts.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"  {name:<18} {shown}")
    return "\n".join(lines)
