"""The deploy pipeline's first step: find the package to release (the newest Approved version of the release
stage's group, at run time) and fetch its sample payload for the smoke test.

    python -m infra.codebuild.release --group mlops-staging-customer-churn --output release/

Writes `release/package.json` and `release/payload.tar.gz`, and prints the package ARN, which the pipeline passes on
to both deployments. Exits 1, saying why, when the group has no Approved package or the package has no sample
payload.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from urllib.parse import urlparse

from ml_code.model_registry import newest_approved

logger = logging.getLogger(__name__)

PACKAGE_FILE = "package.json"
PAYLOAD_FILE = "payload.tar.gz"


class NothingToRelease(RuntimeError):
    """The group holds no package the deploy pipeline can release; the message says why."""


def resolve(sagemaker, s3, group: str, output: Path) -> dict:
    """Describe the group's newest Approved package, write it and its sample payload under `output`, return it."""
    package = newest_approved(sagemaker, group)
    if package is None:
        raise NothingToRelease(f"no Approved package in {group}: approve one in the Model Registry first")
    arn = package["ModelPackageArn"]
    payload_url = package.get("SamplePayloadUrl")
    if not payload_url:
        raise NothingToRelease(
            f"{arn} has no SamplePayloadUrl, so it cannot be smoke-tested: register it with a pipeline that writes "
            "the sample payload (train it again)"
        )
    location = urlparse(payload_url)
    output.mkdir(parents=True, exist_ok=True)
    s3.download_file(location.netloc, location.path.lstrip("/"), str(output / PAYLOAD_FILE))
    release = {
        "ModelPackageArn": arn,
        "ModelPackageVersion": package.get("ModelPackageVersion"),
        "SamplePayloadUrl": payload_url,
    }
    (output / PACKAGE_FILE).write_text(json.dumps(release, indent=2) + "\n")
    return release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", required=True, help="the release stage's model package group")
    parser.add_argument("--output", type=Path, required=True, help="folder for package.json and payload.tar.gz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        release = resolve(boto3.client("sagemaker"), boto3.client("s3"), args.group, args.output)
    except NothingToRelease as error:
        logger.error("%s", error)
        return 1
    except (ClientError, BotoCoreError, OSError) as error:  # the registry, the payload's bucket or the output folder
        logger.error("cannot release from %s: %s: %s", args.group, type(error).__name__, error)
        return 1
    logger.info("releasing %s", release["ModelPackageArn"])
    sys.stdout.write(release["ModelPackageArn"] + "\n")  # the pipeline reads the ARN from standard output
    return 0


if __name__ == "__main__":
    sys.exit(main())
