"""The commit pipeline: a push tests, synthesizes and deploys the platform stage by stage, then starts training."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.cicd_actions import deploy_action, new_pipeline, variables
from infra.constructs.cicd_builds import CLOUD_ASSEMBLY, CicdBuilds
from infra.constructs.pipeline_source import PipelineSource


@dataclass(frozen=True)
class StageDeployment:
    """What the commit pipeline deploys of one stage (`stacks`: construct ids, as `cdk deploy` selects them) and,
    for the release stage, the training it starts afterwards (`training_pipeline`, through `training_role_arn` in
    `region`)."""

    stage: str
    stacks: tuple[str, ...]
    training_pipeline: str | None = None
    training_role_arn: str | None = None
    region: str | None = None


class CommitPipeline(Construct):
    """A CodePipeline (V2) named `pipeline_name`: on a change of `source`, `make test` and `make synth` (in parallel;
    test reports kept, cdk-nag failing the synth), then it updates itself from the new assembly (`self_stack`; a
    changed pipeline restarts the run), deploys each of `deployments` in order, and after the release stage's
    deployment starts its training with `GitCommit` set to the commit."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        source: PipelineSource,
        builds: CicdBuilds,
        artifacts_bucket: s3.IBucket,
        self_stack: str,
        deployments: list[StageDeployment],
    ) -> None:
        super().__init__(scope, construct_id)
        self.pipeline, checkout = new_pipeline(
            self,
            pipeline_name=pipeline_name,
            source=source,
            on_change=True,
            artifacts_bucket=artifacts_bucket,
            restart_on_update=True,
        )
        assembly = codepipeline.Artifact(CLOUD_ASSEMBLY)
        self.pipeline.add_stage(
            stage_name="Build",
            actions=[
                actions.CodeBuildAction(action_name="Test", project=builds.test, input=checkout),
                actions.CodeBuildAction(action_name="Synth", project=builds.synth, input=checkout, outputs=[assembly]),
            ],
        )
        self.pipeline.add_stage(
            stage_name="UpdatePipeline",
            actions=[deploy_action(builds, checkout, assembly, (self_stack,), action_name="SelfMutate")],
        )
        commit = {"SOURCE_COMMIT": source.commit} if source.commit else {}
        for deployment in deployments:
            stage_actions = [deploy_action(builds, checkout, assembly, deployment.stacks)]
            if deployment.training_pipeline is not None:
                stage_actions.append(
                    actions.CodeBuildAction(
                        action_name="StartTraining",
                        project=builds.start_training,
                        input=checkout,
                        run_order=2,
                        environment_variables=variables(
                            PIPELINE=deployment.training_pipeline,
                            STAGE_ROLE_ARN=deployment.training_role_arn,
                            STAGE_REGION=deployment.region,
                            **commit,
                        ),
                    )
                )
            self.pipeline.add_stage(stage_name=f"Deploy-{deployment.stage}", actions=stage_actions)
        source.start_on_upload(self.pipeline)
