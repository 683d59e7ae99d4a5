"""Model Monitor on an endpoint: data quality against the served package's drift baselines, model quality with
ground truth, their schedules, and the alarms on their metrics."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.model_endpoint import settings_digest
from infra.constructs.notification_topic import notify
from infra.constructs.released_models import ReleasedModels
from infra.constructs.sagemaker_roles import grant_job_essentials
from infra.nag import acknowledge
from infra.naming import (
    DATA_QUALITY,
    GROUND_TRUTH,
    MODEL_QUALITY,
    MONITORING_REPORTS,
    drift_alarm_name,
    model_quality_alarm_name,
    monitoring_schedule_name,
)
from ml_code.contracts.contract import DatasetContract
from ml_code.paths import DATA_CAPTURE_PREFIX, DRIFT_METRIC_PREFIX, MONITOR_DATA_NAMESPACE, MONITOR_MODEL_NAMESPACE

PROBLEM_TYPES = {
    "binary_classification": "BinaryClassification",
    "multiclass_classification": "MulticlassClassification",
    "regression": "Regression",
}
# Where the model-quality job finds a request's prediction in the captured answer (`{"predictions": [...]}`): the
# first record's. Ground truth is one label per request (see README).
PREDICTION_ATTRIBUTES = {
    "binary_classification": {
        "probability_attribute": "predictions[0].probability",
        "probability_threshold_attribute": 0.5,
    },
    "multiclass_classification": {"inference_attribute": "predictions[0].label"},
    "regression": {"inference_attribute": "predictions[0].value"},
}
PERIOD = cdk.Duration.hours(1)  # one datapoint per run of an hourly schedule
MAX_ALARM_METRICS = 10  # CloudWatch's limit of metrics in one alarm's math
# Ground truth for a request arrives within this window: the model-quality job of each run looks at the requests of
# the last day, up to an hour ago.
GROUND_TRUTH_WINDOW = ("-PT25H", "-PT1H")
JOB_SECONDS = 3600


class ModelMonitoring(Construct):
    """Model Monitor's data-quality and model-quality jobs on `endpoint_name`, on `stage.monitor_schedule`.

    Data quality compares the captured requests (`datacapture/<endpoint>/`) with the served package's baselines
    (`statistics_uri`, `constraints_uri`: given at deploy time). Model quality merges the captured answers with the
    ground truth uploaded under `groundtruth/<endpoint>/` of `monitoring_bucket` by inference id, scored as the
    contract's problem type. Reports go to `monitoring-reports/<endpoint>/`, encrypted with `encryption_key`; the
    jobs are network-isolated. Alarms: the largest feature drift above `stage.drift_threshold`, and the contract's
    metric worse than its threshold, each in `stage.alarm_datapoints` of `stage.alarm_evaluation_periods` runs;
    every alarm tells `topic_arn`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        stage: StageConfig,
        contract: DatasetContract,
        image_uri: str,
        versioned_name: Callable[[str, str], str],
        models: ReleasedModels,
        statistics_uri: str,
        constraints_uri: str,
        monitoring_bucket: s3.IBucket,
        encryption_key: kms.IKey,
        topic_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        self.role = self._role(endpoint_name, models, monitoring_bucket, encryption_key)
        reports = f"s3://{monitoring_bucket.bucket_name}/{MONITORING_REPORTS}/{endpoint_name}"

        # Job definitions cannot change in place: CloudFormation replaces them, so each is named by the package
        # version and a digest of its settings (`versioned_name`), and the schedules follow.
        data_quality = dict(
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=image_uri
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=constraints_uri
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=statistics_uri
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    **endpoint_input(endpoint_name)
                )
            ),
            **job_settings(
                sagemaker.CfnDataQualityJobDefinition, DATA_QUALITY, self.role, stage, reports, encryption_key
            ),
        )
        self.data_quality = sagemaker.CfnDataQualityJobDefinition(
            self,
            "DataQuality",
            job_definition_name=versioned_name("dq", settings_digest(self, data_quality)),
            **data_quality,
        )
        start, end = GROUND_TRUTH_WINDOW
        model_quality = dict(
            model_quality_app_specification=sagemaker.CfnModelQualityJobDefinition.ModelQualityAppSpecificationProperty(
                image_uri=image_uri, problem_type=PROBLEM_TYPES[contract.problem_type]
            ),
            model_quality_job_input=sagemaker.CfnModelQualityJobDefinition.ModelQualityJobInputProperty(
                endpoint_input=sagemaker.CfnModelQualityJobDefinition.EndpointInputProperty(
                    **endpoint_input(endpoint_name),
                    start_time_offset=start,
                    end_time_offset=end,
                    **PREDICTION_ATTRIBUTES[contract.problem_type],
                ),
                ground_truth_s3_input=sagemaker.CfnModelQualityJobDefinition.MonitoringGroundTruthS3InputProperty(
                    s3_uri=f"s3://{monitoring_bucket.bucket_name}/{GROUND_TRUTH}/{endpoint_name}"
                ),
            ),
            **job_settings(
                sagemaker.CfnModelQualityJobDefinition, MODEL_QUALITY, self.role, stage, reports, encryption_key
            ),
        )
        self.model_quality = sagemaker.CfnModelQualityJobDefinition(
            self,
            "ModelQuality",
            job_definition_name=versioned_name("mq", settings_digest(self, model_quality)),
            **model_quality,
        )
        self.schedules = monitoring_schedules(
            self,
            endpoint_name,
            stage,
            self.role,
            [(DATA_QUALITY, self.data_quality, "DataQuality"), (MODEL_QUALITY, self.model_quality, "ModelQuality")],
        )
        self.alarms = self._alarms(endpoint_name, stage, contract)
        for alarm in self.alarms:
            notify(alarm, topic_arn)
        self.alarm_names = (drift_alarm_name(endpoint_name), model_quality_alarm_name(endpoint_name))

    def _alarms(self, endpoint: str, stage: StageConfig, contract: DatasetContract) -> list[cloudwatch.CfnAlarm]:
        periods = {
            "period": int(PERIOD.to_seconds()),
            "evaluation_periods": stage.alarm_evaluation_periods,
            "datapoints_to_alarm": stage.alarm_datapoints,
            "treat_missing_data": "missing",  # no run, no datapoint: as the local rule treats it
        }

        def dimensions(kind: str) -> list[cloudwatch.CfnAlarm.DimensionProperty]:
            return [
                cloudwatch.CfnAlarm.DimensionProperty(name="Endpoint", value=endpoint),
                cloudwatch.CfnAlarm.DimensionProperty(
                    name="MonitoringSchedule", value=monitoring_schedule_name(endpoint, kind)
                ),
            ]

        features = contract.feature_columns(contract.curated_columns)
        if len(features) > MAX_ALARM_METRICS:
            raise ValueError(
                f"{len(features)} features: a drift alarm's metric math takes at most {MAX_ALARM_METRICS} metrics"
            )
        drift_metrics = [
            cloudwatch.CfnAlarm.MetricDataQueryProperty(
                id=f"f{index}",
                return_data=False,
                metric_stat=cloudwatch.CfnAlarm.MetricStatProperty(
                    metric=cloudwatch.CfnAlarm.MetricProperty(
                        namespace=MONITOR_DATA_NAMESPACE,
                        metric_name=f"{DRIFT_METRIC_PREFIX}{feature}",
                        dimensions=dimensions(DATA_QUALITY),
                    ),
                    period=periods["period"],
                    stat="Maximum",
                ),
            )
            for index, feature in enumerate(features)
        ]
        drift = cloudwatch.CfnAlarm(
            self,
            "DriftAlarm",
            alarm_name=drift_alarm_name(endpoint),
            alarm_description=(
                f"{endpoint}: the largest feature drift from the training baseline above {stage.drift_threshold} "
                "(Model Monitor's distance); starts a guarded retraining"
            ),
            metrics=[
                *drift_metrics,
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id="drift",
                    expression=f"MAX([{', '.join(query.id for query in drift_metrics)}])",
                    label="largest feature drift",
                    return_data=True,
                ),
            ],
            threshold=stage.drift_threshold,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=periods["evaluation_periods"],
            datapoints_to_alarm=periods["datapoints_to_alarm"],
            treat_missing_data=periods["treat_missing_data"],
        )
        worse = "LessThanThreshold" if contract.metric.higher_is_better else "GreaterThanThreshold"
        quality = cloudwatch.CfnAlarm(
            self,
            "ModelQualityAlarm",
            alarm_name=model_quality_alarm_name(endpoint),
            alarm_description=(
                f"{endpoint}: {contract.metric.name} on ground truth worse than the gate's "
                f"{contract.metric.threshold}; starts a guarded retraining"
            ),
            namespace=MONITOR_MODEL_NAMESPACE,
            metric_name=contract.metric.name,
            dimensions=dimensions(MODEL_QUALITY),
            statistic="Average",
            threshold=contract.metric.threshold,
            comparison_operator=worse,
            **periods,
        )
        return [drift, quality]

    def _role(
        self, endpoint: str, models: ReleasedModels, monitoring_bucket: s3.IBucket, encryption_key: kms.IKey
    ) -> iam.Role:
        """What the monitoring jobs may do: read the endpoint's captured traffic and ground truth and the served
        package's baselines, write their reports, use the key, write their logs and metrics."""
        reports = monitoring_bucket.arn_for_objects(f"{MONITORING_REPORTS}/{endpoint}/*")
        role, (captured, truth) = monitor_role(
            self,
            description=f"Model Monitor of {endpoint}",
            endpoint=endpoint,
            reports=[reports],
            monitoring_bucket=monitoring_bucket,
            encryption_key=encryption_key,
        )
        baselines = models.grant_read_baselines(role)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={
                    "StringEquals": {"cloudwatch:namespace": [MONITOR_DATA_NAMESPACE, MONITOR_MODEL_NAMESPACE]}
                },
            )
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "The monitor reads the endpoint's captured traffic and ground truth (filed by hour) and the release "
            "stage's baselines (per execution), and writes its reports under the endpoint's own prefix.",
            captured,
            truth,
            reports,
            *baselines,
        )
        return role


