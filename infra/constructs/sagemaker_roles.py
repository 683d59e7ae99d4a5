"""The roles of the model build: the pipeline's (starts jobs, registers models) and one per kind of job."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from blueprint.naming import CURATED_DATA, MODEL_BUILD_PREFIX, curated_prefix
from blueprint.pipeline.settings import FAIRNESS_STEP_FOLDERS as STEP_FOLDERS
from infra.nag import acknowledge

# the execution folders the fairness steps write
FAIRNESS_FOLDERS = tuple(STEP_FOLDERS.values())


class ModelBuildRoles(Construct):
    """One role per kind of job, each with what its steps need, all under the pipeline's own prefix of the
    artifacts bucket (`pipelines/<pipeline>/<execution>/<step>/`), and none may delete:

    - `job_role`, the network-isolated processing jobs (preprocess, baseline, evaluate, and with `fairness` the
      bias and explainability jobs): reads the dataset's curated prefix and the pipeline's artifacts, writes only
      the `preprocess/`, `baseline/` and `evaluate/` outputs (and the fairness steps' folders);
    - `training_role`: reads the `preprocess/` outputs, writes `train/` (the model) and `checkpoints/`;
    - `champion_role`: reads the registry (its group's packages) and `evaluate/` reports, writes `champion/`.

    `pipeline_role`: what the pipeline service may do (start and watch the jobs, tuning jobs too with `tuning`,
    register packages in the group, pass the job roles). No AWS-managed policies."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline_name: str,
        contract_name: str,
        model_package_group_name: str,
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        code: list[s3_assets.Asset],
        tuning: bool = False,
        fairness: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        sagemaker = iam.ServicePrincipal("sagemaker.amazonaws.com")

        def arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        group_arn = arn("model-package-group", model_package_group_name)
        packages_arn = arn("model-package", f"{model_package_group_name}/*")
        # everything the executions write; SageMaker names the folder of each execution
        artifacts = artifacts_bucket.arn_for_objects(f"{MODEL_BUILD_PREFIX}/{pipeline_name}/*")

        def step_outputs(*steps: str) -> list[str]:
            return [
                artifacts_bucket.arn_for_objects(f"{MODEL_BUILD_PREFIX}/{pipeline_name}/*/{step}/*") for step in steps
            ]

        def job_role(construct_id: str, description: str, *, reads: list[str], writes: list[str]) -> iam.Role:
            role = iam.Role(self, construct_id, assumed_by=sagemaker, description=description)
            role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[artifacts_bucket.bucket_arn]))
            role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=reads))
            role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=writes))
            grant_read_code(role, code)  # the platform's code package and bootstrap
            acknowledge(
                role,
                "AwsSolutions-IAM5",
                "The job reads and writes under its pipeline's prefix, in the folder SageMaker names per execution "
                "and step (and reads the dataset's curated prefix, if it is the preprocessing role).",
                *dict.fromkeys((*reads, *writes)),
            )
            return role

        curated_data = curated_bucket.arn_for_objects(f"{curated_prefix(CURATED_DATA, contract_name)}*")
        self.job_role = job_role(
            "JobRole",
            "SageMaker model build processing jobs (network-isolated)",
            reads=[curated_data, artifacts],
            writes=step_outputs("preprocess", "baseline", "evaluate", *(FAIRNESS_FOLDERS if fairness else ())),
        )
        self.job_role.add_to_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[curated_bucket.bucket_arn])
        )
        grant_job_essentials(self.job_role, encryption_key, ("ProcessingJobs",))

        self.training_role = job_role(
            "TrainingRole",
            "SageMaker model build training jobs",
            reads=step_outputs("preprocess", "checkpoints"),
            writes=step_outputs("train", "checkpoints"),
        )
        grant_job_essentials(self.training_role, encryption_key, ("TrainingJobs",))

        self.champion_role = job_role(
            "ChampionRole",
            "SageMaker model build champion check (reads the Model Registry)",
            reads=step_outputs("evaluate"),
            writes=step_outputs("champion"),
        )
        grant_job_essentials(self.champion_role, encryption_key, ("ProcessingJobs",))
        # ListModelPackages names no resource of its type (model-package) in the request: only `*` matches it
        # (the service authorization reference; tests/infra/test_iam_resource_types.py checks every grant)
        self.champion_role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]))
        self.champion_role.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[packages_arn])
        )

        self.pipeline_role = pipeline_role(
            self,
            "PipelineRole",
            description="SageMaker Pipeline of the model build",
            job_kinds=("processing", "training", *(("hyper-parameter-tuning",) if tuning else ())),
            job_roles=[self.job_role, self.training_role, self.champion_role],
            property_files=artifacts,
            encryption_key=encryption_key,
        )
        self.pipeline_role.add_to_policy(
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
        acknowledge(
            self,
            "AwsSolutions-IAM5",
            "Packages of the group get version numbers at registration; only this group's are reachable.",
            packages_arn,
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


# SageMaker Pipelines names the jobs (and models) it creates `pipelines-<execution id>-<step>-<suffix>`: the
# platform's prefix cannot be in those names, but this one is.
PIPELINE_JOB_NAMES = "pipelines-*"


def pipeline_role(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    job_kinds: tuple[str, ...],
    job_roles: list[iam.IRole],
    property_files: str,
    encryption_key: kms.IKey,
) -> iam.Role:
    """A SageMaker Pipeline's role: it starts, watches, stops and tags the jobs of `job_kinds` (`processing`,
    `training`, `hyper-parameter-tuning`) that a pipeline names, passes them `job_roles` only, and reads its
    `property_files`."""
    stack = cdk.Stack.of(scope)
    role = iam.Role(
        scope, construct_id, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
    )
    jobs = []
    for kind in job_kinds:
        arn = stack.format_arn(service="sagemaker", resource=f"{kind}-job", resource_name=PIPELINE_JOB_NAMES)
        noun = "".join(part.capitalize() for part in kind.split("-"))  # hyper-parameter-tuning: HyperParameterTuning
        actions = [f"sagemaker:{verb}{noun}Job" for verb in ("Create", "Describe", "Stop")]
        if kind == "hyper-parameter-tuning":  # the pipeline finds the best trial among the tuning job's
            actions.append("sagemaker:ListTrainingJobsForHyperParameterTuningJob")
        role.add_to_policy(iam.PolicyStatement(actions=[*actions, "sagemaker:AddTags"], resources=[arn]))
        jobs.append(arn)
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[job_role.role_arn for job_role in job_roles],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    # the pipeline reads its property files (evaluation.json, the approved model, ...) to resolve its steps
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[property_files]))
    encryption_key.grant(role, "kms:Decrypt")
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "The pipeline names its jobs per execution; the actions are limited to starting, watching, stopping and "
        "tagging them, and it reads its property files under its own prefix.",
        *jobs,
        property_files,
    )
    return role


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
