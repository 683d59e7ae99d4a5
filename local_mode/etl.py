"""`local_mode etl`: the Glue job's functions on a local SparkSession (local[2]), files in and out."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

from ml_code.contracts.contract import DatasetContract
from ml_code.etl.job import EtlLocations, run_etl
from ml_code.etl.transforms import check_hash_key

logger = logging.getLogger(__name__)


# Below this much raw input a run is short, and most of it is the JVM warming up: there, the JVM compiles with
# its quick compiler only, whose threads do not compete with the job for the cores (measured with
# bench/etl_bench.py --fixed-cost: a 2,000-record run from 16 s to 13 s, 100,000 records from 22 s to 17 s). A
# long run needs the optimizing compiler (1,000,000 records: 56 s with it, 74 s with the quick one only). A short
# run's heap is small, so the serial collector does its work without threads of its own (the JVM of
# tests/etl: 65 s of CPU with the default collector, 60.5 s with it).
QUICK_JIT_BELOW_BYTES = 64 << 20
SHORT_RUN_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def local_spark(app_name: str = "mlops-local-etl", driver_memory: str = "2g", *, input_bytes: int = 0):
    """A Spark session on this machine only: two cores, loopback, no UI, UTC; tuned for a short run when the
    input is small (`input_bytes`)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]")
    if input_bytes < QUICK_JIT_BELOW_BYTES:
        builder = builder.config("spark.driver.extraJavaOptions", SHORT_RUN_JAVA_OPTIONS)
    session = (
        builder.appName(app_name)
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
    locations = local_locations(input_path, output)  # a bad path or key fails before Spark starts
    check_hash_key(key)
    files = [input_path] if input_path.is_file() else [path for path in input_path.rglob("*") if path.is_file()]
    return run_etl(
        spark or local_spark(input_bytes=sum(path.stat().st_size for path in files)),
        contract,
        locations,
        key=key,
        run_id=uuid.uuid4().hex[:12],
        ingest_date=datetime.now(timezone.utc).date().isoformat(),
    )
