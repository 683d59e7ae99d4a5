"""The CodeBuild projects the CI/CD pipelines run: test, synth, deploy, start training, release, smoke test."""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.config import PlatformConfig
from blueprint.naming import cicd_name, cicd_role_name
from infra.constructs.cicd_access import RELEASE, SMOKE_TEST, START_TRAINING
from infra.constructs.pipeline_source import SOURCE_COMMIT_FILE
from infra.nag import acknowledge, acknowledge_actions

# What the builds run on: the image's Python for the CDK app (Makefile's .venv), its pyenv's 3.10 for .venv-ml (the
# container's Python), Node for the pinned CDK CLI, Java for Spark.
IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
RUNTIMES = {"python": "3.11", "nodejs": "22", "java": "corretto17"}  # standard:7.0 has Node.js 22 (LTS)
CLOUD_ASSEMBLY = "CloudAssembly"  # the synth's output artifact, and the deploy build's secondary input
RELEASE_ARTIFACT = "Release"  # the release build's output: package.json and payload.tar.gz
REPORTS_DIR = "reports"
LOG_RETENTION = logs.RetentionDays.SIX_MONTHS
# What CodePipeline and CodeBuild grant on a pipeline's artifacts (bucket and key) to the roles that pass them on.
ARTIFACT_ACTIONS = (
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)
# The release and smoke-test builds need boto3 only: boto3 and botocore as the CDK app's lock has them.
LOCKED_BOTO3 = "sed -n -E 's/^(boto3|botocore)==([^ ;]+).*/\\1==\\2/p' locks/platform.txt"
INSTALL_BOTO3 = f"pip install --quiet $({LOCKED_BOTO3})"


def acknowledge_artifact_access(scope: Construct, artifacts_bucket: s3.IBucket) -> None:
    """Acknowledge the grants CodePipeline and CodeBuild make on the pipelines' own artifacts to the roles in
    `scope` (the pipeline's, its actions', a build's)."""
    reason = (
        "CodePipeline and CodeBuild read and write the pipelines' artifacts (one object per run and action) in the "
        "CI/CD artifacts bucket, encrypted with the CI/CD key; nothing else."
    )
    acknowledge_actions(scope, "AwsSolutions-IAM5", reason, *ARTIFACT_ACTIONS)
    acknowledge(scope, "AwsSolutions-IAM5", reason, artifacts_bucket.arn_for_objects("*"))


def acknowledge_project_grants(project: codebuild.Project, where: str) -> None:
    """Acknowledge the grants CodeBuild gives every project's role: its default log group's streams and its report
    groups, named after the project; `where` says where the project's logs and reports really go."""
    stack = cdk.Stack.of(project)
    acknowledge(
        project.role,
        "AwsSolutions-IAM5",
        "CodeBuild's own grants to every project: its default log group's streams and its report groups, named "
        f"after the project ({where}).",
        stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/codebuild/{project.project_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        ),
        stack.format_arn(service="codebuild", resource="report-group", resource_name=f"{project.project_name}-*"),
    )


def _assume_stage_role() -> list[str]:
    """Commands that make the build act as `$STAGE_ROLE_ARN` in `$STAGE_REGION` (AWS CLI and boto3 alike)."""
    return [
        'aws configure set profile.stage.role_arn "$STAGE_ROLE_ARN"',
        "aws configure set profile.stage.credential_source EcsContainer",
        'aws configure set profile.stage.region "$STAGE_REGION"',
        "export AWS_PROFILE=stage",
    ]


