"""A CloudFormation custom resource that lets a deployment go on only with an Approved model package.

The ServingStack names the package to serve in a parameter; whoever deploys it, this check fails the deployment
(before any model is created) unless the package belongs to the released models' group and is Approved in the Model
Registry. Deleting the resource checks nothing, and neither does a rollback to the package the resource already
stands for (its physical id): that package was checked when it was deployed, and a rejection since must not leave
the stack in UPDATE_ROLLBACK_FAILED. It always answers, in time: every API call has timeouts within the function's
remaining time, and an event without its properties is answered FAILED, not left waiting for an hour.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from urllib.parse import urlparse

import boto3
from botocore.config import Config

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


ANSWER_SECONDS = 5  # kept for answering CloudFormation, out of the function's remaining time
MAX_CALL_SECONDS = 20


class PackageNotServable(ValueError):
    """The package may not be deployed; the message says why and what to do."""


def handler(event: dict, context: object) -> None:
    properties = event.get("ResourceProperties") or {}
    physical_id = event.get("PhysicalResourceId") or properties.get("ModelPackageArn") or "unknown"
    status, reason, data = "SUCCESS", "", {}
    try:
        if event.get("RequestType") in ("Create", "Update"):
            arn = properties["ModelPackageArn"]
            # an update back to the package this resource stands for is a rollback (or a no-op): it was checked
            rollback = event.get("RequestType") == "Update" and arn == event.get("PhysicalResourceId")
            data = check(
                sagemaker_client(context),
                arn,
                properties["ModelPackageGroupName"],
                needs_baselines=properties.get("RequireDriftBaselines") == "true",
                needs_fairness_baselines=properties.get("RequireFairnessBaselines") == "true",
                needs_approval=not rollback,
            )
            physical_id = arn
        elif event.get("RequestType") != "Delete":
            raise ValueError(f"unknown request type {event.get('RequestType')!r}")
    except Exception as error:  # every outcome must reach CloudFormation, or the stack waits for an hour
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    logger.info("%s %s: %s %s", event.get("RequestType"), physical_id, status, reason)
    respond(event, status=status, reason=reason, physical_id=physical_id, data=data)


def sagemaker_client(context: object):
    """A SageMaker client whose calls, retries included, end before the function must answer."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 60.0
    budget = max(1.0, min(MAX_CALL_SECONDS, remaining - ANSWER_SECONDS))
    config = Config(
        connect_timeout=budget / 4, read_timeout=budget / 4, retries={"total_max_attempts": 2, "mode": "standard"}
    )
    return boto3.client("sagemaker", config=config)


def check(
    sagemaker,
    arn: str,
    group: str,
    *,
    needs_baselines: bool = False,
    needs_fairness_baselines: bool = False,
    needs_approval: bool = True,
) -> dict:
    """The package's version and its drift baselines (the data-quality statistics and constraints the monitors
    compare with; the bias and explainability configs and constraints, when it has them) when it is an Approved
    package of `group`; else PackageNotServable. `needs_baselines`, `needs_fairness_baselines`: a package without
    them is not servable either (the stage monitors its endpoint). `needs_approval` False: its status is not
    checked (a rollback to it)."""
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    if package.get("ModelPackageGroupName") != group:
        raise PackageNotServable(
            f"model package {arn} belongs to {package.get('ModelPackageGroupName')!r}, not the released models' "
            f"group {group!r}"
        )
    if needs_approval and package["ModelApprovalStatus"] != APPROVED:
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
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "Data": data,
        }
    ).encode()
    url = event.get("ResponseURL")
    if not url:  # nowhere to answer: say so in the log, which is all there is
        logger.error("the event has no ResponseURL: no answer can reach CloudFormation")
        return
    if urlparse(str(url)).scheme not in ("https", "http"):
        raise ValueError(f"the response URL is not HTTP(S): {url[:40]}")
    headers = {"Content-Type": "", "Content-Length": str(len(body))}
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)  # noqa: S310 (scheme checked)
    with urllib.request.urlopen(request, timeout=ANSWER_SECONDS) as response:  # noqa: S310 (scheme checked)
        response.read()
