"""What a monitoring run reads (the monitoring pipeline's first step; it calls SageMaker and S3, so the job that
reads the traffic itself can be network-isolated): the package the endpoint serves and the window's files.

Writes `served.json` (a property file): the served package (ARN, version, model data, its data-quality baselines),
the window [start, end) and how many captured files fall in it; and `window.manifest`, a SageMaker manifest of the
captured files and the ground-truth uploads of the last `LOOKBACK` (model quality joins predictions with ground truth
that arrives later), so that the monitoring job downloads those and nothing older, however long the endpoint has
served. The window ends at `--window-end`, or at the current hour (the schedule fires on the hour: consecutive runs
cover consecutive windows); it starts at `--window-start`, or `--window-hours` before its end; it is at most the
lookback long.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from ml_code.aws_pages import list_keys  # noqa: E402
from ml_code.model_registry import registry_clients  # noqa: E402
from ml_code.paths import (  # noqa: E402
    DATA_CAPTURE_PREFIX,
    ENDPOINT_VARIANT,
    GROUND_TRUTH_PREFIX,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
    SERVED_MODEL_FILE,
    SERVED_MODEL_OUTPUT,
    WINDOW_MANIFEST_FILE,
)
from ml_code.runtime import atomic_write_text, configure_logging, parse_known, run_step  # noqa: E402

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=24)


def served_package(sagemaker, endpoint: str, package_arn: str = "", *, fairness: bool = False) -> dict:
    """{model_package_arn, model_package_version, model_data_url, statistics_uri, constraints_uri} of `package_arn`,
    or (when empty) of the package the endpoint's model was made from; with `fairness`, its `explainability_uri`
    (the report attribution drift compares with) too."""
    package = sagemaker.describe_model_package(ModelPackageName=package_arn or endpoint_package(sagemaker, endpoint))
    package_arn = package["ModelPackageArn"]
    quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    if "Statistics" not in quality or "Constraints" not in quality:
        raise ValueError(f"package {package_arn} has no data-quality baselines to monitor against")
    found = {
        "model_package_arn": package["ModelPackageArn"],
        "model_package_version": package["ModelPackageVersion"],
        "model_data_url": package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        "statistics_uri": quality["Statistics"]["S3Uri"],
        "constraints_uri": quality["Constraints"]["S3Uri"],
    }
    if fairness:
        explainability = package["DriftCheckBaselines"].get("Explainability", {}).get("Constraints", {})
        if "S3Uri" not in explainability:
            raise ValueError(
                f"package {package_arn} has no explainability baseline: train it with the contract's fairness section"
            )
        found["explainability_uri"] = explainability["S3Uri"]
    return found


def endpoint_package(sagemaker, endpoint: str) -> str:
    """The ARN of the package the endpoint's model was made from (its config's first variant's model)."""
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    variants = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if not container.get("ModelPackageName"):
        raise ValueError(f"endpoint {endpoint} serves model {variants[0]['ModelName']}, made from no model package")
    return container["ModelPackageName"]


def window(hours: int, end: str = "", start: str = "", now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end): ending at `end` (ISO 8601) or at the start of the current hour, starting at `start` or `hours`
    before the end."""
    until = _time(end) if end else (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    since = _time(start) if start else until - timedelta(hours=hours)
    if not timedelta(0) < until - since <= LOOKBACK:
        raise ValueError(
            f"the window {since.isoformat()} to {until.isoformat()} must end after it starts and last at most "
            f"{LOOKBACK}"
        )
    return since, until


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time such as 2026-12-04T10:00:00Z") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def hour_prefixes(root: str, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """(hour, `<root>/yyyy/mm/dd/hh/`) of every hour that overlaps [start, end), as SageMaker files captures."""
    hour = start.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    found = []
    while hour < end:
        found.append((hour, f"{root}/{hour:%Y/%m/%d/%H}/"))
        hour += timedelta(hours=1)
    return found


def window_files(s3, bucket: str, endpoint: str, start: datetime, end: datetime) -> tuple[list[str], int]:
    """(the keys of the ground-truth uploads of the lookback and of the captured files the run needs, how many
    captured files are in the window's own hours). The lookback's earlier capture is listed only when ground truth
    came in it: with none, model quality has nothing to join, and the run reads the window's hours alone."""
    lookback_start = min(start, end - LOOKBACK)
    truth = [
        key
        for _, prefix in hour_prefixes(f"{GROUND_TRUTH_PREFIX}/{endpoint}", lookback_start, end)
        for key in list_keys(s3, bucket, prefix)
    ]
    keys, in_window = [], 0
    capture = f"{DATA_CAPTURE_PREFIX}/{endpoint}/{ENDPOINT_VARIANT}"
    for hour, prefix in hour_prefixes(capture, lookback_start if truth else start, end):
        found = list_keys(s3, bucket, prefix)
        keys += found
        in_window += len(found) if hour + timedelta(hours=1) > start else 0
    return keys + truth, in_window


def write_served(
    output: Path,
    *,
    endpoint: str,
    package_arn: str,
    bucket: str,
    hours: int,
    end: str,
    start: str = "",
    fairness: bool = False,
) -> dict:
    sagemaker, s3 = registry_clients()
    start, until = window(hours, end, start)
    served = served_package(sagemaker, endpoint, package_arn, fairness=fairness)
    keys, in_window = window_files(s3, bucket, endpoint, start, until)
    served.update(
        endpoint=endpoint,
        window_start=start.isoformat(),
        window_end=until.isoformat(),
        captured_files=in_window,
        files=len(keys),
    )
    # SageMaker downloads each listed key to <local path>/<key>: the job finds the capture and ground truth by prefix
    manifest = [{"prefix": f"s3://{bucket}/"}, *keys]
    atomic_write_text(output / WINDOW_MANIFEST_FILE, json.dumps(manifest))
    atomic_write_text(output / SERVED_MODEL_FILE, json.dumps(served, indent=2, sort_keys=True))
    logger.info(
        "%s serves %s; window %s to %s: %d captured file(s), %d file(s) in the lookback",
        endpoint,
        served["model_package_arn"],
        served["window_start"],
        served["window_end"],
        in_window,
        len(keys),
    )
    return served


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--model-package-arn", default="", help="default: the package the endpoint serves")
    parser.add_argument("--monitoring-bucket", required=True, help="where the capture and the ground truth are")
    parser.add_argument("--window-hours", type=int, required=True)
    parser.add_argument("--window-end", default="", help="ISO 8601 (default: the start of the current hour)")
    parser.add_argument("--window-start", default="", help="ISO 8601 (default: --window-hours before its end)")
    parser.add_argument("--fairness", action="store_true", help="the package's explainability baseline too")
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    return parse_known(parser, argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    return run_step(
        lambda: write_served(
            args.base_dir / SERVED_MODEL_OUTPUT,
            endpoint=args.endpoint,
            package_arn=args.model_package_arn,
            bucket=args.monitoring_bucket,
            hours=args.window_hours,
            end=args.window_end,
            start=args.window_start,
            fairness=args.fairness,
        ),
        args.failure_file,
    )


if __name__ == "__main__":
    sys.exit(main())
