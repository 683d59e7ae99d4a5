"""Every item of a paginated AWS list call, through boto3's client methods or the local clients that answer the same
calls: S3's object keys, a pipeline execution's parameters, or any list. Standard library only."""

from __future__ import annotations

from collections.abc import Callable

SAGEMAKER_MARKERS = ("NextToken", "NextToken")  # a list call's page marker: in the request, in the response
S3_MARKERS = ("ContinuationToken", "NextContinuationToken")  # ListObjectsV2's


def all_items(call: Callable[..., dict], items: str, *, markers=SAGEMAKER_MARKERS, **arguments) -> list[dict]:
    """The `items` of every page `call(**arguments)` answers, following its page marker (`markers`: its name in the
    request, in the response) until a page names none."""
    found, position = [], None
    while True:
        page = call(**arguments, **({markers[0]: position} if position else {}))
        found.extend(page.get(items, []))
        position = page.get(markers[1])
        if not position:
            return found


def list_keys(s3, bucket: str, prefix: str) -> list[str]:
    """The keys of every object under `prefix`."""
    listed = all_items(s3.list_objects_v2, "Contents", markers=S3_MARKERS, Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed]


def execution_parameters(sagemaker, execution_arn: str) -> dict[str, str]:
    """A pipeline execution's parameters, by name."""
    listed = all_items(
        sagemaker.list_pipeline_parameters_for_execution, "PipelineParameters", PipelineExecutionArn=execution_arn
    )
    return {item["Name"]: item["Value"] for item in listed}
