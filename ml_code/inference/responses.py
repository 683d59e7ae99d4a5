"""What the endpoint answers, per problem type: the labels the serving code writes and the checks a deployed
endpoint's answers must pass (the deploy pipeline's smoke test). Standard library only."""

from __future__ import annotations

import math
from typing import Any

PROBABILITY_SUM_TOLERANCE = 1e-4  # xgboost computes class probabilities in float32


def response_problems(body: Any, *, problem_type: str, positive_label: Any, records: int) -> list[str]:
    """What is wrong with a JSON answer (`{"predictions": [...]}`) to `records` records; empty when nothing is."""
    if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
        return ['the answer is not a JSON object with a "predictions" list']
    predictions = body["predictions"]
    if len(predictions) != records:
        return [f"{len(predictions)} predictions for {records} records"]
    check = {
        "binary_classification": lambda p: _binary(p, positive_label),
        "multiclass_classification": _multiclass,
        "regression": _regression,
    }[problem_type]
    return [f"prediction {index}: {problem}" for index, p in enumerate(predictions) for problem in check(p)]


def _keys(prediction: Any, expected: set[str]) -> list[str]:
    if not isinstance(prediction, dict) or set(prediction) != expected:
        return [f"expected an object with keys {sorted(expected)}, got {prediction!r}"]
    return []


def _probability(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def _binary(prediction: Any, positive_label: Any) -> list[str]:
    if problems := _keys(prediction, {"probability", "label"}):
        return problems
    probability, label = prediction["probability"], prediction["label"]
    if not _probability(probability):
        return [f"probability {probability!r} is not in [0, 1]"]
    positive = str(positive_label).strip()  # as the feature transform keeps it
    if probability >= 0.5 and str(label) != positive:
        return [f"label {label!r} for probability {probability}, expected {positive!r}"]
    if probability < 0.5 and (str(label) == positive or not str(label)):  # the data's other label, whatever it is
        return [f"label {label!r} for probability {probability}, expected a label other than {positive!r}"]
    return []


def _multiclass(prediction: Any) -> list[str]:
    if problems := _keys(prediction, {"probabilities", "label"}):
        return problems
    probabilities, label = prediction["probabilities"], prediction["label"]
    if not isinstance(probabilities, dict) or len(probabilities) < 2:
        return [f"probabilities {probabilities!r} are not an object of two or more classes"]
    if not all(_probability(value) for value in probabilities.values()):
        return [f"probabilities {probabilities!r} are not all in [0, 1]"]
    if abs(sum(probabilities.values()) - 1.0) > PROBABILITY_SUM_TOLERANCE:
        return [f"probabilities sum to {sum(probabilities.values())}, not 1"]
    if label != max(probabilities, key=probabilities.__getitem__):
        return [f"label {label!r} is not the most probable class of {probabilities!r}"]
    return []


def _regression(prediction: Any) -> list[str]:
    if problems := _keys(prediction, {"value"}):
        return problems
    value = prediction["value"]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return [f"value {value!r} is not a finite number"]
    return []
