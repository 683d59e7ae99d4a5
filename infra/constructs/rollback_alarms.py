"""The alarms that roll an endpoint update back: server errors and model latency of its variant."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from blueprint.naming import rollback_alarm_name
from ml_code.paths import ENDPOINT_VARIANT

PERIOD_SECONDS = 60
# Two breaching minutes in a row: one slow or failing minute during a shift is noise, two are a regression.
EVALUATION_PERIODS = DATAPOINTS_TO_ALARM = 2


class RollbackAlarms(Construct):
    """Two alarms on the endpoint's variant, each in ALARM after two breaching minutes: `errors` (Invocation5XXErrors
    a minute at or above `max_5xx_errors`) and `latency` (p99 ModelLatency above `max_latency_ms`). No traffic is
    not a breach. SageMaker watches them while it shifts traffic and rolls back when one fires."""

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint_name: str, max_5xx_errors: int, max_latency_ms: int
    ) -> None:
        super().__init__(scope, construct_id)
        if max_5xx_errors < 1 or max_latency_ms < 1:
            raise ValueError(
                f"rollback thresholds must be at least 1, got {max_5xx_errors} errors and {max_latency_ms} ms"
            )
        dimensions = [
            cloudwatch.CfnAlarm.DimensionProperty(name="EndpointName", value=endpoint_name),
            cloudwatch.CfnAlarm.DimensionProperty(name="VariantName", value=ENDPOINT_VARIANT),
        ]

        def alarm(construct_id: str, signal: str, description: str, **metric) -> cloudwatch.CfnAlarm:
            return cloudwatch.CfnAlarm(
                self,
                construct_id,
                alarm_name=rollback_alarm_name(endpoint_name, signal),
                alarm_description=description,
                namespace="AWS/SageMaker",
                dimensions=dimensions,
                period=PERIOD_SECONDS,
                evaluation_periods=EVALUATION_PERIODS,
                datapoints_to_alarm=DATAPOINTS_TO_ALARM,
                treat_missing_data="notBreaching",
                **metric,
            )

        self.errors = alarm(
            "Errors",
            "5xx",
            f"{endpoint_name}: {max_5xx_errors} or more 5XX responses a minute; rolls back an endpoint update",
            metric_name="Invocation5XXErrors",
            statistic="Sum",
            threshold=max_5xx_errors,
            comparison_operator="GreaterThanOrEqualToThreshold",
        )
        self.latency = alarm(
            "Latency",
            "latency",
            f"{endpoint_name}: p99 model latency above {max_latency_ms} ms; rolls back an endpoint update",
            metric_name="ModelLatency",  # microseconds
            extended_statistic="p99",
            threshold=max_latency_ms * 1000,
            comparison_operator="GreaterThanThreshold",
        )
        self.alarms = (self.errors, self.latency)
        self.alarm_names = tuple(alarm.alarm_name for alarm in self.alarms)
