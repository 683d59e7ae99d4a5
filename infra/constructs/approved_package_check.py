"""A deploy-time check that the model package to serve is Approved (infra/functions/approved_package)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.constructs.python_function import python_function
from infra.constructs.released_models import ReleasedModels
from infra.nag import acknowledge

FUNCTION_CODE = Path(__file__).resolve().parents[1] / "functions" / "approved_package"
RESOURCE_TYPE = "Custom::ApprovedModelPackage"


class ApprovedPackageCheck(Construct):
    """A custom resource that fails the deployment unless `model_package_arn` is an Approved package of the released
    `models`' group; make what serves the package depend on it. With `require_drift_baselines`, the package must
    have drift baselines (a monitored stage's monitoring pipeline compares its traffic with them); with
    `require_fairness_baselines`, bias and explainability baselines. Its function may only describe that group's
    packages and write its own log group (encrypted with `encryption_key`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_package_arn: str,
        models: ReleasedModels,
        encryption_key: kms.IKey,
        removal_policy: cdk.RemovalPolicy,
        require_drift_baselines: bool = False,
        require_fairness_baselines: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = python_function(
            self,
            "Function",
            code=FUNCTION_CODE,
            description=f"Lets a deployment serve only Approved packages of {models.group_name}",
            timeout=cdk.Duration.seconds(60),
            encryption_key=encryption_key,
            removal_policy=removal_policy,
        )
        role = self.function.role
        packages = models.package_arns
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[packages])
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The function describes only the versions of the released models' model package group.",
            packages,
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type=RESOURCE_TYPE,
            properties={
                "ModelPackageArn": model_package_arn,
                "ModelPackageGroupName": models.group_name,
                "RequireDriftBaselines": "true" if require_drift_baselines else "false",
                "RequireFairnessBaselines": "true" if require_fairness_baselines else "false",
            },
        )
