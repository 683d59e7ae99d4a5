"""`python -m tracking`: log one ended pipeline execution to MLflow, as the stage's logging build does on AWS when an
execution ends (infra/constructs/experiment_tracking.py starts it with the execution's ARN).

    python -m tracking --execution-arn arn:aws:sagemaker:...:pipeline/<name>/execution/<id> \\
        --reports s3://<artifacts>/pipelines/<name> --kind model-build \\
        --tracking-uri arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name>

A tracking server's ARN is a tracking URI through AWS's plugin (sagemaker-mlflow), which signs the requests with
the build's role. Logging an execution twice logs it once. Exit status 0 when logged, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tracking import KINDS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tracking", description=__doc__.split("\n\n")[0])
    parser.add_argument("--execution-arn", required=True, help="the ended pipeline execution")
    parser.add_argument("--reports", required=True, help="the S3 folder its steps wrote under, before its id")
    parser.add_argument("--kind", required=True, choices=KINDS, help="what the pipeline does")
    parser.add_argument("--tracking-uri", required=True, help="the MLflow tracking server's ARN (or URI)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, clients=None) -> int:
    """Log the execution; `clients` (SageMaker, S3) default to boto3's, in the environment's region."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        import boto3
        from mlflow import MlflowClient

        from tracking.executions import log_execution

        sagemaker, s3 = clients or (boto3.client("sagemaker"), boto3.client("s3"))
        run_id = log_execution(
            MlflowClient(args.tracking_uri), sagemaker, s3, args.execution_arn, args.reports, args.kind
        )
    except Exception as error:  # the build's boundary: one clear line and exit 1 (the build fails, visibly)
        print(f"error: {args.execution_arn} was not logged: {error}", file=sys.stderr)
        return 1
    print(f"logged {args.execution_arn} as run {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
