"""What a stage's topic hears besides its alarms: failed ETL runs, failed model builds, models waiting for approval."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.approval_events import approval_pattern
from infra.constructs.event_forwarding import as_event_pattern
from infra.constructs.notification_topic import tell


class StageAlerts(Construct):
    """EventBridge rules that tell `topic`, with where to look: a run of the Glue job `glue_job_name` that failed,
    timed out or erred; a run of the model build `pipeline_arn` that failed (the quality gate's FailStep
    included); a package of `model_package_group` registered and waiting for approval."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        glue_job_name: str,
        pipeline_arn: str,
        model_package_group: str,
    ) -> None:
        super().__init__(scope, construct_id)
        field = events.EventField.from_path
        self.rules = [
            tell(
                self,
                "EtlFailed",
                topic,
                description=f"Tell the topic when a run of {glue_job_name} fails",
                pattern=events.EventPattern(
                    source=["aws.glue"],
                    detail_type=["Glue Job State Change"],
                    detail={"jobName": [glue_job_name], "state": ["FAILED", "TIMEOUT", "ERROR"]},
                ),
                message=(
                    f"ETL run {field('$.detail.jobRunId')} of {glue_job_name} ended {field('$.detail.state')}. See "
                    "the job run's error and logs in the Glue console (the message is not repeated here: it may quote "
                    "data); raw files it did not finish are retried by the next run."
                ),
            ),
            tell(
                self,
                "ModelBuildFailed",
                topic,
                description="Tell the topic when a model build run fails (the quality gate's FailStep included)",
                pattern=events.EventPattern(
                    source=["aws.sagemaker"],
                    detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                    detail={"pipelineArn": [pipeline_arn], "currentPipelineExecutionStatus": ["Failed"]},
                ),
                message=(
                    f"Model build run {field('$.detail.pipelineExecutionArn')} failed: a step failed, or the quality "
                    "gate (GateFailed) kept the model out of the registry; its FailureReason says which. See the "
                    "execution in SageMaker Studio (Pipelines)."
                ),
            ),
            tell(
                self,
                "ModelWaiting",
                topic,
                description=f"Tell the topic when a package of {model_package_group} waits for approval",
                pattern=as_event_pattern(approval_pattern(model_package_group, "PendingManualApproval")),
                message=(
                    f"Model package {field('$.detail.ModelPackageArn')} passed the quality gate and waits for "
                    "approval: review its evaluation in SageMaker Studio's Model Registry, then approve or reject it."
                ),
            ),
        ]
