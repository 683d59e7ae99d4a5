"""Local experiment tracking: every pipeline run, monitoring run and tuning run of a workdir in MLflow.

What the logging build does on AWS when an execution ends, done here when the executor returns: the same code
(tracking/) reads the execution through the local executor's records and buckets, in boto3's shapes, and logs it.
The store is `<workdir>/mlflow/` (MLflow's SQLite store and the runs' artifacts), or the tracking server that
`MLFLOW_TRACKING_URI` names; `python -m local_mode ui` opens the store on loopback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from blueprint.naming import MODEL_BUILD_PREFIX, MONITORING_REPORTS
from local_mode.deployment import BUCKETS, MONITORING_BUCKET

TRACKING_DIR, STORE_FILE, ARTIFACTS_DIR = "mlflow", "mlflow.db", "artifacts"
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"  # MLflow's own
UI_PORT = 5000  # MLflow's default
SQLITE = "sqlite:///"  # a local store's URI: this and its absolute path

logger = logging.getLogger(__name__)


def tracking_uri(home: Path) -> str:
    """The store or server `MLFLOW_TRACKING_URI` names, else the workdir's own store."""
    return os.environ.get(TRACKING_URI_VARIABLE) or f"{SQLITE}{store_folder(home) / STORE_FILE}"


def store_folder(home: Path) -> Path:
    return Path(home).resolve() / TRACKING_DIR


def tracking_client(home: Path):
    """An MLflow client of the workdir's tracking URI, and where its experiments keep artifacts: beside a SQLite
    store (created on first use), None with a server (which decides)."""
    from mlflow import MlflowClient

    uri = tracking_uri(home)
    if not uri.startswith(SQLITE):
        return MlflowClient(uri), None
    database = Path(uri.removeprefix(SQLITE))
    artifacts = artifacts_beside(database)
    if not database.is_file():
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        database.parent.mkdir(parents=True, exist_ok=True)
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # its creation's INFO lines
        SqlAlchemyStore(uri, artifacts)  # creates the store, its default experiment's artifacts beside it too
    return MlflowClient(uri), artifacts


def artifacts_beside(database: Path) -> str:
    """Where the runs of a SQLite store keep their artifacts: a folder beside it."""
    return str(database.parent / ARTIFACTS_DIR)


def model_build_reports(pipeline_name: str) -> str:
    """Where a model-build execution's steps write: `s3://<artifacts>/pipelines/<pipeline>`, as on AWS."""
    return f"s3://{BUCKETS['ArtifactsBucket']}/{MODEL_BUILD_PREFIX}/{pipeline_name}"


def monitoring_reports(endpoint: str) -> str:
    """Where a monitoring execution's steps write: `s3://<monitoring>/monitoring-reports/<endpoint>`, as on AWS."""
    return f"s3://{MONITORING_BUCKET}/{MONITORING_REPORTS}/{endpoint}"


def log_local_execution(home: Path, execution_arn: str, reports_root: str, kind: str) -> str:
    """Log an ended local execution as the logging build logs one on AWS; the run's id."""
    from local_mode.lineage import LocalLineageClient
    from local_mode.local_s3 import LocalS3
    from local_mode.registry import LocalS3Client
    from tracking.executions import log_execution

    client, artifact_root = tracking_client(home)
    return log_execution(
        client,
        LocalLineageClient(home),
        LocalS3Client(LocalS3(home)),
        execution_arn,
        reports_root,
        kind,
        artifact_root=artifact_root,
    )


def tracked(what: str, log_it) -> str | None:
    """Run `log_it` (a logging call); a failure to log is logged as a warning and leaves the run as it is: MLflow
    is an index over the run's outputs, which stay where they are."""
    try:
        return log_it()
    except Exception as error:  # noqa: BLE001 (reported, not swallowed: the run itself stands)
        logger.warning("%s was not logged to MLflow (%s): %s", what, tracking_target(), error)
        return None


def tracking_target() -> str:
    return os.environ.get(TRACKING_URI_VARIABLE) or "the workdir's store"


def ui_command(home: Path, port: int = UI_PORT) -> list[str]:
    """MLflow's UI on the workdir's store, on loopback."""
    uri = tracking_uri(home)
    if not uri.startswith(SQLITE):
        raise ValueError(f"the runs go to the tracking server {uri} ({TRACKING_URI_VARIABLE}): open its own UI")
    database = Path(uri.removeprefix(SQLITE))
    if not database.is_file():
        raise FileNotFoundError(f"no run is logged in {home} yet (no MLflow store at {database}): run a pipeline first")
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifacts_beside(database),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def ui_line(home: Path) -> str:
    """The command that opens a workdir's runs, as a reader types it."""
    return f".venv/bin/python -m local_mode ui --workdir {home}   # then open http://127.0.0.1:{UI_PORT}"
