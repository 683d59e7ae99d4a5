"""`local_mode registry list|show|approve|reject`: what an approver does in the Model Registry, locally."""

from __future__ import annotations

import argparse
import json

from local_mode.executor import read_execution
from local_mode.local_s3 import LocalS3
from local_mode.records import DamagedRecord
from local_mode.registry import APPROVED, REJECTED, ModelPackage, Registry, printable
from ml_code.contracts.contract import BIAS_SECTIONS


def registry_command(args: argparse.Namespace) -> str:
    """What the command prints."""
    registry = Registry(args.workdir)
    if args.action == "list":
        return listing(registry, args.group)
    if args.action == "show":
        return lineage(registry.package(args.group, args.version), args.workdir)
    status = APPROVED if args.action == "approve" else REJECTED
    package = registry.decide(
        args.group, args.version, status, approver=args.approver, comment=args.comment, overrule=args.overrule
    )
    return f"{package.group} version {package.version}: {package.status} by {printable(package.decided_by)}"


def listing(registry: Registry, group: str | None) -> str:
    if group is None:
        groups = registry.groups()
        if not groups:
            return f"no model package group in {registry.path}"
        return "\n".join(f"{name}: {len(registry.packages(name))} version(s)" for name in groups)
    packages = registry.packages(group)
    lines = [f"{group}: {len(packages)} version(s)"]
    for package in packages:
        metric = ", ".join(f"{k}={v}" for k, v in sorted(package.customer_metadata.items()) if k == "contract")
        lines.append(f"  v{package.version:<4} {package.status:<22} {package.created_at}  {metric}")
    return "\n".join(lines)


def lineage(package: ModelPackage, home) -> str:
    """A package's metrics, gate decision, provenance, baselines and the pipeline run that made it."""
    s3 = LocalS3(home)
    lines = [
        f"{package.group} version {package.version}: {package.status}",
        f"  arn            {package.arn}",
        f"  created        {package.created_at}",
    ]
    if package.decided_at:
        lines.append(
            f"  decided        {package.decided_at} by {printable(package.decided_by)}: "
            f"{printable(package.comment) or '-'}"
        )
    lines.append(f"  description    {printable(package.description)}")
    lines.append(f"  model          {package.model_data_url}")
    if package.sample_payload_url:
        lines.append(f"  sample payload {package.sample_payload_url}")
    for key, value in sorted(package.customer_metadata.items()):
        lines.append(f"  {key:<14} {value}")
    report_uri = package.model_metrics.get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if report_uri and s3.path(report_uri).is_file():
        report = json.loads(s3.path(report_uri).read_text())
        lines.append("  metrics (test split):")
        for _family, metrics in sorted(report.items()):
            for name, metric in sorted(metrics.items()):
                if isinstance(metric, dict) and "value" in metric:
                    lines.append(f"    {name:<12} {metric['value']:.4f} ± {metric.get('standard_deviation', 0):.4f}")
    lines.extend(fairness_lines(package, s3))
    for kind, block in (("drift baseline", package.drift_check_baselines), ("data baseline", package.model_metrics)):
        quality = block.get("ModelDataQuality", {})
        for part in ("Statistics", "Constraints"):
            if part in quality:
                lines.append(f"  {kind:<14} {part.lower()}: {quality[part]['S3Uri']}")
    lines.append(f"  pipeline run   {package.pipeline_execution}")
    try:
        record = read_execution(home, package.pipeline_execution)
    except DamagedRecord as error:
        lines.append(f"  gate           unknown: {error}")
        record = None
    if record:
        for step in record["steps"]:
            for condition in step["conditions"]:
                if condition["type"] != "All":
                    lines.append(
                        f"  gate           {step['name']}: {condition['left']} {condition['type']} "
                        f"{condition['right']} -> {condition['outcome']}"
                    )
    return "\n".join(lines)


def fairness_lines(package: ModelPackage, s3: LocalS3) -> list[str]:
    """The package's bias metrics by facet (before and after training) and its columns by mean |SHAP|, read
    from the Clarify-format reports it was registered with, and the folders with their plots."""
    bias = package.model_metrics.get("Bias", {})
    reports = {
        "pre-training": bias.get("PreTrainingReport", {}).get("S3Uri"),
        "post-training": bias.get("PostTrainingReport", {}).get("S3Uri"),
        "explanations": package.model_metrics.get("Explainability", {}).get("Report", {}).get("S3Uri"),
    }
    lines = []
    for kind, uri in reports.items():
        if not uri or not s3.path(uri).is_file():
            continue
        analysis = json.loads(s3.path(uri).read_text())
        for stage in BIAS_SECTIONS:
            for column, groups in analysis.get(stage, {}).get("facets", {}).items():
                for group in groups:
                    values = "  ".join(
                        f"{m['name']} {m['value']:.4f}" if m["value"] is not None else f"{m['name']} -"
                        for m in group["metrics"]
                    )
                    lines.append(f"  bias {kind:<13} {column}={group['value_or_threshold']}: {values}")
        shap = analysis.get("explanations", {}).get("kernel_shap", {}).get("label0", {}).get("global_shap_values")
        if shap:
            ranked = sorted(shap.items(), key=lambda item: -item[1])
            lines.append("  explanations   mean |SHAP|: " + ", ".join(f"{name} {value:.3f}" for name, value in ranked))
        lines.append(f"  {kind + ' report':<14} {s3.path(uri).parent}")
    return lines
