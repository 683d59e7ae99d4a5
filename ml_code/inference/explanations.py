"""Feature attributions by xgboost's exact TreeSHAP (`pred_contribs`), told by the raw columns a client sends.

The model sees encoded features (a categorical column becomes one one-hot feature per category, a date its
age in days); a SHAP value is additive, so a raw column's contribution is the sum of its features'. For each
record the contributions plus the bias (the expected margin) equal the model's margin output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb

from ml_code.transform.features import FeatureTransform


@dataclass(frozen=True)
class Attributions:
    """Per record: each raw column's contribution to the margin (`values`, records x columns) and the bias."""

    columns: list[str]
    values: np.ndarray
    bias: np.ndarray

    def top(self, row: int, count: int) -> list[dict[str, float | str]]:
        """One record's `count` largest contributions (by size), largest first."""
        order = np.argsort(-np.abs(self.values[row]), kind="stable")[:count]
        return [{"column": self.columns[i], "contribution": float(self.values[row, i])} for i in order]

    def mean_absolute(self) -> dict[str, float]:
        """Mean |SHAP| per raw column: Clarify's global SHAP values."""
        return dict(zip(self.columns, map(float, np.abs(self.values).mean(axis=0)), strict=True))


def feature_contributions(booster: xgb.Booster, features: np.ndarray, names: list[str]) -> np.ndarray:
    """TreeSHAP values of encoded features: records x (features + 1), the bias last. For a multiclass model, the
    values of each record's predicted class."""
    matrix = xgb.DMatrix(features, feature_names=names)
    contributions = booster.predict(matrix, pred_contribs=True)
    if contributions.ndim == 3:  # multiclass: records x classes x (features + 1)
        predicted = np.argmax(booster.predict(matrix, output_margin=True), axis=1)
        contributions = contributions[np.arange(len(contributions)), predicted]
    return contributions


def by_column(contributions: np.ndarray, transform: FeatureTransform) -> Attributions:
    """Sum each raw column's feature contributions (the one-hot parts of a categorical, for one); columns in the
    model's input order, a column none of whose features the model kept at zero."""
    sources = transform.source_columns()
    columns = list(transform.input_columns)
    position = {column: index for index, column in enumerate(columns)}
    spread = np.zeros((len(transform.features), len(columns)))
    for row, feature in enumerate(transform.features):
        spread[row, position[sources[feature]]] = 1.0
    return Attributions(columns=columns, values=contributions[:, :-1] @ spread, bias=contributions[:, -1])


def explain(booster: xgb.Booster, transform: FeatureTransform, records: pd.DataFrame) -> Attributions:
    """Attributions of raw records to the model's margin, by raw column."""
    features = transform.apply(records).to_numpy(dtype=float)
    return by_column(feature_contributions(booster, features, transform.features), transform)
