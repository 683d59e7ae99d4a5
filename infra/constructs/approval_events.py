"""The Model Registry's approval events: which ones the deploy pipeline acts on."""

from __future__ import annotations

PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
APPROVED = "Approved"
REJECTED = "Rejected"


def approval_pattern(group: str, *statuses: str) -> dict:
    """State changes of `group`'s packages to one of `statuses`. The event also fires on registration
    (PendingManualApproval), which must never deploy."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [group], "ModelApprovalStatus": list(statuses)},
    }
