"""The two roles of the model build: the pipeline's (starts jobs, registers models) and the jobs' (does the work)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from infra.nag import acknowledge
from infra.naming import CURATED_DATA, MODEL_BUILD_PREFIX, curated_prefix


class ModelBuildRoles(Construct):
    """`job_role`: what processing and training jobs may touch (the dataset's curated prefix, the model build's
    prefix of the artifacts bucket, its code objects, the key, its logs, and read access to its model package
    group for the champion). `pipeline_role`: what the pipeline service may do (start and watch those jobs,
    register packages in the group, pass `job_role`). No AWS-managed policies."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        contract_name: str,
        model_package_group_name: str,
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        code: list[s3_assets.Asset],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        sagemaker = iam.ServicePrincipal("sagemaker.amazonaws.com")

        def arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        group_arn = arn("model-package-group", model_package_group_name)
        packages_arn = arn("model-package", f"{model_package_group_name}/*")
        artifacts = artifacts_bucket.arn_for_objects(f"{MODEL_BUILD_PREFIX}/*")

        self.job_role = iam.Role(self, "JobRole", assumed_by=sagemaker, description="SageMaker model build jobs")
        job = self.job_role
        job.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[curated_bucket.bucket_arn, artifacts_bucket.bucket_arn]
            )
        )
        curated_data = curated_bucket.arn_for_objects(f"{curated_prefix(CURATED_DATA, contract_name)}*")
        job.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[curated_data]))
        job.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[artifacts])
        )
        grant_read_code(job, code)
        grant_job_essentials(job, encryption_key, ("ProcessingJobs", "TrainingJobs"))
        # ListModelPackages names no resource of its type (model-package) in the request: only `*` matches it
        # (the service authorization reference; tests/infra/test_iam_resource_types.py checks every grant)
        job.add_to_policy(iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]))
        acknowledge(
            job,
            "AwsSolutions-IAM5",
            "Jobs read the dataset's curated prefix and read and write the model build's artifacts prefix, whose "
            "keys SageMaker names per execution.",
            curated_data,
            artifacts,
        )

        job.add_to_policy(iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[packages_arn]))

        self.pipeline_role = iam.Role(
            self, "PipelineRole", assumed_by=sagemaker, description="SageMaker Pipeline of the model build"
        )
        pipeline = self.pipeline_role
        jobs = pipeline_job_grants(pipeline, ("processing", "training"))
        pipeline.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:AddTags",
                ],
                resources=[group_arn, packages_arn],
            )
        )
        pipeline.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[job.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # The pipeline reads its property files (evaluation.json, ...) to evaluate conditions.
        pipeline.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[artifacts]))
        encryption_key.grant(pipeline, "kms:Decrypt")
        acknowledge(
            self,
            "AwsSolutions-IAM5",
            "Packages of the group get version numbers at registration; only this group's are reachable.",
            packages_arn,
        )
        acknowledge(
            pipeline,
            "AwsSolutions-IAM5",
            "The pipeline names its processing and training jobs per execution; the actions are limited to "
            "starting, watching, stopping and tagging them, and it reads its property files.",
            *jobs,
            artifacts,
        )


def grant_read_code(role: iam.IRole, code: list[s3_assets.Asset]) -> None:
    """Read the code objects a job runs (the assets' exact keys)."""
    partition = cdk.Stack.of(role).partition
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject"],
            resources=[f"arn:{partition}:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}" for asset in code],
        )
    )


# SageMaker Pipelines names the jobs it starts `pipelines-<execution id>-<step>-<suffix>`: the platform's prefix
# cannot be in those names, but this one is.
PIPELINE_JOB_NAMES = "pipelines-*"


def pipeline_job_grants(role: iam.IRole, kinds: tuple[str, ...]) -> list[str]:
    """Let a pipeline's role start, watch, stop and tag the jobs of `kinds` (`processing`, `training`) that a
    pipeline names; the job ARNs granted."""
    stack = cdk.Stack.of(role)
    granted = []
    for kind in kinds:
        jobs = stack.format_arn(service="sagemaker", resource=f"{kind}-job", resource_name=PIPELINE_JOB_NAMES)
        noun = kind.capitalize()
        actions = [f"sagemaker:{verb}{noun}Job" for verb in ("Create", "Describe", "Stop")]
        role.add_to_principal_policy(iam.PolicyStatement(actions=[*actions, "sagemaker:AddTags"], resources=[jobs]))
        granted.append(jobs)
    return granted


def grant_job_essentials(role: iam.Role, encryption_key: kms.IKey, job_logs: tuple[str, ...]) -> None:
    """What every SageMaker job of the platform needs: the key (data and encrypted volumes), its log streams (in
    SageMaker's log groups `job_logs`: `ProcessingJobs`, `TrainingJobs`) and its metrics."""
    stack = cdk.Stack.of(role)
    encryption_key.grant(role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["kms:CreateGrant"],
            resources=[encryption_key.key_arn],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},  # encrypted job volumes
        )
    )
    groups = [
        stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/{group}",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        for group in job_logs
    ]
    streams = [f"{group}:*" for group in groups]
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[*groups, *streams],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        )
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "SageMaker names each job's log streams at run time, in its fixed log groups for processing and training.",
        *streams,
    )
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "Only actions whose requests name no resource ARN are granted on *: cloudwatch:PutMetricData (a condition "
        "limits it to SageMaker's namespaces) and, for jobs that read the registry, sagemaker:ListModelPackages "
        "(they describe only their own group's packages).",
        "*",
    )
