"""A stage's CloudWatch dashboard: its endpoint, its monitoring, its model builds and its ETL."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from ml_code.contracts.contract import POST_TRAINING_METRICS, DatasetContract
from ml_code.monitoring.published_metrics import (
    ATTRIBUTION_NDCG,
    ATTRIBUTION_NDCG_THRESHOLD,
    FEATURE_DRIFT,
    LARGEST_DRIFT,
    NAMESPACE,
    bias_metric,
    dimensions,
    quality_metric,
)
from ml_code.paths import ENDPOINT_VARIANT

PERIOD = cdk.Duration.minutes(5)
HOURLY = cdk.Duration.hours(1)


class StageDashboard(Construct):
    """A dashboard `dashboard_name`: the model build's runs (`pipeline_name`) and the ETL's counts (`glue_job_name`);
    where the stage serves (`endpoint_name`), its invocations, latency percentiles, errors, instances, CPU and
    memory; where it is monitored (`monitoring_pipeline`, one run per `monitoring_period`), the largest and each
    feature's drift, the contract's metric on ground truth and, with a fairness section, the live attributions' nDCG
    and the limited bias metrics (what the runs publish), and the runs."""

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
        monitoring_pipeline: str | None = None,
        monitoring_period: cdk.Duration = HOURLY,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        rows = []
        if endpoint_name is not None:
            rows.append(self._endpoint(endpoint_name))
        if endpoint_name is not None and monitoring_pipeline is not None:
            rows.append(self._monitors(endpoint_name, monitoring_pipeline, monitoring_period, contract))
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
    def _monitors(
        endpoint: str, pipeline: str, period: cdk.Duration, contract: DatasetContract
    ) -> list[cloudwatch.IWidget]:
        def published(name: str, feature: str | None = None, **extra) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=NAMESPACE,
                metric_name=name,
                dimensions_map={item["Name"]: item["Value"] for item in dimensions(endpoint, feature)},
                statistic="Maximum",
                period=period,
                **extra,
            )

        drift = [published(LARGEST_DRIFT, label="largest (alarmed)")] + [
            published(FEATURE_DRIFT, feature, label=feature)
            for feature in contract.feature_columns(contract.curated_columns)
        ]
        runs = pipeline_runs(pipeline, ("ExecutionSucceeded", "ExecutionFailed"), period)
        fairness = []
        if contract.fairness is not None:
            limited = [name for name in sorted(contract.fairness.limits) if name in POST_TRAINING_METRICS]
            fairness = [
                cloudwatch.GraphWidget(
                    title="live attributions (nDCG) and bias (outside the limits)",
                    left=[published(ATTRIBUTION_NDCG)],
                    left_annotations=[cloudwatch.HorizontalAnnotation(value=ATTRIBUTION_NDCG_THRESHOLD, label="alarm")],
                    right=[published(bias_metric(name), label=name) for name in limited],
                    width=24,
                )
            ]
        return [
            cloudwatch.GraphWidget(title="feature drift from the training baseline", left=drift, width=10),
            cloudwatch.GraphWidget(
                title=f"{contract.metric.name} on ground truth",
                left=[published(quality_metric(contract.metric.name))],
                left_annotations=[cloudwatch.HorizontalAnnotation(value=contract.metric.threshold, label="gate")],
                width=8,
            ),
            cloudwatch.GraphWidget(title=f"monitoring runs: {pipeline}", left=runs, width=6),
            *fairness,
        ]

    @staticmethod
    def _builds(pipeline: str, glue_job: str) -> list[cloudwatch.IWidget]:
        runs = pipeline_runs(pipeline, ("ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed"), HOURLY)
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


def pipeline_runs(pipeline: str, names: tuple[str, ...], period: cdk.Duration) -> list[cloudwatch.Metric]:
    """A SageMaker Pipeline's execution counts (`ExecutionStarted`, ...) per period."""
    return [
        cloudwatch.Metric(
            namespace="AWS/Sagemaker/ModelBuildingPipeline",
            metric_name=name,
            dimensions_map={"PipelineName": pipeline},
            statistic="Sum",
            period=period,
        )
        for name in names
    ]
