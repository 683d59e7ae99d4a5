"""The commit pipeline: a push tests, synthesizes and deploys the platform stage by stage, then starts training."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.cicd_builds import CLOUD_ASSEMBLY, CicdBuilds, acknowledge_artifact_access
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


def variables(**values: str) -> dict[str, codebuild.BuildEnvironmentVariable]:
    """Plain environment variables of a CodeBuild action."""
    return {name: codebuild.BuildEnvironmentVariable(value=value) for name, value in values.items()}


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
        checkout, assembly = codepipeline.Artifact("Source"), codepipeline.Artifact(CLOUD_ASSEMBLY)
        self.pipeline = codepipeline.Pipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            pipeline_type=codepipeline.PipelineType.V2,
            artifact_bucket=artifacts_bucket,
            restart_execution_on_update=True,
        )
        self.pipeline.add_stage(stage_name="Source", actions=[source.action(checkout, on_change=True)])
        self.pipeline.add_stage(
            stage_name="Build",
            actions=[
                actions.CodeBuildAction(action_name="Test", project=builds.test, input=checkout),
                actions.CodeBuildAction(action_name="Synth", project=builds.synth, input=checkout, outputs=[assembly]),
            ],
        )

        def deploy(action_name: str, stacks: tuple[str, ...]) -> actions.CodeBuildAction:
            return actions.CodeBuildAction(
                action_name=action_name,
                project=builds.deploy,
                input=checkout,
                extra_inputs=[assembly],
                environment_variables=variables(STACKS=" ".join(stacks), CDK_ARGUMENTS=""),
            )

        self.pipeline.add_stage(stage_name="UpdatePipeline", actions=[deploy("SelfMutate", (self_stack,))])
        commit = {"SOURCE_COMMIT": source.commit} if source.commit else {}
        for deployment in deployments:
            stage_actions = [deploy("Deploy", deployment.stacks)]
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
        acknowledge_artifact_access(self.pipeline, artifacts_bucket)
        source.start_on_upload(self.pipeline)
