"""Clarify's monitors on an endpoint: model bias (predictions and ground truth, by facet) and model explainability
(feature attributions), each against the served package's baselines, on the stage's schedule."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.model_endpoint import ModelEndpoint, settings_digest
from infra.constructs.model_monitoring import (
    GROUND_TRUTH_WINDOW,
    PREDICTION_ATTRIBUTES,
    endpoint_input,
    job_settings,
    monitor_role,
    monitoring_schedules,
)
from infra.constructs.released_models import ReleasedModels
from infra.nag import acknowledge
from infra.naming import GROUND_TRUTH, MODEL_BIAS, MODEL_EXPLAINABILITY, MONITORING_REPORTS
from ml_code.contracts.contract import DatasetContract


class FairnessMonitoring(Construct):
    """Clarify's model-bias and model-explainability jobs on `endpoint`, on `stage.monitor_schedule`.

    Both read the analysis configs and constraints registered with the served package (`bias_config_uri`,
    `bias_constraints_uri`, `explainability_config_uri`, `explainability_constraints_uri`: given at deploy time).
    Model bias merges the captured answers with the ground truth under `groundtruth/<endpoint>/`, as model quality
    does, and is network-isolated; explainability calls the endpoint for its attributions, so it has a network and
    may invoke that endpoint only. Reports go to `monitoring-reports/<endpoint>/`, encrypted with `encryption_key`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: ModelEndpoint,
        stage: StageConfig,
        contract: DatasetContract,
        image_uri: str,
        versioned_name: Callable[[str, str], str],
        models: ReleasedModels,
        bias_config_uri: str,
        bias_constraints_uri: str,
        explainability_config_uri: str,
        explainability_constraints_uri: str,
        monitoring_bucket: s3.IBucket,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        endpoint_name = endpoint.endpoint_name
        if contract.problem_type != "binary_classification":
            raise ValueError(f"bias monitoring needs a binary_classification contract, not {contract.problem_type}")
        self.role = self._role(endpoint, models, monitoring_bucket, encryption_key)
        reports = f"s3://{monitoring_bucket.bucket_name}/{MONITORING_REPORTS}/{endpoint_name}"
        start, end = GROUND_TRUTH_WINDOW
        bias_cfn = sagemaker.CfnModelBiasJobDefinition
        model_bias = dict(
            model_bias_app_specification=bias_cfn.ModelBiasAppSpecificationProperty(
                image_uri=image_uri, config_uri=bias_config_uri
            ),
            model_bias_baseline_config=bias_cfn.ModelBiasBaselineConfigProperty(
                constraints_resource=bias_cfn.ConstraintsResourceProperty(s3_uri=bias_constraints_uri)
            ),
            model_bias_job_input=bias_cfn.ModelBiasJobInputProperty(
                endpoint_input=bias_cfn.EndpointInputProperty(
                    **endpoint_input(endpoint_name),
                    start_time_offset=start,
                    end_time_offset=end,
                    **PREDICTION_ATTRIBUTES[contract.problem_type],
                ),
                ground_truth_s3_input=bias_cfn.MonitoringGroundTruthS3InputProperty(
                    s3_uri=f"s3://{monitoring_bucket.bucket_name}/{GROUND_TRUTH}/{endpoint_name}"
                ),
            ),
            **job_settings(bias_cfn, MODEL_BIAS, self.role, stage, reports, encryption_key),
        )
        self.model_bias = bias_cfn(
            self, "ModelBias", job_definition_name=versioned_name("mb", settings_digest(self, model_bias)), **model_bias
        )
        explain_cfn = sagemaker.CfnModelExplainabilityJobDefinition
        explainability = dict(
            model_explainability_app_specification=explain_cfn.ModelExplainabilityAppSpecificationProperty(
                image_uri=image_uri, config_uri=explainability_config_uri
            ),
            model_explainability_baseline_config=explain_cfn.ModelExplainabilityBaselineConfigProperty(
                constraints_resource=explain_cfn.ConstraintsResourceProperty(s3_uri=explainability_constraints_uri)
            ),
            model_explainability_job_input=explain_cfn.ModelExplainabilityJobInputProperty(
                endpoint_input=explain_cfn.EndpointInputProperty(**endpoint_input(endpoint_name))
            ),
            **job_settings(
                explain_cfn, MODEL_EXPLAINABILITY, self.role, stage, reports, encryption_key, isolated=False
            ),
        )
        self.model_explainability = explain_cfn(
            self,
            "ModelExplainability",
            job_definition_name=versioned_name("me", settings_digest(self, explainability)),
            **explainability,
        )
        self.schedules = monitoring_schedules(
            self,
            endpoint_name,
            stage,
            self.role,
            [
                (MODEL_BIAS, self.model_bias, "ModelBias"),
                (MODEL_EXPLAINABILITY, self.model_explainability, "ModelExplainability"),
            ],
        )

    def _role(
        self,
        model_endpoint: ModelEndpoint,
        models: ReleasedModels,
        monitoring_bucket: s3.IBucket,
        encryption_key: kms.IKey,
    ) -> iam.Role:
        """What Clarify's monitors may do: read the endpoint's captured traffic and ground truth and the served
        package's bias and explainability baselines, invoke that endpoint, write their reports, use the key."""
        endpoint = model_endpoint.endpoint_name
        reports = [
            monitoring_bucket.arn_for_objects(f"{MONITORING_REPORTS}/{endpoint}/{kind}/*")
            for kind in (MODEL_BIAS, MODEL_EXPLAINABILITY)
        ]
        role, (captured, truth) = monitor_role(
            self,
            description=f"Bias and explainability monitors of {endpoint}",
            endpoint=endpoint,
            reports=reports,
            monitoring_bucket=monitoring_bucket,
            encryption_key=encryption_key,
        )
        model_endpoint.grant_invoke(role)
        baselines = models.grant_read_fairness_baselines(role)
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The monitors read the endpoint's captured traffic and ground truth (filed by hour) and the release "
            "stage's bias and explainability baselines (per execution), and write their reports under the "
            "endpoint's own prefix.",
            captured,
            truth,
            *reports,
            *baselines,
        )
        return role
