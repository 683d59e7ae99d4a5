"""Where the CI/CD pipelines get the repository: a CodeConnections connection, or a zip uploaded to S3."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_codepipeline_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from blueprint.config import CicdConfig
from infra.constructs.secure_bucket import SecureBucket

SOURCE_OBJECT_KEY = "source.zip"  # what `make upload-source` uploads
SOURCE_COMMIT_FILE = "SOURCE_COMMIT"  # in that zip: the commit it was made from
NAMESPACE = "Source"


def connection_service(connection_arn: str) -> str:
    """The IAM service prefix of a connection ARN's: `codeconnections` or `codestar-connections` (they must match)."""
    return connection_arn.split(":")[2]


class PipelineSource(Construct):
    """The repository both pipelines build from. With `cicd.connection_arn`, the `cicd.branch` of `cicd.repository`
    through that CodeConnections connection (GitHub, GitLab, Bitbucket); otherwise `source.zip` in a source bucket
    of its own (`bucket_name`, KMS-encrypted with `encryption_key`, access-logged to `access_logs`), which
    `make upload-source` fills. No CodeCommit: it is closed to new customers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cicd: CicdConfig,
        bucket_name: str,
        encryption_key: kms.IKey,
        access_logs: s3.IBucket,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._cicd = cicd
        self.bucket = None
        if cicd.connection_arn is None:
            self.bucket = SecureBucket(
                self,
                "Bucket",
                bucket_name=bucket_name,
                encryption_key=encryption_key,
                access_logs=access_logs,
                removal_policy=removal_policy,
                event_bridge=True,  # an upload starts the commit pipeline
            )

    @property
    def commit(self) -> str | None:
        """The commit as a pipeline variable where the source has one (a connection); None: the zip's
        `SOURCE_COMMIT` file says it."""
        return f"#{{{NAMESPACE}.CommitId}}" if self.bucket is None else None

    def action(self, scope: Construct, output: codepipeline.Artifact, *, on_change: bool) -> codepipeline.IAction:
        """The source action of the pipeline in `scope`; `on_change`: a push (or an upload) starts the pipeline."""
        if self.bucket is None:
            owner, _, repository = self._cicd.repository.rpartition("/")
            return actions.CodeStarConnectionsSourceAction(
                action_name="Source",
                connection_arn=self._cicd.connection_arn,
                owner=owner,
                repo=repository,
                branch=self._cicd.branch,
                output=output,
                trigger_on_push=on_change,
                variables_namespace=NAMESPACE,
                role=self._connection_role(scope),
            )
        return actions.S3SourceAction(
            action_name="Source",
            bucket=self.bucket,
            bucket_key=SOURCE_OBJECT_KEY,
            output=output,
            trigger=actions.S3Trigger.NONE,  # the upload rule below starts it, through EventBridge
            variables_namespace=NAMESPACE,
        )

    def _connection_role(self, scope: Construct) -> iam.Role:
        """The source action's role, allowed to use the connection with the IAM prefix of its ARN: a connection made
        since July 2024 is `arn:aws:codeconnections:...` and needs `codeconnections:UseConnection`, which the CDK's
        action does not grant (it grants only `codestar-connections:UseConnection`, what older connections need)."""
        role = iam.Role(
            scope,
            "SourceRole",
            assumed_by=iam.AccountPrincipal(cdk.Stack.of(scope).account),  # the pipeline's role assumes it
            description=f"The source action of {scope.node.path}: uses the repository connection",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[f"{connection_service(self._cicd.connection_arn)}:UseConnection"],
                resources=[self._cicd.connection_arn],
            )
        )
        return role

    def start_on_upload(self, pipeline: codepipeline.IPipeline) -> None:
        """With a source bucket: start `pipeline` when `source.zip` is uploaded (nothing to do with a connection,
        whose action starts the pipeline on a push)."""
        if self.bucket is None:
            return
        events.Rule(
            self,
            "StartOnUpload",
            description=f"Start {pipeline.pipeline_name} when {SOURCE_OBJECT_KEY} is uploaded",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [self.bucket.bucket_name]}, "object": {"key": [SOURCE_OBJECT_KEY]}},
            ),
            targets=[targets.CodePipeline(pipeline)],
        )
