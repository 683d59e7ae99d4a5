"""An endpoint's monitoring as infrastructure: the pipeline of blueprint/pipeline/monitoring_definition.py, its roles
and its schedule. Our own jobs in the framework image: SageMaker Model Monitor is closed to new customers."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.naming import MONITORING_REPORTS
from blueprint.pipeline.settings import MonitoringSettings
from infra.constructs.released_models import ReleasedModels
from infra.constructs.sagemaker_pipeline import code_assets, code_locations, pipeline_arn, pipeline_resource, start_rule
from infra.constructs.sagemaker_roles import grant_job_essentials, grant_read_code, pipeline_role
from infra.nag import acknowledge
from ml_code.paths import DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX


class MonitoringPipeline(Construct):
    """Runs `definition` (for `settings`) on `schedule`, each run over the endpoint's last `settings.window_hours` of
    captured traffic, against the baselines of the package it serves (one of the released `models`), into
    `monitoring-reports/<endpoint>/<execution>/` of `monitoring_bucket`.

    Two job roles: the finder (first step) describes the endpoint, its config and model (named `<deployed_prefix>-*`)
    and the released package, lists the endpoint's capture and ground truth, and writes the run's `served/` files;
    the monitor (network-isolated) reads those files, the capture and ground truth, and the package's baselines (with
    `fairness`, its model and explainability report too), and writes the run's reports. The pipeline's role runs
    their processing jobs and reads `served.json`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: MonitoringSettings,
        definition: dict,
        images: dict[str, dict[str, str]],
        models: ReleasedModels,
        monitoring_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        deployed_prefix: str,
        schedule: str,
        fairness: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        endpoint = settings.endpoint_name
        sagemaker = iam.ServicePrincipal("sagemaker.amazonaws.com")
        sourcedir, bootstrap = code_assets(self)
        runs = monitoring_bucket.arn_for_objects(f"{MONITORING_REPORTS}/{endpoint}/*")
        served = monitoring_bucket.arn_for_objects(f"{MONITORING_REPORTS}/{endpoint}/*/served/*")
        captured = monitoring_bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/{endpoint}/*")
        truth = monitoring_bucket.arn_for_objects(f"{GROUND_TRUTH_PREFIX}/{endpoint}/*")

        finder = iam.Role(self, "FinderRole", assumed_by=sagemaker, description=f"Finds what {endpoint}'s runs read")
        finder.add_to_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint"],
                resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint.lower())],
            )
        )
        deployed = {
            kind: stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{deployed_prefix.lower()}-*")
            for kind in ("endpoint-config", "model")
        }
        finder.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpointConfig"], resources=[deployed["endpoint-config"]])
        )
        finder.add_to_policy(iam.PolicyStatement(actions=["sagemaker:DescribeModel"], resources=[deployed["model"]]))
        finder.add_to_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[models.package_arns])
        )
        finder.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[monitoring_bucket.bucket_arn],
                conditions={
                    "StringLike": {
                        "s3:prefix": [f"{DATA_CAPTURE_PREFIX}/{endpoint}/*", f"{GROUND_TRUTH_PREFIX}/{endpoint}/*"]
                    }
                },
            )
        )
        finder.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[served]))
        grant_read_code(finder, [sourcedir, bootstrap])
        grant_job_essentials(finder, encryption_key, ("ProcessingJobs",))
        acknowledge(
            finder,
            "AwsSolutions-IAM5",
            "The finder describes the endpoint's configs and models (named per deployment), the released group's "
            "packages (by version), and writes the run's served-model files (per execution).",
            deployed["endpoint-config"],
            deployed["model"],
            models.package_arns,
            served,
        )

        job = iam.Role(self, "JobRole", assumed_by=sagemaker, description=f"Monitoring jobs of {endpoint}")
        job.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[captured, truth, served]))
        job.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[runs]))
        baselines = models.grant_read_baselines(job)
        if fairness:  # the served model (SHAP, the bias metrics) and its explainability report
            baselines += models.grant_read(job) + models.grant_read_explainability_baselines(job)
        grant_read_code(job, [sourcedir, bootstrap])
        grant_job_essentials(job, encryption_key, ("ProcessingJobs",))
        acknowledge(
            job,
            "AwsSolutions-IAM5",
            "The monitor reads the endpoint's captured traffic and ground truth (filed by hour), its run's files and "
            "the released models' baselines and models (per execution), and writes its reports under the endpoint's "
            "prefix.",
            captured,
            truth,
            served,
            runs,
            *baselines,
        )

        role = pipeline_role(
            self,
            "PipelineRole",
            description=f"SageMaker Pipeline monitoring {endpoint}",
            job_kinds=("processing",),
            job_roles=[finder, job],
            property_files=served,  # served.json gives the monitor its window and baselines
            encryption_key=encryption_key,
        )
        self.pipeline_name = settings.pipeline_name
        self.pipeline = pipeline_resource(
            self,
            "Pipeline",
            pipeline_name=settings.pipeline_name,
            description=f"Monitor {endpoint}'s captured traffic with the platform's own jobs",
            role=role,
            definition=definition,
            values={
                "MonitoringBucket": monitoring_bucket.bucket_name,
                "JobRoleArn": job.role_arn,
                "FinderRoleArn": finder.role_arn,
                "KmsKeyArn": encryption_key.key_arn,
                **code_locations(sourcedir, bootstrap),
            },
            images=images,
        )
        self.pipeline.node.add_dependency(job, finder, role)
        self.schedule = start_rule(
            self,
            "Schedule",
            pipeline_arn=pipeline_arn(self, settings.pipeline_name),
            description=f"Monitor {endpoint}'s last {settings.window_hours} hour(s) of traffic on {schedule}",
            schedule_expression=schedule,
            parameters={"EndpointName": endpoint, "WindowHours": str(settings.window_hours)},
        )
        self.schedule.node.add_dependency(self.pipeline)