def job_settings(
    cfn,
    kind: str,
    role: iam.IRole,
    stage: StageConfig,
    reports: str,
    encryption_key: kms.IKey,
    *,
    isolated: bool = True,
) -> dict:
    """What every monitoring job definition shares, in `cfn`'s own property types: its role, resources, network
    (isolated unless it must call the endpoint), time limit and where its reports go (`<reports>/<kind>`)."""
    return {
        "role_arn": role.role_arn,
        "job_resources": cfn.MonitoringResourcesProperty(
            cluster_config=cfn.ClusterConfigProperty(
                instance_count=1,
                instance_type=stage.monitor_instance_type,
                volume_size_in_gb=20,
                volume_kms_key_id=encryption_key.key_arn,
            )
        ),
        "network_config": cfn.NetworkConfigProperty(
            enable_network_isolation=isolated, enable_inter_container_traffic_encryption=True
        ),
        "stopping_condition": cfn.StoppingConditionProperty(max_runtime_in_seconds=JOB_SECONDS),
        f"{kind.replace('-', '_')}_job_output_config": cfn.MonitoringOutputConfigProperty(
            kms_key_id=encryption_key.key_arn,
            monitoring_outputs=[
                cfn.MonitoringOutputProperty(
                    s3_output=cfn.S3OutputProperty(
                        local_path="/opt/ml/processing/output", s3_uri=f"{reports}/{kind}", s3_upload_mode="EndOfJob"
                    )
                )
            ],
        ),
    }