class CicdBuilds(Construct):
    """One CodeBuild project per kind of build, each with a role of its own named `<prefix>-cicd-<build>` (the
    stages' roles trust these names), logs in one log group and everything encrypted with `encryption_key`.

    - `test`: `make test`, its JUnit reports kept in a report group exported to the pipelines' `artifacts_bucket`;
    - `synth`: `make synth` (cdk-nag clean or it fails), the cloud assembly as its output;
    - `deploy`: `cdk deploy --exclusively $STACKS` from that assembly, through the CDK bootstrap roles of
      `deploy_targets` ((account, region); None: the build's own), which the target accounts' bootstrap trusts;
    - `start_training`, `release`, `smoke_test`: act in a stage through the role `$STAGE_ROLE_ARN` there."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        encryption_key: kms.IKey,
        artifacts_bucket: s3.IBucket,
        deploy_targets: Iterable[tuple[str | None, str | None]],
        stage_roles: dict[str, list[str]],
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config, self._key, self._artifacts = config, encryption_key, artifacts_bucket
        self._log_group = logs.LogGroup(
            self, "Logs", encryption_key=encryption_key, retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.test_reports = codebuild.ReportGroup(
            self,
            "TestReports",
            report_group_name=cicd_name(config, "tests"),
            export_bucket=artifacts_bucket,
            zip_export=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,  # the record of what was tested
        )
        self.test = self._project(
            "Test",
            "test",
            commands=[f"make test REPORTS={REPORTS_DIR}"],
            reports={
                self.test_reports.report_group_arn: {
                    "files": ["*.xml"],
                    "base-directory": REPORTS_DIR,
                    "file-format": "JUNITXML",
                }
            },
            compute=codebuild.ComputeType.LARGE,
        )
        self.test_reports.grant_write(self.test)
        self.synth = self._project(
            "Synth",
            "synth",
            commands=["make synth"],
            artifacts={"base-directory": "cdk.out", "files": ["**/*"]},
        )
        self.deploy = self._project(
            "Deploy",
            "deploy",
            commands=[
                "npm ci --no-audit --no-fund --loglevel=error",
                f'npx cdk deploy --app "$CODEBUILD_SRC_DIR_{CLOUD_ASSEMBLY}" --require-approval never --no-notices '
                "--exclusively $CDK_ARGUMENTS $STACKS",
            ],
            environment={"CDK_DISABLE_CLI_TELEMETRY": "true"},
        )
        self._may_deploy_to(deploy_targets)
        self.start_training = self._project(
            "StartTraining",
            START_TRAINING,
            commands=[
                *_assume_stage_role(),
                f'COMMIT="${{SOURCE_COMMIT:-$(cat {SOURCE_COMMIT_FILE})}}"',
                'aws sagemaker start-pipeline-execution --pipeline-name "$PIPELINE" '
                '--pipeline-parameters Name=GitCommit,Value="$COMMIT" Name=StartReason,Value="commit $COMMIT" '
                '--pipeline-execution-display-name "commit-${COMMIT:0:12}" --client-request-token "$COMMIT"',
            ],
        )
        self.release = self._project(
            "Release",
            RELEASE,
            commands=[
                INSTALL_BOTO3,
                *_assume_stage_role(),
                'MODEL_PACKAGE_ARN="$(python -m infra.codebuild.release --group "$GROUP" '
                f'--output {RELEASE_ARTIFACT})"',
                "export MODEL_PACKAGE_ARN",
            ],
            artifacts={"base-directory": RELEASE_ARTIFACT, "files": ["**/*"]},
            exported=["MODEL_PACKAGE_ARN"],
        )
        self.smoke_test = self._project(
            "SmokeTest",
            SMOKE_TEST,
            commands=[
                INSTALL_BOTO3,
                *_assume_stage_role(),
                f'python -m infra.codebuild.smoke_test --endpoint "$ENDPOINT" --payload '
                f'"$CODEBUILD_SRC_DIR_{RELEASE_ARTIFACT}/payload.tar.gz" --contract "$CONTRACT" '
                '--max-latency-ms "$MAX_LATENCY_MS"',
            ],
        )
        for build, project in (
            (START_TRAINING, self.start_training),
            (RELEASE, self.release),
            (SMOKE_TEST, self.smoke_test),
        ):
            roles = stage_roles.get(build, [])
            if roles:
                project.add_to_role_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=roles))

    def _project(
        self,
        construct_id: str,
        build: str,
        *,
        commands: list[str],
        artifacts: dict | None = None,
        reports: dict | None = None,
        exported: list[str] | None = None,
        environment: dict[str, str] | None = None,
        compute: codebuild.ComputeType = codebuild.ComputeType.SMALL,
    ) -> codebuild.PipelineProject:
        spec: dict = {
            "version": "0.2",
            "phases": {"install": {"runtime-versions": RUNTIMES}, "build": {"commands": commands}},
        }
        spec["env"] = {
            "shell": "bash",  # the commands use bash's ${VAR:offset:length} and ${VAR:-default}
            **({"variables": environment} if environment else {}),
            **({"exported-variables": exported} if exported else {}),
        }
        if artifacts:
            spec["artifacts"] = artifacts
        if reports:
            spec["reports"] = reports
        role = iam.Role(
            self,
            f"{construct_id}Role",
            role_name=cicd_role_name(self._config, build),
            assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
            description=f"CodeBuild: the CI/CD {build} build",
        )
        project = codebuild.PipelineProject(
            self,
            construct_id,
            project_name=cicd_role_name(self._config, build),
            description=f"CI/CD: {build}",
            role=role,
            build_spec=codebuild.BuildSpec.from_object(spec),
            environment=codebuild.BuildEnvironment(build_image=IMAGE, compute_type=compute),
            encryption_key=self._key,
            timeout=cdk.Duration.hours(1),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self._log_group)),
        )
        acknowledge_artifact_access(role, self._artifacts)
        acknowledge_project_grants(project, "its logs go to the CI/CD log group, its test reports to the report group")
        return project

    def _may_deploy_to(self, targets: Iterable[tuple[str | None, str | None]]) -> None:
        """Let the deploy build assume the CDK bootstrap roles (deploy, publishing, lookup) of each target."""
        stack = cdk.Stack.of(self)
        qualifier = cdk.DefaultStackSynthesizer.DEFAULT_QUALIFIER
        roles = []
        for account, region in dict.fromkeys(targets):
            account = account or stack.account
            region = region or stack.region
            roles.append(
                stack.format_arn(
                    service="iam",
                    region="",
                    account=account,
                    resource="role",
                    resource_name=f"cdk-{qualifier}-*-role-{account}-{region}",
                )
            )
        self.deploy.add_to_role_policy(iam.PolicyStatement(actions=["sts:AssumeRole"], resources=roles))
        acknowledge(
            self.deploy.role,
            "AwsSolutions-IAM5",
            "The deploy build acts only through the CDK bootstrap roles of the stages' environments (deploy, file "
            "and image publishing, lookup), which CloudFormation and the bootstrap's trust limit.",
            *roles,
        )
