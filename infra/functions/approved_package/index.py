"""A CloudFormation custom resource that lets a deployment go on only with an Approved model package.

The ServingStack names the package to serve in a parameter; whoever deploys it, this check fails the deployment
(before any model is created) unless the package belongs to the released models' group and is Approved in the Model
Registry. Deleting the resource checks nothing.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from urllib.parse import urlparse

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)

APPROVED = "Approved"
# The bias and explainability baselines a package may carry (DriftCheckBaselines), by the attribute that returns them
FAIRNESS_BASELINES = {
    "BiasConfig": ("Bias", "ConfigFile"),
    "BiasConstraints": ("Bias", "PostTrainingConstraints"),
    "ExplainabilityConfig": ("Explainability", "ConfigFile"),
    "ExplainabilityConstraints": ("Explainability", "Constraints"),
}


class PackageNotServable(ValueError):
    """The package may not be deployed; the message says why and what to do."""


def handler(event: dict, context: object) -> None:
    properties = event.get("ResourceProperties", {})
    physical_id = event.get("PhysicalResourceId") or properties.get("ModelPackageArn", "unknown")
    status, reason, data = "SUCCESS", "", {}
    try:
        if event["RequestType"] in ("Create", "Update"):
            arn = properties["ModelPackageArn"]
            data = check(
                boto3.client("sagemaker"),
                arn,
                properties["ModelPackageGroupName"],
                needs_baselines=properties.get("RequireDriftBaselines") == "true",
                needs_fairness_baselines=properties.get("RequireFairnessBaselines") == "true",
            )
            physical_id = arn
    except Exception as error:  # every outcome must reach CloudFormation, or the stack waits for an hour
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    logger.info("%s %s: %s %s", event.get("RequestType"), physical_id, status, reason)
    respond(event, status=status, reason=reason, physical_id=physical_id, data=data)


def check(
    sagemaker, arn: str, group: str, *, needs_baselines: bool = False, needs_fairness_baselines: bool = False
) -> dict:
    """The package's version and its drift baselines (the data-quality statistics and constraints the monitors
    compare with; the bias and explainability configs and constraints, when it has them) when it is an Approved
    package of `group`; else PackageNotServable. `needs_baselines`, `needs_fairness_baselines`: a package without
    them is not servable either (the stage monitors its endpoint)."""
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    if package.get("ModelPackageGroupName") != group:
        raise PackageNotServable(
            f"model package {arn} belongs to {package.get('ModelPackageGroupName')!r}, not the released models' "
            f"group {group!r}"
        )
    if package["ModelApprovalStatus"] != APPROVED:
        raise PackageNotServable(
            f"model package {arn} is {package['ModelApprovalStatus']}, not {APPROVED}: approve it in the Model "
            "Registry before deploying it"
        )
    data = {"ModelPackageVersion": str(package["ModelPackageVersion"])}
    quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    statistics, constraints = quality.get("Statistics", {}).get("S3Uri"), quality.get("Constraints", {}).get("S3Uri")
    if statistics and constraints:
        data.update(DataQualityStatistics=statistics, DataQualityConstraints=constraints)
    elif needs_baselines:
        raise PackageNotServable(
            f"model package {arn} has no data-quality drift baselines (DriftCheckBaselines), which the stage's "
            "monitors compare with: register it with a pipeline that records them (train it again)"
        )
    drift = package.get("DriftCheckBaselines", {})
    fairness = {
        name: drift.get(kind, {}).get(part, {}).get("S3Uri") for name, (kind, part) in FAIRNESS_BASELINES.items()
    }
    if all(fairness.values()):
        data.update(fairness)
    elif needs_fairness_baselines:
        missing = sorted(name for name, uri in fairness.items() if not uri)
        raise PackageNotServable(
            f"model package {arn} lacks the bias and explainability baselines {missing} (DriftCheckBaselines) that "
            "the stage's bias and explainability monitors compare with: train it with the contract's fairness section"
        )
    return data


def respond(event: dict, *, status: str, reason: str, physical_id: str, data: dict) -> None:
    """PUT the outcome to the pre-signed URL CloudFormation waits on."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000] or status,
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    url = event["ResponseURL"]
    if urlparse(url).scheme not in ("https", "http"):
        raise ValueError(f"the response URL is not HTTP(S): {url[:40]}")
    headers = {"Content-Type": "", "Content-Length": str(len(body))}
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)  # noqa: S310 (scheme checked)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (scheme checked)
        response.read()
