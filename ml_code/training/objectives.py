"""What training optimises and logs, per problem type (standard library only: the pipeline definition reads it)."""

from __future__ import annotations

# problem type -> (XGBoost objective, the metric it is early-stopped on and logs)
OBJECTIVES = {
    "binary_classification": ("binary:logistic", "auc"),
    "multiclass_classification": ("multi:softprob", "mlogloss"),
    "regression": ("reg:squarederror", "rmse"),
}
LOG_CHANNELS = ("train", "validation")
FINAL_PREFIX = "validation-final-"  # train.py logs `validation-final-<metric>: <value>` once the model is kept


def metric_log_regex(channel: str, metric: str) -> str:
    """The regex a SageMaker metric definition uses to read `<channel>-<metric>: <value>` from the training log."""
    return rf"{channel}-{metric}: ([0-9.eE+-]+)"


def metric_definitions(problem_type: str) -> list[dict[str, str]]:
    """SageMaker metric definitions for the lines train.py logs every round."""
    _, metric = OBJECTIVES[problem_type]
    return [{"Name": f"{channel}:{metric}", "Regex": metric_log_regex(channel, metric)} for channel in LOG_CHANNELS]


def final_metric_definition(metric: str) -> dict[str, str]:
    """The metric definition of the contract's `metric` on the validation split, as tuning optimises it."""
    return {"Name": f"validation:{metric}", "Regex": rf"{FINAL_PREFIX}{metric}: ([0-9.eE+-]+)"}
