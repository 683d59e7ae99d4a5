"""The CI/CD topic: who is told that a model waits for approval, was rejected, or that a pipeline run failed."""

from __future__ import annotations

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events

from infra.constructs.approval_events import REJECTED, approval_pattern
from infra.constructs.event_forwarding import as_event_pattern
from infra.constructs.notification_topic import NotificationTopic


class CicdNotifications(NotificationTopic):
    """The CI/CD topic (see NotificationTopic). The deploy pipeline's manual approvals announce themselves on it;
    `notify_rejections` and `notify_failures` add what else it says."""

    def notify_rejections(self, group: str) -> None:
        """Say so when a package of `group` is rejected (nothing is deployed)."""
        arn = events.EventField.from_path("$.detail.ModelPackageArn")
        self.tell_on(
            "Rejected",
            description=f"Tell the topic when a package of {group} is rejected",
            pattern=as_event_pattern(approval_pattern(group, REJECTED)),
            message=(
                f"Model package {arn} was rejected in the Model Registry; nothing was deployed. The package's "
                "evaluation and the approver's note are on the package (SageMaker Studio, Model Registry)."
            ),
        )

    def notify_failures(self, pipelines: list[codepipeline.IPipeline]) -> None:
        """Say so when a run of one of `pipelines` fails, with where to look."""
        name = events.EventField.from_path("$.detail.pipeline")
        execution = events.EventField.from_path("$.detail.execution-id")
        region = events.EventField.from_path("$.region")
        self.tell_on(
            "Failed",
            description="Tell the topic when a CI/CD pipeline run fails",
            pattern=events.EventPattern(
                source=["aws.codepipeline"],
                detail_type=["CodePipeline Pipeline Execution State Change"],
                detail={"pipeline": [p.pipeline_name for p in pipelines], "state": ["FAILED"]},
            ),
            message=(
                f"CI/CD pipeline {name} failed (execution {execution}): see the failed action's logs at "
                f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{name}/executions/"
                f"{execution}/timeline"
            ),
        )
