"""An endpoint's monitoring alarms on the metrics its monitoring runs publish, as blueprint/alarm_rules.py defines
them."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.constructs.notification_topic import notify
from ml_code.monitoring.alarm import AlarmRule
from ml_code.monitoring.published_metrics import NAMESPACE, dimensions


class MonitoringAlarms(Construct):
    """A CloudWatch alarm per rule of `rules`, on `endpoint`'s metric in our namespace (its Maximum per period of
    `period_hours`, one monitoring run), each telling `topic_arn` when it enters ALARM and when it is OK again. An
    alarm's construct id comes from its name (`<endpoint>-feature-drift`: `FeatureDriftAlarm`), which a change of
    metric or threshold keeps: the alarm is updated in place, not replaced under the same name."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: str,
        rules: list[AlarmRule],
        period_hours: int,
        topic_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms = []
        for rule in rules:
            kind = rule.name.removeprefix(f"{endpoint}-")
            alarm = cloudwatch.CfnAlarm(
                self,
                "".join(part.capitalize() for part in kind.split("-")) + "Alarm",
                alarm_name=rule.name,
                alarm_description=(
                    f"{endpoint}: {rule.metric} {rule.comparison} {rule.threshold:g} in {rule.datapoints_to_alarm} of "
                    f"{rule.evaluation_periods} monitoring runs; starts a guarded retraining"
                ),
                namespace=NAMESPACE,
                metric_name=rule.metric,
                dimensions=[
                    cloudwatch.CfnAlarm.DimensionProperty(name=item["Name"], value=item["Value"])
                    for item in dimensions(endpoint)
                ],
                statistic="Maximum",
                period=period_hours * 3600,
                threshold=rule.threshold,
                comparison_operator=rule.comparison,
                evaluation_periods=rule.evaluation_periods,
                datapoints_to_alarm=rule.datapoints_to_alarm,
                treat_missing_data=rule.treat_missing_data,
            )
            notify(alarm, topic_arn)
            self.alarms.append(alarm)
