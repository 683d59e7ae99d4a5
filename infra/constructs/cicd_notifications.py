"""The CI/CD topic: who is told that a model waits for approval, was rejected, or that a pipeline run failed."""

from __future__ import annotations

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.constructs.approval_events import REJECTED, approval_pattern, as_event_pattern


class CicdNotifications(Construct):
    """An SNS topic named `topic_name` (KMS-encrypted with `encryption_key`, SSL only) with an e-mail subscription
    per address of `emails`. The deploy pipeline's manual approvals announce themselves on it; `notify_rejections`
    and `notify_failures` add what else it says."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic_name: str,
        encryption_key: kms.IKey,
        emails: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", topic_name=topic_name, master_key=encryption_key, enforce_ssl=True)
        for address in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        # EventBridge publishes to the encrypted topic with the key: the key policy must let it.
        encryption_key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")

    def notify_rejections(self, group: str) -> None:
        """Say so when a package of `group` is rejected (nothing is deployed)."""
        arn = events.EventField.from_path("$.detail.ModelPackageArn")
        events.Rule(
            self,
            "Rejected",
            description=f"Tell the topic when a package of {group} is rejected",
            event_pattern=as_event_pattern(approval_pattern(group, REJECTED)),
            targets=[
                targets.SnsTopic(
                    self.topic,
                    message=events.RuleTargetInput.from_text(
                        f"Model package {arn} was rejected in the Model Registry; nothing was deployed. The package's "
                        "evaluation and the approver's note are on the package (SageMaker Studio, Model Registry)."
                    ),
                )
            ],
        )

    def notify_failures(self, pipelines: list[codepipeline.IPipeline]) -> None:
        """Say so when a run of one of `pipelines` fails, with where to look."""
        name = events.EventField.from_path("$.detail.pipeline")
        execution = events.EventField.from_path("$.detail.execution-id")
        region = events.EventField.from_path("$.region")
        events.Rule(
            self,
            "Failed",
            description="Tell the topic when a CI/CD pipeline run fails",
            event_pattern=events.EventPattern(
                source=["aws.codepipeline"],
                detail_type=["CodePipeline Pipeline Execution State Change"],
                detail={"pipeline": [p.pipeline_name for p in pipelines], "state": ["FAILED"]},
            ),
            targets=[
                targets.SnsTopic(
                    self.topic,
                    message=events.RuleTargetInput.from_text(
                        f"CI/CD pipeline {name} failed (execution {execution}): see the failed action's logs at "
                        f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{name}/executions/"
                        f"{execution}/timeline"
                    ),
                )
            ],
        )
