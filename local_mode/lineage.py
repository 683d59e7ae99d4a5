"""`local_mode lineage`: where a prediction came from, from its capture record back to the raw export files.

The chain: the captured request (endpoint, time, the package that answered: the record's `modelPackageArn`), the
package (version, approval: who, when, comment; the container image; its metrics and the gate), the pipeline
execution that made it (its parameters: the code commit, the seed, the data), the training data (its hash, and the
ETL runs whose output preprocessing read) and, from the ETL's manifests, the raw files each run processed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra.naming import PREPROCESS_STEP
from local_mode.executor import EXECUTIONS_DIR, RECORD_FILE
from local_mode.local_s3 import LocalS3
from local_mode.records import DamagedRecord, read_json
from local_mode.registry import Registry, parse_arn
from local_mode.serving.endpoint import CAPTURE_DIR
from ml_code.contracts.contract import load_contract
from ml_code.evaluation.champion import metric_at
from ml_code.paths import METADATA_FILE, METADATA_OUTPUT

MANIFESTS_DIR = "manifests"  # beside the ETL's curated folder, as local_mode etl writes them


class LineageError(LookupError):
    """A link of the chain cannot be found; the message says which and where it was looked for."""


@dataclass(frozen=True)
class Link:
    what: str
    facts: dict[str, object]


def find_capture(home: Path, inference_id: str) -> tuple[str, dict]:
    """(endpoint, capture record) of the request sent with `inference_id`."""
    root = Path(home) / CAPTURE_DIR
    for path in sorted(root.rglob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if inference_id not in line:  # a cheap test before the parse
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("eventMetadata", {}).get("inferenceId") == inference_id:
                    return path.relative_to(root).parts[0], record
    raise LineageError(f"no captured request has inference id {inference_id!r} (looked under {root})")


def lineage(home: Path, inference_id: str) -> list[Link]:
    """The chain from the request sent with `inference_id` to the raw files its model was trained on."""
    home = Path(home)
    endpoint, record = find_capture(home, inference_id)
    metadata = record["eventMetadata"]
    chain = [
        Link(
            "prediction",
            {
                "inference id": inference_id,
                "endpoint": endpoint,
                "answered at": metadata["inferenceTime"],
                "request": record["captureData"]["endpointInput"]["observedContentType"],
            },
        )
    ]
    arn = metadata.get("modelPackageArn")
    if not arn:
        raise LineageError(
            f"the request {inference_id!r} was answered by a bare model archive (serve --model), not a package"
        )
    package = Registry(home).package(*parse_arn(arn))
    s3 = LocalS3(home)
    container = package.inference_specification["Containers"][0]
    report = json.loads(s3.path(package.model_metrics["ModelQuality"]["Statistics"]["S3Uri"]).read_text())
    contract = load_contract(package.customer_metadata["contract"])
    chain.append(
        Link(
            "model package",
            {
                "package": f"{package.group} version {package.version} ({arn})",
                "status": package.status,
                "decided": f"by {package.decided_by} at {package.decided_at}: {package.comment!r}",
                "container image": container["Image"],
                "model data": container["ModelDataUrl"],
                contract.metric.name: round(metric_at(report, contract.report_metric_path), 6),
            },
        )
    )
    execution = execution_record(home, package.pipeline_execution)
    parameters = execution["parameters"]
    chain.append(
        Link(
            "pipeline execution",
            {
                "execution": f"{execution['execution_id']} of {execution['pipeline_name']} ({execution['status']})",
                "code commit": parameters.get("GitCommit"),
                "seed": parameters.get("Seed"),
                "started because": parameters.get("StartReason"),
                "gate": f"{contract.metric.name} {'>=' if contract.metric.higher_is_better else '<='} "
                f"{parameters.get('GateThreshold', contract.metric.threshold)}",
                "training data": parameters.get("InputDataUri"),
            },
        )
    )
    training = _preprocess_metadata(s3, container["ModelDataUrl"], package.pipeline_execution)
    chain.append(
        Link(
            "training data",
            {
                "sha256": training["data_sha256"],
                "rows": training["rows"],
                "ETL runs": training.get("etl_runs", []),
            },
        )
    )
    manifests = Path(parameters.get("InputDataUri", "")).parent / MANIFESTS_DIR
    for run in training.get("etl_runs", []):
        manifest = manifests / f"run={run}.json"
        if not manifest.is_file():
            chain.append(Link(f"ETL run {run}", {"manifest": f"not found at {manifest}"}))
            continue
        ledger = json.loads(manifest.read_text())
        chain.append(
            Link(
                f"ETL run {run}",
                {
                    "ingested": ledger["ingest_date"],
                    "counts": ledger["counts"],
                    "raw files": ledger["source_files"],
                },
            )
        )
    return chain


def execution_record(home: Path, execution_id: str) -> dict:
    """The record the local executor kept of an execution (its parameters, steps and status)."""
    path = home / EXECUTIONS_DIR / execution_id / RECORD_FILE
    try:
        return read_json(path)
    except FileNotFoundError:
        raise LineageError(f"the package's pipeline execution {execution_id} has no record at {path}") from None
    except DamagedRecord as error:
        raise LineageError(str(error)) from None


def _preprocess_metadata(s3: LocalS3, model_data_url: str, execution_id: str) -> dict:
    """The execution's preprocessing metadata, in its folder of the artifacts bucket (`.../<execution>/...`)."""
    prefix = model_data_url.split(f"/{execution_id}/", 1)[0]
    path = s3.path(f"{prefix}/{execution_id}/{PREPROCESS_STEP}/{METADATA_OUTPUT}/{METADATA_FILE}")
    if not path.is_file():
        raise LineageError(f"the execution's preprocessing metadata is not at {path}")
    return json.loads(path.read_text())


def describe(chain: list[Link]) -> str:
    lines = []
    for link in chain:
        lines.append(f"{link.what}:")
        for name, value in link.facts.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"  {name:<18} {shown}")
    return "\n".join(lines)
