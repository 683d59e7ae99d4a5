"""Batch scoring as infrastructure: the pipeline of blueprint/pipeline/batch_definition.py, its roles and schedule."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.naming import BATCH_SCORING_PREFIX, CURATED_DATA, PREDICTIONS, curated_prefix
from blueprint.pipeline.settings import BatchScoringSettings
from infra.constructs.released_models import ReleasedModels
from infra.constructs.sagemaker_pipeline import code_assets, code_locations, pipeline_arn, pipeline_resource, start_rule
from infra.constructs.sagemaker_roles import grant_job_essentials, grant_read_code, pipeline_role
from infra.nag import acknowledge
from ml_code.contracts.contract import DatasetContract


class BatchScoring(Construct):
    """Runs `definition` (blueprint/pipeline/batch_definition.py, for `settings`), which scores the contract's curated
    data (or any prefix given as `InputDataUri`) with the group's newest Approved model, into
    `predictions/<contract>/<execution>/` of the curated bucket.

    The jobs' role reads the curated data, the released `models` and its own prefix of the artifacts bucket,
    writes predictions, and reads the released group's packages; the pipeline's role starts, watches and stops
    processing jobs. `schedule` (an EventBridge expression; default: none) starts a run periodically."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: BatchScoringSettings,
        models: ReleasedModels,
        contract: DatasetContract,
        definition: dict,
        images: dict[str, dict[str, str]],
        curated_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        schedule: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        sagemaker = iam.ServicePrincipal("sagemaker.amazonaws.com")
        sourcedir, bootstrap = code_assets(self)

        job = iam.Role(self, "JobRole", assumed_by=sagemaker, description="SageMaker batch-scoring jobs")
        curated_data = curated_bucket.arn_for_objects(f"{curated_prefix(CURATED_DATA, contract.name)}*")
        predictions = curated_bucket.arn_for_objects(f"{curated_prefix(PREDICTIONS, contract.name)}*")
        own_artifacts = artifacts_bucket.arn_for_objects(f"{BATCH_SCORING_PREFIX}/*")
        if settings.model_package_group_name != models.group_reference:
            raise ValueError(
                f"batch scoring reads {settings.model_package_group_name!r}, but the released models are in "
                f"{models.group_reference!r}"
            )
        job.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=list(
                    dict.fromkeys((curated_bucket.bucket_arn, artifacts_bucket.bucket_arn, models.bucket.bucket_arn))
                ),
            )
        )
        job.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[curated_data]))
        model_data = models.grant_read(job)
        job.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[predictions]))
        job.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[own_artifacts]))
        job.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[models.package_arns])
        )
        # ListModelPackages names no resource of its type in the request: only `*` matches it (see ModelBuildRoles)
        job.add_to_policy(iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]))
        grant_read_code(job, [sourcedir, bootstrap])
        grant_job_essentials(job, encryption_key, ("ProcessingJobs",))
        acknowledge(
            job,
            "AwsSolutions-IAM5",
            "Batch scoring reads the dataset's curated prefix and the release stage's trained models (named per "
            "execution; another stage's key is known by its alias only), writes predictions under the dataset's "
            "prefix, and keeps step outputs under its own prefix; it describes the versions of the released models' "
            "model package group.",
            curated_data,
            *model_data,
            predictions,
            own_artifacts,
            models.package_arns,
        )

        role = pipeline_role(
            self,
            "PipelineRole",
            description="SageMaker Pipeline of batch scoring",
            job_kinds=("processing",),
            job_roles=[job],
            property_files=own_artifacts,  # the ApprovedModel property file gives the scoring job its model
            encryption_key=encryption_key,
        )

        self.pipeline_name = settings.pipeline_name
        self.pipeline = pipeline_resource(
            self,
            "Pipeline",
            pipeline_name=settings.pipeline_name,
            description=f"Score {contract.name} data with the newest Approved model",
            role=role,
            definition=definition,
            values={
                "ArtifactsBucket": artifacts_bucket.bucket_name,
                "CuratedBucket": curated_bucket.bucket_name,
                "JobRoleArn": job.role_arn,
                "KmsKeyArn": encryption_key.key_arn,
                **code_locations(sourcedir, bootstrap),
            },
            images=images,
        )
        self.pipeline.node.add_dependency(job, role)
        if schedule is not None:
            start_rule(
                self,
                "Schedule",
                pipeline_arn=pipeline_arn(self, settings.pipeline_name),
                description=f"Score {contract.name} data with the newest Approved model on {schedule}",
                schedule_expression=schedule,
            )
