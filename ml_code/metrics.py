"""The quality metrics of a model's predictions, numpy only (the container's scikit-learn version is not part of the
contract): what evaluation reports, what training logs on validation and what monitoring computes on live traffic,
in SageMaker's model-quality schema with a seeded bootstrap's standard deviations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ml_code.contracts.contract import REPORT_METRICS

BOOTSTRAP_SAMPLES = 200
BOOTSTRAP_BATCH = 25
EPSILON = 1e-15


# ---- metrics (numpy only: the container's scikit-learn version is not part of the contract)
# Each metric is computed over weighted rows, one row of weights per sample: the metric itself is one sample
# of weight 1 per row, and a bootstrap replicate weighs each row by how often it was drawn, so that 200
# replicates are a few matrix products rather than 200 passes over resampled copies.

Weights = np.ndarray  # (samples, rows)


def roc_auc(y: np.ndarray, score: np.ndarray, weights: Weights | None = None) -> np.ndarray | float:
    """Area under the ROC curve, as the Mann-Whitney U statistic with tied scores counted half."""
    w = _weights(weights, len(y))
    order = np.argsort(score, kind="mergesort")
    ranked = score[order]
    ties = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # where each group of equal scores starts
    positive = (y[order] == 1).astype(float)
    ordered = w[:, order]
    positives = np.add.reduceat(ordered * positive, ties, axis=1)
    negatives = np.add.reduceat(ordered * (1.0 - positive), ties, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a sample with one class only has no AUC
        auc = np.where(pairs > 0, (positives * (below + 0.5 * negatives)).sum(axis=1) / pairs, np.nan)
    return _result(auc, weights)


def confusion(y: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """(true negatives, false positives, false negatives, true positives)."""
    return (
        int(((y == 0) & (predicted == 0)).sum()),
        int(((y == 0) & (predicted == 1)).sum()),
        int(((y == 1) & (predicted == 0)).sum()),
        int(((y == 1) & (predicted == 1)).sum()),
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


def binary_metrics(y: np.ndarray, probability: np.ndarray, weights: Weights | None = None) -> dict:
    w = _weights(weights, len(y))
    predicted, actual = probability >= 0.5, y == 1
    tp, fp, fn, tn = (
        w @ (predicted & actual),
        w @ (predicted & ~actual),
        w @ (~predicted & actual),
        w @ ~(predicted | actual),
    )  # noqa: E501
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    clipped = np.clip(probability, EPSILON, 1 - EPSILON)
    losses = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    metrics = {
        "auc": roc_auc(y, probability, w),
        "accuracy": _ratio(tp + tn, w.sum(axis=1)),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "log_loss": (w @ losses) / w.sum(axis=1),
    }
    return {name: _result(values, weights) for name, values in metrics.items()}


def multiclass_metrics(y: np.ndarray, probabilities: np.ndarray, weights: Weights | None = None) -> dict:
    w = _weights(weights, len(y))
    predicted, rows = probabilities.argmax(axis=1), w.sum(axis=1)
    f1_sum = np.zeros(len(w))
    for label in np.unique(y):  # a label a sample lacks has no true rows: it adds nothing
        actual, chosen = y == label, predicted == label
        true_rows = w @ actual
        precision = _ratio(w @ (chosen & actual), w @ chosen)
        recall = _ratio(w @ (chosen & actual), true_rows)
        f1_sum += _ratio(2 * precision * recall, precision + recall) * true_rows
    metrics = {"accuracy": (w @ (predicted == y)) / rows, "weighted_f1": f1_sum / rows}
    return {name: _result(values, weights) for name, values in metrics.items()}


def regression_metrics(y: np.ndarray, predicted: np.ndarray, weights: Weights | None = None) -> dict:
    w = _weights(weights, len(y))
    errors, rows = predicted - y, w.sum(axis=1)
    centered = y - y.mean()  # the spread around each sample's mean, computed without cancellation
    sample_mean = (w @ centered) / rows
    total = w @ centered**2 - rows * sample_mean**2
    squared = w @ errors**2
    metrics = {
        "mse": squared / rows,
        "rmse": np.sqrt(squared / rows),
        "mae": (w @ np.abs(errors)) / rows,
        "r2": np.where(total > 0, 1.0 - squared / np.where(total > 0, total, 1.0), 0.0),
    }
    return {name: _result(values, weights) for name, values in metrics.items()}


def _weights(weights: Weights | None, rows: int) -> Weights:
    return np.ones((1, rows)) if weights is None else weights


def _result(values: np.ndarray, weights: Weights | None) -> np.ndarray | float:
    """Without weights, the metric of the data as it is: one number."""
    return float(values[0]) if weights is None else values


METRIC_FUNCTIONS: dict[str, Callable[..., dict]] = {
    "binary_classification": binary_metrics,
    "multiclass_classification": multiclass_metrics,
    "regression": regression_metrics,
}


def build_report(problem_type: str, y: np.ndarray, prediction: np.ndarray, *, seed: int) -> dict:
    """SageMaker's model-quality schema: each metric's value and its bootstrap standard deviation (rows
    drawn with replacement, BOOTSTRAP_SAMPLES times, seeded)."""
    compute = METRIC_FUNCTIONS[problem_type]
    values = compute(y, prediction)
    if set(values) != set(REPORT_METRICS[problem_type]):
        raise AssertionError(f"{problem_type} metrics {sorted(values)} differ from REPORT_METRICS")
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {name: [] for name in values}
    for start in range(0, BOOTSTRAP_SAMPLES, BOOTSTRAP_BATCH):  # a batch's weights: samples x rows floats
        draws = min(BOOTSTRAP_BATCH, BOOTSTRAP_SAMPLES - start)
        weights = np.stack([np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)) for _ in range(draws)])
        for name, replicates in compute(y, prediction, weights.astype(float)).items():
            samples[name].append(replicates)
    metrics = {
        name: {"value": float(value), "standard_deviation": float(np.nanstd(np.concatenate(samples[name])))}
        for name, value in values.items()
    }
    if problem_type == "binary_classification":
        tn, fp, fn, tp = confusion(y, (prediction >= 0.5).astype(int))
        metrics["confusion_matrix"] = {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    return {f"{problem_type}_metrics": metrics}