def endpoint_input(endpoint_name: str) -> dict:
    """A monitoring job's input: the endpoint's captured traffic."""
    return {
        "endpoint_name": endpoint_name,
        "local_path": "/opt/ml/processing/input/endpoint",
        "s3_input_mode": "File",
        "s3_data_distribution_type": "FullyReplicated",
    }


def monitoring_schedules(
    scope: Construct, endpoint: str, stage: StageConfig, role: iam.IRole, definitions: list[tuple[str, object, str]]
) -> dict[str, sagemaker.CfnMonitoringSchedule]:
    """A schedule (`stage.monitor_schedule`) per (kind, job definition, monitoring type) on the endpoint, each made
    once the jobs' `role` is."""
    schedules = {}
    for kind, definition, monitoring_type in definitions:
        schedules[kind] = sagemaker.CfnMonitoringSchedule(
            scope,
            f"{construct_id_of(kind)}Schedule",
            monitoring_schedule_name=monitoring_schedule_name(endpoint, kind),
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=definition.job_definition_name,
                monitoring_type=monitoring_type,
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=stage.monitor_schedule
                ),
            ),
        )
        schedules[kind].node.add_dependency(role)
    return schedules


def monitor_role(
    scope: Construct,
    *,
    description: str,
    endpoint: str,
    reports: list[str],
    monitoring_bucket: s3.IBucket,
    encryption_key: kms.IKey,
) -> tuple[iam.Role, tuple[str, str]]:
    """A monitoring jobs' role that reads the endpoint's captured traffic and ground truth, writes `reports` (ARN
    patterns), uses the key and writes its logs; with the captured and ground-truth patterns it reads."""
    role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description)
    captured = monitoring_bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}/{endpoint}/*")
    truth = monitoring_bucket.arn_for_objects(f"{GROUND_TRUTH}/{endpoint}/*")
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[captured, truth]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=reports))
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[monitoring_bucket.bucket_arn],
            conditions={
                "StringLike": {"s3:prefix": [f"{DATA_CAPTURE_PREFIX}/{endpoint}/*", f"{GROUND_TRUTH}/{endpoint}/*"]}
            },
        )
    )
    grant_job_essentials(role, encryption_key, ("ProcessingJobs",))
    return role, (captured, truth)


def construct_id_of(kind: str) -> str:
    """`data-quality` -> `DataQuality`."""
    return "".join(part.capitalize() for part in kind.split("-"))
