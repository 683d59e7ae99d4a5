"""Which model batch scoring uses (a SageMaker processing step): the group's newest Approved package.

Writes `approved_model.json` with the package's ARN, version and model data URL; the scoring step reads the
model from that URL and records the ARN with its predictions. No Approved package is an error that says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402

from ml_code.model_registry import newest_approved, registry_clients  # noqa: E402
from ml_code.paths import (  # noqa: E402
    APPROVED_MODEL_FILE,
    APPROVED_MODEL_OUTPUT,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
)
from ml_code.runtime import atomic_write_text, configure_logging, parse_known, run_step  # noqa: E402

logger = logging.getLogger(__name__)


class NoApprovedModel(LookupError):
    """The group has no Approved package to score with."""


def approved_model(sagemaker, group: str) -> dict:
    """{model_package_arn, model_package_version, model_data_url} of the group's newest Approved package."""
    package = newest_approved(sagemaker, group)
    if package is None:
        raise NoApprovedModel(f"model package group {group} has no Approved package: approve one to score with it")
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    if len(containers) != 1 or "ModelDataUrl" not in containers[0]:
        raise ValueError(f"package {package['ModelPackageArn']} has no single container with model data to score with")
    return {
        "model_package_arn": package["ModelPackageArn"],
        "model_package_version": package["ModelPackageVersion"],
        "model_data_url": containers[0]["ModelDataUrl"],
    }


def write_approved_model(output_dir: Path, group: str) -> dict:
    chosen = approved_model(registry_clients()[0], group)
    atomic_write_text(output_dir / APPROVED_MODEL_FILE, json.dumps(chosen, indent=2, sort_keys=True, allow_nan=False))
    logger.info("scoring with %s (version %s)", chosen["model_package_arn"], chosen["model_package_version"])
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    return parse_known(parser, argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    return run_step(
        lambda: write_approved_model(args.base_dir / APPROVED_MODEL_OUTPUT, args.model_package_group),
        args.failure_file,
    )


if __name__ == "__main__":
    sys.exit(main())
