"""The Glue 5.0 job's entry point: resolve the job's arguments, read the hash key, run the ETL, and announce
new rows (which start training).

Everything it does is in ml_code.etl (shipped with --extra-py-files); awsglue exists only on Glue, so it
is imported here, inside main().
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

ARGUMENTS = (
    "JOB_NAME",
    "JOB_RUN_ID",
    "contract_file",
    "raw_uri",
    "curated_uri",
    "quarantine_uri",
    "manifest_uri",
    "hash_key_secret_id",
    "events_source",
)


def main() -> int:
    import boto3
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    from ml_code.contracts.contract import load_contract
    from ml_code.etl.announce import announce_new_rows
    from ml_code.etl.job import EtlLocations, run_etl

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = getResolvedOptions(sys.argv, list(ARGUMENTS))
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=args["hash_key_secret_id"])["SecretString"]
    manifest = run_etl(
        glue_context.spark_session,
        load_contract(args["contract_file"]),  # shipped beside the script with --extra-files
        EtlLocations(
            raw=args["raw_uri"],
            curated=args["curated_uri"],
            quarantine=args["quarantine_uri"],
            manifests=args["manifest_uri"],
        ),
        key=secret.encode("utf-8"),
        run_id=args["JOB_RUN_ID"],
        ingest_date=datetime.now(timezone.utc).date().isoformat(),
    )
    job.commit()
    # after the commit: training may start only on a finished run's data
    announce_new_rows(boto3.client("events"), manifest, source=args["events_source"], job_name=args["JOB_NAME"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
