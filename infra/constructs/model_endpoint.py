"""A SageMaker endpoint serving one model package: model, endpoint config with data capture, endpoint with a
blue/green rollout that rolls back on alarms."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from blueprint.config import MAX_UPDATE_SECONDS, MIN_UPDATE_SECONDS, rollout_seconds
from infra.constructs.released_models import ReleasedModels
from infra.constructs.rollback_alarms import RollbackAlarms
from infra.nag import acknowledge
from ml_code.paths import DATA_CAPTURE_PREFIX, ENDPOINT_VARIANT

CAPTURE_CONTENT_TYPES = {"csv_content_types": ["text/csv"], "json_content_types": ["application/json"]}


@dataclass(frozen=True)
class Rollout:
    """How an update moves traffic to the new fleet: `all_at_once`, a `canary` of `step_instances` then the rest,
    or `linear` steps of `step_instances`; `bake_minutes` between shifts and before the old fleet goes."""

    mode: str
    step_instances: int = 1
    bake_minutes: int = 10

    def blue_green_policy(self, max_instances: int) -> sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty:
        """The update policy; its time limit covers provisioning, every shift and bake (at least SageMaker's minimum;
        the config refuses a rollout over its maximum)."""
        bake = self.bake_minutes * 60
        step = sagemaker.CfnEndpoint.CapacitySizeProperty(type="INSTANCE_COUNT", value=self.step_instances)
        if self.mode == "all_at_once":
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(type="ALL_AT_ONCE")
        elif self.mode == "canary":
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="CANARY", canary_size=step, wait_interval_in_seconds=bake
            )
        else:
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="LINEAR", linear_step_size=step, wait_interval_in_seconds=bake
            )
        timeout = rollout_seconds(self.mode, self.step_instances, self.bake_minutes, max_instances)
        if timeout > MAX_UPDATE_SECONDS:
            raise ValueError(f"a {self.mode} rollout takes {timeout} s, over SageMaker's {MAX_UPDATE_SECONDS} s")
        return sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=bake,
            maximum_execution_timeout_in_seconds=max(MIN_UPDATE_SECONDS, timeout),
        )


class ModelEndpoint(Construct):
    """Serves `model_package_arn` (its container and model data) from a network-isolated SageMaker Model on an
    endpoint called `endpoint_name`, with one variant of `initial_instances` x `instance_type`.

    Every volume and captured file is encrypted with `encryption_key`; `capture_percentage` of requests and their
    responses are captured to `capture_bucket` under `datacapture/<endpoint>/`. An update rolls out as `rollout`
    says, watched by `alarms`, and keeps the variant's current instance count (autoscaling's) over the new
    config's initial count. Model and endpoint config are named by `versioned_name(kind, digest)`, which must give
    a new name for a new digest: CloudFormation replaces them on any change."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        model_package_arn: str,
        versioned_name: Callable[[str, str], str],
        models: ReleasedModels,
        capture_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        instance_type: str,
        initial_instances: int,
        max_instances: int,
        capture_percentage: int,
        rollout: Rollout,
        alarms: RollbackAlarms,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= capture_percentage <= 100:
            raise ValueError(f"capture_percentage must be 1-100, got {capture_percentage}")
        if not 1 <= initial_instances <= max_instances:
            raise ValueError(f"need 1 <= initial_instances <= max_instances, got {initial_instances}, {max_instances}")
        stack = cdk.Stack.of(self)
        self.endpoint_name = endpoint_name
        self.role = self._role(endpoint_name, models, capture_bucket, encryption_key)
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],  # SageMaker reads the rollback alarms during an update
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        resource="alarm",
                        resource_name=name,
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for name in alarms.alarm_names
                ],
            )
        )

        model_properties = {
            "execution_role_arn": self.role.role_arn,
            "enable_network_isolation": True,
            "primary_container": sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=model_package_arn),
        }
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            model_name=versioned_name("model", settings_digest(self, model_properties)),
            **model_properties,
        )
        # The role's policy must exist before SageMaker checks the model's access with it.
        self.model.node.add_dependency(self.role)

        capture_destination = f"s3://{capture_bucket.bucket_name}/{DATA_CAPTURE_PREFIX}"
        config_properties = {
            "kms_key_id": encryption_key.key_arn,
            "production_variants": [
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=ENDPOINT_VARIANT,
                    model_name=self.model.attr_model_name,
                    instance_type=instance_type,
                    initial_instance_count=initial_instances,
                    initial_variant_weight=1.0,
                )
            ],
            "data_capture_config": sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=capture_percentage,
                destination_s3_uri=capture_destination,
                kms_key_id=encryption_key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode) for mode in ("Input", "Output")
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    **CAPTURE_CONTENT_TYPES
                ),
            ),
        }
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            endpoint_config_name=versioned_name("config", settings_digest(self, config_properties)),
            **config_properties,
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=rollout.blue_green_policy(max_instances),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=name) for name in alarms.alarm_names]
                ),
            ),
            # Keep autoscaling's instance count through an update; the new config's capture settings apply.
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig")
            ],
        )
        for alarm in alarms.alarms:
            self.endpoint.node.add_dependency(alarm)

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` invoke the endpoint."""
        endpoint = cdk.Stack.of(self).format_arn(
            service="sagemaker", resource="endpoint", resource_name=self.endpoint_name.lower()
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint])
        )

    def _role(
        self,
        endpoint_name: str,
        models: ReleasedModels,
        capture_bucket: s3.IBucket,
        encryption_key: kms.IKey,
    ) -> iam.Role:
        """What the model's container and SageMaker on its behalf may do: read model artifacts, write captured
        traffic, use the key, write the endpoint's logs and metrics."""
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker model of the {endpoint_name} endpoint",
        )
        model_data = models.grant_read(role)
        captured = capture_bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/{endpoint_name}/*")
        role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[captured]))
        encryption_key.grant(role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
        logs = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/Endpoints/{endpoint_name}:*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], resources=[logs]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints*"}},
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "Model artifacts are under the release stage's model-build prefix, named per pipeline execution (and "
            "another stage's key is known by its alias only); captured traffic is filed by SageMaker under the "
            "endpoint's own prefix by date; the endpoint's log streams are per instance.",
            *model_data,
            captured,
            logs,
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "cloudwatch:PutMetricData has no resource ARNs; a condition limits it to the endpoints' namespace.",
            "*",
        )
        return role


def settings_digest(scope: Construct, properties: dict) -> str:
    """8 hex digits of a resource's properties as the template will hold them (tokens as their references)."""
    resolved = cdk.Stack.of(scope).resolve(properties)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:8]
