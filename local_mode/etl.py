"""`local_mode etl`: the Glue job's functions on a local SparkSession (local[2]), files in and out."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

from ml_code.contracts.contract import DatasetContract
from ml_code.etl.job import EtlLocations, run_etl

logger = logging.getLogger(__name__)


def local_spark(app_name: str = "mlops-local-etl", driver_memory: str = "2g"):
    """A Spark session on this machine only: two cores, loopback, no UI, UTC."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def local_locations(input_path: Path, output: Path) -> EtlLocations:
    """The local twin of the S3 layout: <output>/{curated,quarantine,manifests}."""
    if not input_path.exists():
        raise FileNotFoundError(f"no input at {input_path}")
    return EtlLocations(
        raw=input_path.resolve().as_uri(),
        curated=(output / "curated").resolve().as_uri(),
        quarantine=(output / "quarantine").resolve().as_uri(),
        manifests=(output / "manifests").resolve().as_uri(),
    )


def run_local_etl(contract: DatasetContract, input_path: Path, output: Path, *, key: bytes, spark=None) -> dict:
    """Run the ETL on local files; returns the run manifest."""
    locations = local_locations(input_path, output)  # a bad path fails before Spark starts
    return run_etl(
        spark or local_spark(),
        contract,
        locations,
        key=key,
        run_id=uuid.uuid4().hex[:12],
        ingest_date=datetime.now(timezone.utc).date().isoformat(),
    )
