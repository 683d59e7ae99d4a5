"""Target-tracking autoscaling of an endpoint variant on invocations per instance."""

from __future__ import annotations

from aws_cdk import aws_applicationautoscaling as autoscaling
from constructs import Construct

from infra.constructs.model_endpoint import ModelEndpoint
from ml_code.paths import ENDPOINT_VARIANT

# Add capacity within a minute of a surge; give it back only after ten quiet minutes, so that a dip between two
# bursts does not drop instances that take minutes to come back.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 600


class EndpointAutoscaling(Construct):
    """Keeps `model_endpoint`'s variant between `min_instances` and `max_instances`, tracking
    `target_invocations_per_instance` (SageMakerVariantInvocationsPerInstance, a minute). Scale-out reacts after
    a minute, scale-in after ten. Uses Application Auto Scaling's service-linked role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_endpoint: ModelEndpoint,
        min_instances: int,
        max_instances: int,
        target_invocations_per_instance: int,
    ) -> None:
        super().__init__(scope, construct_id)
        if not 1 <= min_instances <= max_instances:
            raise ValueError(f"need 1 <= min_instances <= max_instances, got {min_instances} and {max_instances}")
        if target_invocations_per_instance < 1:
            raise ValueError(f"target_invocations_per_instance must be >= 1, got {target_invocations_per_instance}")
        self.target = autoscaling.CfnScalableTarget(
            self,
            "Target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=f"endpoint/{model_endpoint.endpoint_name}/variant/{ENDPOINT_VARIANT}",
            min_capacity=min_instances,
            max_capacity=max_instances,
        )
        self.target.node.add_dependency(model_endpoint.endpoint)
        self.policy = autoscaling.CfnScalingPolicy(
            self,
            "InvocationsPerInstance",
            policy_name=f"{model_endpoint.endpoint_name}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.target.ref,
            target_tracking_scaling_policy_configuration=autoscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=float(target_invocations_per_instance),
                predefined_metric_specification=autoscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
                scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
            ),
        )
