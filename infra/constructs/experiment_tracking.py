"""The stage's experiment tracking: a SageMaker AI MLflow tracking server, the build that logs each ended execution
of the stage's pipelines to it, and the policy that lets people read the runs.

The pipelines' jobs are network-isolated and cannot log; the build can. It runs `python -m tracking` (the code
local mode logs with, packaged by blueprint/packages.py with its lock) when an execution ends, reads the execution's
reports and logs them to the server. The server keeps the runs' artifacts in the artifacts bucket under `mlflow/`,
encrypted with the stage's key, written by the build's role: no AmazonS3FullAccess, only that prefix.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from blueprint.packages import ROOT, TRACKING_LOCK, tracking_zip
from infra.constructs.cicd_builds import IMAGE, acknowledge_project_grants
from infra.constructs.python_function import LOG_RETENTION
from infra.nag import acknowledge, acknowledge_actions
from tracking import KINDS, MODEL_BUILD

ARTIFACTS_PREFIX = "mlflow"  # the runs' artifacts in the artifacts bucket
ENDED = ["Succeeded", "Failed", "Stopped"]  # the execution statuses a run is logged at
PYTHON = "3.11"  # the build image's runtime the lock is resolved for (make lock: the CDK app's Python)
# What the build calls on the server (MLflow's REST API behind each client call: experiments, runs, batches).
LOGGING_ACTIONS = (
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:UpdateRun",
)
# How a reader opens the server's UI (a presigned URL, as SageMaker Studio's MLflow page does)
OPENING_ACTIONS = ("sagemaker:CreatePresignedMlflowTrackingServerUrl", "sagemaker:DescribeMlflowTrackingServer")
# What a reader does in MLflow's UI and client: open it, find and compare runs, read their artifacts.
READING_ACTIONS = (
    "sagemaker-mlflow:AccessUI",
    "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:SearchExperiments",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:GetMetricHistory",
    "sagemaker-mlflow:ListArtifacts",
)


class ExperimentTracking(Construct):
    """An MLflow tracking server named `server_name`, of `server_size` (artifacts under `mlflow/` of
    `artifacts_bucket`, with `encryption_key`), the `LogRuns` build that logs executions to it (`log_executions_of`
    says which), and `readers`, a managed policy named `readers_policy_name` for the people who compare runs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        server_name: str,
        server_size: str,
        readers_policy_name: str,
        artifacts_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        artifacts = f"{ARTIFACTS_PREFIX}/*"
        server_role = iam.Role(
            self,
            "ServerRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"The MLflow tracking server {server_name}: its artifact store, s3://.../{ARTIFACTS_PREFIX}/",
        )
        artifacts_bucket.grant_read_write(server_role, artifacts)
        encryption_key.grant_encrypt_decrypt(server_role)
        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=server_name,
            artifact_store_uri=f"s3://{artifacts_bucket.bucket_name}/{ARTIFACTS_PREFIX}",
            role_arn=server_role.role_arn,
            tracking_server_size=server_size,
            automatic_model_registration=False,  # the registry is the pipeline's, with its gate
        )
        self.server.node.add_dependency(server_role)
        self.server_arn = self.server.attr_tracking_server_arn

        source = s3_assets.Asset(self, "Code", path=str(tracking_zip()))
        log_group = logs.LogGroup(
            self, "Logs", encryption_key=encryption_key, retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.build = codebuild.Project(
            self,
            "LogRuns",
            description=f"Log an ended pipeline execution to the MLflow tracking server {server_name}",
            source=codebuild.Source.s3(bucket=source.bucket, path=source.s3_object_key),
            build_spec=codebuild.BuildSpec.from_object(
                {
                    "version": "0.2",
                    "env": {"shell": "bash"},
                    "phases": {
                        "install": {
                            "runtime-versions": {"python": PYTHON},
                            "commands": [f"pip install --quiet --require-hashes -r {TRACKING_LOCK.relative_to(ROOT)}"],
                        },
                        "build": {
                            "commands": [
                                'python -m tracking --execution-arn "$EXECUTION_ARN" --reports "$REPORTS" '
                                '--kind "$KIND" --tracking-uri "$TRACKING_SERVER_ARN"'
                            ]
                        },
                    },
                }
            ),
            environment=codebuild.BuildEnvironment(build_image=IMAGE, compute_type=codebuild.ComputeType.SMALL),
            environment_variables={
                "TRACKING_SERVER_ARN": codebuild.BuildEnvironmentVariable(value=self.server_arn),
                "MLFLOW_DISABLE_TELEMETRY": codebuild.BuildEnvironmentVariable(value="true"),
            },
            encryption_key=encryption_key,
            timeout=cdk.Duration.minutes(30),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=log_group)),
        )
        role = self.build.role
        role.add_to_principal_policy(iam.PolicyStatement(actions=list(LOGGING_ACTIONS), resources=[self.server_arn]))
        artifacts_bucket.grant_put(role, artifacts)  # MLflow's client writes a run's artifacts to S3 itself
        encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")  # the reports; the artifacts
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The logging build writes each run's report files under the tracking server's artifact prefix, one "
            "folder per run (MLflow names them).",
            artifacts_bucket.arn_for_objects(artifacts),
        )
        acknowledge_project_grants(self.build, "its logs go to its own encrypted log group; it makes no report")
        acknowledge_actions(
            role,
            "AwsSolutions-IAM5",
            "CDK's grants on the build's source (its code asset), the artifact prefix and the build's own key "
            "(CodeBuild encrypts its artifacts and logs with the stage's key); nothing else.",
            "s3:GetObject*",
            "s3:GetBucket*",
            "s3:List*",
            "s3:Abort*",
            "kms:GenerateDataKey*",
            "kms:ReEncrypt*",
        )
        acknowledge_actions(
            server_role,
            "AwsSolutions-IAM5",
            "The tracking server reads and writes its artifact store, the artifacts bucket's mlflow/ prefix.",
            "s3:GetObject*",
            "s3:GetBucket*",
            "s3:List*",
            "s3:DeleteObject*",
            "s3:Abort*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
        )
        acknowledge(
            server_role,
            "AwsSolutions-IAM5",
            "The tracking server keeps each run's artifacts in a folder of its own under its prefix.",
            artifacts_bucket.arn_for_objects(artifacts),
        )

        self.readers = iam.ManagedPolicy(
            self,
            "Readers",
            managed_policy_name=readers_policy_name,
            description=f"Compare the runs of the MLflow tracking server {server_name}: open its UI, read runs",
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:CreatePresignedMlflowTrackingServerUrl",
                        "sagemaker:DescribeMlflowTrackingServer",
                    ],
                    resources=[self.server_arn],
                ),
                iam.PolicyStatement(actions=list(READING_ACTIONS), resources=[self.server_arn]),
            ],
        )
        artifacts_bucket.grant_read(self.readers, artifacts)
        encryption_key.grant_decrypt(self.readers)
        acknowledge(
            self.readers,
            "AwsSolutions-IAM5",
            "Readers download the report files of any run: they are under the tracking server's artifact prefix.",
            artifacts_bucket.arn_for_objects(artifacts),
        )
        acknowledge_actions(
            self.readers,
            "AwsSolutions-IAM5",
            "Readers read the tracking server's artifact prefix (CDK's read grant).",
            "s3:GetObject*",
            "s3:GetBucket*",
            "s3:List*",
        )

    def log_executions_of(self, construct_id: str, *, pipeline_arn: str, reports: s3.IBucket, prefix: str, kind: str):
        """Log every ended execution of the pipeline `pipeline_arn`, whose steps write under `prefix` of `reports`
        (`<prefix>/<execution id>/...`); `kind` says what the pipeline does (tracking.KINDS)."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of pipeline {kind!r}: one of {', '.join(KINDS)}")
        role = self.build.role
        reports.grant_read(role, f"{prefix}/*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:DescribePipelineExecution",
                    "sagemaker:ListPipelineExecutionSteps",
                    "sagemaker:ListPipelineParametersForExecution",
                ],
                resources=[f"{pipeline_arn}/execution/*"],
            )
        )
        if kind == MODEL_BUILD:  # its tuning step's trials
            tuning_jobs = cdk.Stack.of(self).format_arn(
                service="sagemaker", resource="hyper-parameter-tuning-job", resource_name="*"
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:ListTrainingJobsForHyperParameterTuningJob"], resources=[tuning_jobs]
                )
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5",
                "The trials of the execution's tuning step: SageMaker names the tuning job when the step starts.",
                tuning_jobs,
            )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The logging build reads the ended execution it is started for (its id is known when it runs) and the "
            "reports its steps wrote, one folder per execution.",
            f"{pipeline_arn}/execution/*",
            reports.arn_for_objects(f"{prefix}/*"),
        )
        rule = events.Rule(
            self,
            construct_id,
            description=f"Log each ended execution of {pipeline_arn} to MLflow",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                detail={"pipelineArn": [pipeline_arn], "currentPipelineExecutionStatus": ENDED},
            ),
        )
        overrides = {
            "EXECUTION_ARN": events.EventField.from_path("$.detail.pipelineExecutionArn"),
            "REPORTS": f"s3://{reports.bucket_name}/{prefix}",
            "KIND": kind,
        }
        rule.add_target(
            targets.CodeBuildProject(
                self.build,
                event=events.RuleTargetInput.from_object(
                    {
                        "environmentVariablesOverride": [
                            {"name": name, "value": value, "type": "PLAINTEXT"} for name, value in overrides.items()
                        ]
                    }
                ),
            )
        )
        return rule
