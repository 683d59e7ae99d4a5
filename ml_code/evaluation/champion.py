"""Champion/challenger (a SageMaker processing step after evaluation): is the candidate at least as good as
the group's current Approved model, within a tolerance?

Reads the candidate's evaluation.json and, from the Model Registry, the newest Approved package's
evaluation report (its ModelQuality statistics); writes `decision.json` with `passes` for the quality gate.
The first model of a group has no champion and passes.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

from ml_code.model_registry import newest_approved, registry_clients  # noqa: E402
from ml_code.paths import (  # noqa: E402
    CHAMPION_FILE,
    CHAMPION_OUTPUT,
    EVALUATION_OUTPUT,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
    REPORT_FILE,
)
from ml_code.runtime import atomic_write_text, configure_logging, parse_known, run_step  # noqa: E402

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    passes: bool
    reason: str
    candidate: float
    champion: float | None
    champion_package: str | None
    tolerance: float


def metric_at(report: dict, path: str) -> float:
    """Follow a dotted JSON path (`regression_metrics.rmse.value`) to a number."""
    node = report
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"the evaluation report has no {path!r} (stopped at {key!r})")
        node = node[key]
    return float(node)


def decide(
    candidate: float, champion: float | None, *, tolerance: float, higher_is_better: bool, champion_package=None
) -> Decision:
    """Pass when there is no champion, or the candidate is not worse than it by more than `tolerance`."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if champion is None:
        return Decision(True, "no approved model yet: the first candidate passes", candidate, None, None, tolerance)
    shortfall = (champion - candidate) if higher_is_better else (candidate - champion)
    passes = shortfall <= tolerance
    verdict = "within" if passes else "beyond"
    reason = f"candidate {candidate:.6g} vs champion {champion:.6g}: shortfall {shortfall:.6g} {verdict} {tolerance:g}"
    return Decision(passes, reason, candidate, champion, champion_package, tolerance)


def champion_metric(sagemaker, s3, group: str, metric_path: str) -> tuple[float | None, str | None]:
    """The metric of the group's newest Approved package, read from its registered evaluation report."""
    package = newest_approved(sagemaker, group)
    if package is None:
        return None, None
    arn = package["ModelPackageArn"]
    try:
        report_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    except KeyError as error:
        raise ValueError(f"approved package {arn} has no ModelQuality statistics to compare with") from error
    location = urlparse(report_uri)
    body = s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read()
    return metric_at(json.loads(body), metric_path), arn


def compare(
    evaluation_dir: Path, output_dir: Path, *, group: str, metric_path: str, higher_is_better: bool, tolerance: float
) -> Decision:
    candidate = metric_at(json.loads((evaluation_dir / REPORT_FILE).read_text()), metric_path)
    champion, package = champion_metric(*registry_clients(), group, metric_path)
    decision = decide(
        candidate, champion, tolerance=tolerance, higher_is_better=higher_is_better, champion_package=package
    )
    atomic_write_text(
        output_dir / CHAMPION_FILE, json.dumps(asdict(decision), indent=2, sort_keys=True, allow_nan=False)
    )
    logger.info("champion/challenger: %s", decision.reason)
    return decision


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--metric-path", required=True, help="e.g. binary_classification_metrics.auc.value")
    parser.add_argument("--direction", choices=("higher", "lower"), required=True, help="which is better")
    parser.add_argument("--tolerance", type=float, required=True)
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    return parse_known(parser, argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    return run_step(
        lambda: compare(
            args.base_dir / EVALUATION_OUTPUT,
            args.base_dir / CHAMPION_OUTPUT,
            group=args.model_package_group,
            metric_path=args.metric_path,
            higher_is_better=args.direction == "higher",
            tolerance=args.tolerance,
        ),
        args.failure_file,
    )


if __name__ == "__main__":
    sys.exit(main())
