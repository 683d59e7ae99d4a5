"""One MLflow run, described as data (`RunRecord`), and written once (`log_run`): its parameters, metrics, tags,
report files and child runs (a tuning job's trials)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

logger = logging.getLogger(__name__)

KEY_TAG = "mlops.key"  # what the run stands for (an execution's or a trial's ARN): a run is logged once per key
KIND_TAG = "mlops.kind"  # model-build | monitoring | tuning | trial
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests a child under its parent
STATUSES = ("FINISHED", "FAILED", "KILLED")
# MLflow's limits per LogBatch call (its REST API rejects more)
BATCH_PARAMS, BATCH_TAGS, BATCH_ENTITIES = 100, 100, 1000
_NAME_UNSAFE = re.compile(r"[^\w\-. /]")  # what MLflow does not take in a metric or parameter name


@dataclass(frozen=True)
class RunRecord:
    """What one run holds. `artifacts` maps a path inside the run's artifacts to the file logged there (of the same
    name)."""

    key: str
    kind: str
    name: str
    status: str = "FINISHED"
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    children: tuple[RunRecord, ...] = ()
    start_ms: int | None = None
    end_ms: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"run {self.name!r}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        renamed = sorted(path for path, source in self.artifacts.items() if PurePosixPath(path).name != source.name)
        if renamed:
            raise ValueError(f"run {self.name!r}: artifacts keep their file's name, not so {renamed}")


def metric_name(*parts: str) -> str:
    """A metric or parameter name MLflow takes, from its parts joined by `/` (other characters become `_`)."""
    return "/".join(_NAME_UNSAFE.sub("_", str(part)) for part in parts if str(part))


def log_run(client: MlflowClient, experiment: str, record: RunRecord, *, artifact_root: str | None = None) -> str:
    """Log `record` (and its children) into `experiment`, created if missing (its artifacts under `artifact_root`
    when given, else where the tracking server puts them); the run's id. A key logged before is not logged again:
    its run's id is returned as it is."""
    experiment_id = _experiment(client, experiment, artifact_root)
    return _log(client, experiment_id, record, parent=None)


def find_run(client: MlflowClient, experiment: str, key: str):
    """The run logged for `key` in `experiment`, or None."""
    found = client.get_experiment_by_name(experiment)
    return None if found is None else _find(client, found.experiment_id, key)


def _experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


def _find(client: MlflowClient, experiment_id: str, key: str):
    quoted = key.replace("'", "\\'")
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{quoted}'", max_results=1)
    return runs[0] if runs else None


def _log(client: MlflowClient, experiment_id: str, record: RunRecord, parent: str | None) -> str:
    earlier = _find(client, experiment_id, record.key)
    if earlier is not None and earlier.info.status in STATUSES:
        logger.info("run %s: logged before as %s", record.name, earlier.info.run_id)
        return earlier.info.run_id
    tags = {**record.tags, KEY_TAG: record.key, KIND_TAG: record.kind, **({PARENT_TAG: parent} if parent else {})}
    if earlier is None:
        run_id = client.create_run(
            experiment_id, start_time=record.start_ms, tags=tags, run_name=record.name
        ).info.run_id
    else:  # a run left unfinished (the logger stopped halfway): completed in place
        run_id = earlier.info.run_id
    _log_values(client, run_id, record, tags)
    if record.artifacts:
        _log_artifacts(client, run_id, record.artifacts)
    for child in record.children:
        _log(client, experiment_id, child, parent=run_id)
    client.set_terminated(run_id, status=record.status, end_time=record.end_ms)
    return run_id


def _log_values(client: MlflowClient, run_id: str, record: RunRecord, tags: dict[str, str]) -> None:
    at = record.end_ms or record.start_ms or int(time.time() * 1000)  # when the run is logged, if its times are unknown
    params = [Param(name, str(value)) for name, value in sorted(record.params.items())]
    metrics = [Metric(name, float(value), at, 0) for name, value in sorted(record.metrics.items())]
    run_tags = [RunTag(name, str(value)) for name, value in sorted(tags.items())]
    for start in range(0, len(params), BATCH_PARAMS):
        client.log_batch(run_id, params=params[start : start + BATCH_PARAMS])
    for start in range(0, len(run_tags), BATCH_TAGS):
        client.log_batch(run_id, tags=run_tags[start : start + BATCH_TAGS])
    for start in range(0, len(metrics), BATCH_ENTITIES):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH_ENTITIES])


def _log_artifacts(client: MlflowClient, run_id: str, artifacts: dict[str, Path]) -> None:
    """Every file at its path in the run, uploaded from where it is (a file keeps its name in the run)."""
    for path, source in artifacts.items():
        folder = PurePosixPath(path).parent
        client.log_artifact(run_id, str(source), artifact_path=None if folder == PurePosixPath(".") else str(folder))
