"""`make upload-source`: the repository's HEAD as a zip (with a `SOURCE_COMMIT` file naming the commit) uploaded to
the CI/CD source bucket, where no git provider is connected; the upload starts the commit pipeline.

    python -m infra.upload_source [--bucket <name>]   # default: the CicdStack's source bucket
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

from blueprint.config import PlatformConfig, load_config
from blueprint.naming import cicd_bucket_name
from infra.constructs.pipeline_source import SOURCE_COMMIT_FILE, SOURCE_OBJECT_KEY

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


def source_zip(repository: Path) -> tuple[bytes, str]:
    """(zip of HEAD's tracked files plus `SOURCE_COMMIT`, the commit id); fails when the work tree has changes,
    which the pipelines would not see."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=repository, check=True, capture_output=True).stdout

    if git("status", "--porcelain", "--untracked-files=no").strip():
        raise RuntimeError("the work tree has uncommitted changes: commit them first, the pipelines build HEAD")
    commit = git("rev-parse", "HEAD").decode().strip()
    archive = io.BytesIO(git("archive", "--format=zip", commit))
    with zipfile.ZipFile(archive, "a") as zipped:
        zipped.writestr(SOURCE_COMMIT_FILE, commit + "\n")
    return archive.getvalue(), commit


def source_bucket(config: PlatformConfig, sts, region: str) -> str:
    """The CicdStack's source bucket, named as blueprint/naming.py names it, in the tooling account (the config's, else
    the caller's) and region."""
    account = config.tooling_account or sts.get_caller_identity()["Account"]
    return cicd_bucket_name(config, "source", account=account, region=config.tooling_region or region)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", help="the source bucket (default: the CicdStack's, see blueprint/naming.py)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    import boto3

    try:
        body, commit = source_zip(ROOT)
        config = load_config(json.loads((ROOT / "cdk.json").read_text())["context"])
        session = boto3.session.Session()
        bucket = args.bucket or source_bucket(config, session.client("sts"), session.region_name)
    except (RuntimeError, subprocess.CalledProcessError) as error:  # a dirty tree, no git
        logger.error("%s", error)
        return 1
    boto3.client("s3").put_object(Bucket=bucket, Key=SOURCE_OBJECT_KEY, Body=body)
    logger.info(
        "uploaded %s (commit %s) to s3://%s/%s: the commit pipeline starts",
        SOURCE_OBJECT_KEY,
        commit,
        bucket,
        SOURCE_OBJECT_KEY,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
