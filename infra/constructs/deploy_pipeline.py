"""The deploy pipeline: an approval in the Model Registry serves the package in each serving stage in turn, each
deployment smoke-tested, a person approving every promotion to the next stage."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from blueprint.naming import MODEL_PACKAGE_PARAMETER
from infra.constructs.approval_events import APPROVED, approval_pattern
from infra.constructs.cicd_actions import deploy_action, new_pipeline, variables
from infra.constructs.cicd_builds import CLOUD_ASSEMBLY, RELEASE_ARTIFACT, CicdBuilds
from infra.constructs.event_forwarding import as_event_pattern
from infra.constructs.pipeline_source import PipelineSource

RELEASE_NAMESPACE = "Release"
PACKAGE_VARIABLE = f"#{{{RELEASE_NAMESPACE}.MODEL_PACKAGE_ARN}}"


@dataclass(frozen=True)
class ServingDeployment:
    """One serving stage: its ServingStack's construct id, its endpoint, and the smoke-test role there."""

    stage: str
    stack: str
    endpoint: str
    smoke_test_role_arn: str
    region: str


class DeployPipeline(Construct):
    """A CodePipeline (V2) named `pipeline_name`, started only by an approval (`Approved`, never a registration or
    a rejection) of a package of the release group (`release_group`, through `release_role_arn` in
    `release_region`).

    It synthesizes the repository's head, finds the group's newest Approved package (at run time), then, for each
    of `stages` in order: deploys its ServingStack with that package, smoke-tests the endpoint with the package's
    sample payload (`contract`'s problem type, median latency at most `max_latency_ms`), and, before the next
    stage, waits for a person's approval, announced on `topic`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        source: PipelineSource,
        builds: CicdBuilds,
        artifacts_bucket: s3.IBucket,
        release_group: str,
        release_role_arn: str,
        release_region: str,
        stages: list[ServingDeployment],
        contract: str,
        max_latency_ms: int,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        if not stages:
            raise ValueError("the deploy pipeline needs at least one serving stage")
        self.pipeline, checkout = new_pipeline(
            self, pipeline_name=pipeline_name, source=source, on_change=False, artifacts_bucket=artifacts_bucket
        )
        assembly = codepipeline.Artifact(CLOUD_ASSEMBLY)
        release = codepipeline.Artifact(RELEASE_ARTIFACT)
        self.pipeline.add_stage(
            stage_name="Prepare",
            actions=[
                actions.CodeBuildAction(action_name="Synth", project=builds.synth, input=checkout, outputs=[assembly]),
                actions.CodeBuildAction(
                    action_name="FindRelease",
                    project=builds.release,
                    input=checkout,
                    outputs=[release],
                    variables_namespace=RELEASE_NAMESPACE,
                    environment_variables=variables(
                        GROUP=release_group, STAGE_ROLE_ARN=release_role_arn, STAGE_REGION=release_region
                    ),
                ),
            ],
        )
        for index, stage in enumerate(stages):
            if index > 0:
                self.pipeline.add_stage(
                    stage_name=f"Approve-{stage.stage}",
                    actions=[
                        actions.ManualApprovalAction(
                            action_name="Approve",
                            notification_topic=topic,
                            additional_information=(
                                f"Serve {PACKAGE_VARIABLE} in {stage.stage}? It passed its smoke test in "
                                f"{stages[index - 1].stage} ({stages[index - 1].endpoint})."
                            ),
                        )
                    ],
                )
            self.pipeline.add_stage(
                stage_name=f"Deploy-{stage.stage}",
                actions=[
                    deploy_action(
                        builds,
                        checkout,
                        assembly,
                        (stage.stack,),
                        cdk_arguments=f"--parameters {MODEL_PACKAGE_PARAMETER}={PACKAGE_VARIABLE}",
                    ),
                    actions.CodeBuildAction(
                        action_name="SmokeTest",
                        project=builds.smoke_test,
                        input=checkout,
                        extra_inputs=[release],
                        run_order=2,
                        environment_variables=variables(
                            ENDPOINT=stage.endpoint,
                            CONTRACT=contract,
                            MAX_LATENCY_MS=str(max_latency_ms),
                            STAGE_ROLE_ARN=stage.smoke_test_role_arn,
                            STAGE_REGION=stage.region,
                        ),
                    ),
                ],
            )
        self.approval_rule = events.Rule(
            self,
            "StartOnApproval",
            description=f"Deploy when a package of {release_group} is approved (never on registration or rejection)",
            event_pattern=as_event_pattern(approval_pattern(release_group, APPROVED)),
            targets=[targets.CodePipeline(self.pipeline)],
        )
