"""A deploy-time check that the model package to serve is Approved (infra/functions/approved_package)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge

FUNCTION_CODE = Path(__file__).resolve().parents[1] / "functions" / "approved_package"
RESOURCE_TYPE = "Custom::ApprovedModelPackage"


class ApprovedPackageCheck(Construct):
    """A custom resource that fails the deployment unless `model_package_arn` is an Approved package of
    `model_package_group_name`; make what serves the package depend on it. Its function may only describe that
    group's packages and write its own log group (encrypted with `encryption_key`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_package_arn: str,
        model_package_group_name: str,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        log_group = logs.LogGroup(
            self,
            "Logs",
            encryption_key=encryption_key,
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=removal_policy,
        )
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_streams = f"{log_group.log_group_arn}:*"
        packages = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{model_package_group_name}/*"
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_streams])
        )
        role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[packages]))
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The function writes only to its own log group, whose streams Lambda names at run time, and describes "
            "only the versions of the stage's model package group.",
            log_streams,
            packages,
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"Lets a deployment serve only Approved packages of {model_package_group_name}",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(FUNCTION_CODE), exclude=["__pycache__"]),
            timeout=cdk.Duration.seconds(60),
            role=role,
            log_group=log_group,
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={"ModelPackageArn": model_package_arn, "ModelPackageGroupName": model_package_group_name},
        )
        self.resource.node.add_dependency(role)
