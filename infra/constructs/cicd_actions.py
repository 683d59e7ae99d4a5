"""What both CI/CD pipelines are made of: a V2 pipeline on the shared source and artifacts, and `cdk deploy`."""

from __future__ import annotations

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.cicd_builds import CicdBuilds, acknowledge_artifact_access
from infra.constructs.pipeline_source import PipelineSource


def variables(**values: str) -> dict[str, codebuild.BuildEnvironmentVariable]:
    """Plain environment variables of a CodeBuild action."""
    return {name: codebuild.BuildEnvironmentVariable(value=value) for name, value in values.items()}


def new_pipeline(
    scope: Construct,
    *,
    pipeline_name: str,
    source: PipelineSource,
    on_change: bool,
    artifacts_bucket: s3.IBucket,
    restart_on_update: bool = False,
) -> tuple[codepipeline.Pipeline, codepipeline.Artifact]:
    """A CodePipeline (V2) `Pipeline` in `scope`, its artifacts in `artifacts_bucket`, whose first stage checks
    `source` out (a change starts it when `on_change`); returns it and the checkout."""
    checkout = codepipeline.Artifact("Source")
    pipeline = codepipeline.Pipeline(
        scope,
        "Pipeline",
        pipeline_name=pipeline_name,
        pipeline_type=codepipeline.PipelineType.V2,
        artifact_bucket=artifacts_bucket,
        restart_execution_on_update=restart_on_update or None,
    )
    pipeline.add_stage(stage_name="Source", actions=[source.action(pipeline, checkout, on_change=on_change)])
    acknowledge_artifact_access(pipeline, artifacts_bucket)
    return pipeline, checkout


def deploy_action(
    builds: CicdBuilds,
    checkout: codepipeline.Artifact,
    assembly: codepipeline.Artifact,
    stacks: tuple[str, ...],
    *,
    cdk_arguments: str = "",
    action_name: str = "Deploy",
) -> actions.CodeBuildAction:
    """`cdk deploy --exclusively <stacks> <cdk_arguments>` from the synthesized `assembly`."""
    return actions.CodeBuildAction(
        action_name=action_name,
        project=builds.deploy,
        input=checkout,
        extra_inputs=[assembly],
        environment_variables=variables(STACKS=" ".join(stacks), CDK_ARGUMENTS=cdk_arguments),
    )
