"""A stage's CloudWatch dashboard: its endpoint, its monitors, its model builds and its ETL."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from ml_code.contracts.contract import DatasetContract
from ml_code.paths import DRIFT_METRIC_PREFIX, ENDPOINT_VARIANT, MONITOR_DATA_NAMESPACE, MONITOR_MODEL_NAMESPACE

PERIOD = cdk.Duration.minutes(5)
HOURLY = cdk.Duration.hours(1)


class StageDashboard(Construct):
    """A dashboard `dashboard_name`: the model build's runs (`pipeline_name`) and the ETL's counts (`glue_job_name`);
    where the stage serves (`endpoint_name`), its invocations, latency percentiles, errors, instances, CPU and
    memory; where it is monitored (`monitoring_schedules`: data quality, model quality), each feature's drift and
    the contract's metric on ground truth."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        contract: DatasetContract,
        pipeline_name: str,
        glue_job_name: str,
        endpoint_name: str | None = None,
        monitoring_schedules: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        rows = []
        if endpoint_name is not None:
            rows.append(self._endpoint(endpoint_name))
        if endpoint_name is not None and monitoring_schedules is not None:
            rows.append(self._monitors(endpoint_name, monitoring_schedules, contract))
        rows.append(self._builds(pipeline_name, glue_job_name))
        for row in rows:
            self.dashboard.add_widgets(*row)

    @staticmethod
    def _endpoint(endpoint: str) -> list[cloudwatch.IWidget]:
        dimensions = {"EndpointName": endpoint, "VariantName": ENDPOINT_VARIANT}

        def metric(name: str, statistic: str = "Sum", namespace: str = "AWS/SageMaker", **extra) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=name,
                dimensions_map=dimensions,
                statistic=statistic,
                period=PERIOD,
                **extra,
            )

        invocations = metric("Invocations")
        per_instance = metric("InvocationsPerInstance")
        return [
            cloudwatch.GraphWidget(title=f"{endpoint}: invocations", left=[invocations], width=6),
            cloudwatch.GraphWidget(
                title="model latency (microseconds)",
                left=[metric("ModelLatency", p, label=p) for p in ("p50", "p90", "p99")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="errors", left=[metric("Invocation4XXErrors"), metric("Invocation5XXErrors")], width=4
            ),
            cloudwatch.GraphWidget(
                title="instances (invocations / per instance)",
                left=[
                    cloudwatch.MathExpression(
                        expression="invocations / per_instance",
                        using_metrics={"invocations": invocations, "per_instance": per_instance},
                        label="instances serving",
                        period=PERIOD,
                    )
                ],
                width=4,
            ),
            cloudwatch.GraphWidget(
                title="CPU and memory (%)",
                left=[
                    metric(name, "Average", "/aws/sagemaker/Endpoints")
                    for name in ("CPUUtilization", "MemoryUtilization")
                ],
                width=4,
            ),
        ]

    @staticmethod
    def _monitors(endpoint: str, schedules: tuple[str, str], contract: DatasetContract) -> list[cloudwatch.IWidget]:
        data_quality, model_quality = schedules
        drift = [
            cloudwatch.Metric(
                namespace=MONITOR_DATA_NAMESPACE,
                metric_name=f"{DRIFT_METRIC_PREFIX}{feature}",
                dimensions_map={"Endpoint": endpoint, "MonitoringSchedule": data_quality},
                statistic="Maximum",
                period=HOURLY,
                label=feature,
            )
            for feature in contract.feature_columns(contract.curated_columns)
        ]
        quality = cloudwatch.Metric(
            namespace=MONITOR_MODEL_NAMESPACE,
            metric_name=contract.metric.name,
            dimensions_map={"Endpoint": endpoint, "MonitoringSchedule": model_quality},
            statistic="Average",
            period=HOURLY,
        )
        return [
            cloudwatch.GraphWidget(title="feature drift from the training baseline", left=drift, width=12),
            cloudwatch.GraphWidget(
                title=f"{contract.metric.name} on ground truth",
                left=[quality],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=contract.metric.threshold, label="gate")],
                width=12,
            ),
        ]

    @staticmethod
    def _builds(pipeline: str, glue_job: str) -> list[cloudwatch.IWidget]:
        runs = [
            cloudwatch.Metric(
                namespace="AWS/Sagemaker/ModelBuildingPipeline",
                metric_name=name,
                dimensions_map={"PipelineName": pipeline},
                statistic="Sum",
                period=HOURLY,
            )
            for name in ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed")
        ]
        etl = [
            cloudwatch.Metric(
                namespace="Glue",
                metric_name=name,
                dimensions_map={"JobName": glue_job, "JobRunId": "ALL", "Type": "count"},
                statistic="Sum",
                period=HOURLY,
                label=label,
            )
            for name, label in (
                ("glue.driver.aggregate.recordsRead", "records read"),
                ("glue.driver.aggregate.numFailedTasks", "failed tasks"),
            )
        ]
        return [
            cloudwatch.GraphWidget(title=f"model build runs: {pipeline}", left=runs, width=12),
            cloudwatch.GraphWidget(title=f"ETL: {glue_job}", left=etl, width=12),
        ]
