"""The feature transform: raw records -> model features, fitted on the training split only, stored as JSON.

Preprocessing fits it; training copies it into the model directory; inference applies it to raw requests.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_code.contracts.contract import ContractError, DatasetContract

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
NEAR_CONSTANT_SHARE = 0.999  # a feature whose most frequent value covers more of the rows carries no signal
MAX_ABS_CORRELATION = 0.95  # of two features correlated more strongly, the one less related to the target goes


@dataclass(frozen=True)
class NumericStats:
    median: float
    mean: float
    std: float


@dataclass(frozen=True)
class CategoricalStats:
    mode: str
    categories: list[str]


@dataclass(frozen=True)
class FeatureTransform:
    """Everything learned from the training split, and the order of the features the model sees."""

    contract_name: str
    problem_type: str
    input_columns: list[str]
    numeric: dict[str, NumericStats]
    categorical: dict[str, CategoricalStats]
    datetime_age: dict[str, str]
    reference_date: dict[str, str]
    features: list[str]
    classes: list[str]
    positive_label: Any = None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Raw records -> the model's feature matrix (float, in `features` order)."""
        missing = [column for column in self.input_columns if column not in frame.columns]
        if missing:
            raise ContractError(f"missing input column(s) {missing}; expected {self.input_columns}")
        return self._encode(frame, report=True)[self.features]

    def _encode(self, frame: pd.DataFrame, *, report: bool) -> pd.DataFrame:
        # numpy columns, not pandas Series arithmetic: the endpoint encodes one record per request, where
        # pandas' per-operation overhead would be most of the latency
        encoded: dict[str, np.ndarray] = {}
        raw_numeric = {column: frame[column] for column in self.numeric if column in frame.columns}
        for column, feature in self.datetime_age.items():
            raw_numeric[feature] = age_in_days(frame[column], pd.Timestamp(self.reference_date[column]))
        for column, stats in self.numeric.items():
            values = coerce_numeric(raw_numeric[column], column, report=report).to_numpy(dtype=float, copy=True)
            values[np.isnan(values)] = stats.median
            encoded[feature_name(column)] = (values - stats.mean) / stats.std
        for column, stats in self.categorical.items():
            values = as_category_text(frame[column]).to_numpy(dtype=object)
            values[pd.isna(values)] = stats.mode
            for category in stats.categories:
                encoded[one_hot_name(column, category)] = (values == category).astype(float)
        return pd.DataFrame(encoded, index=frame.index)

    def encode_target(self, target: pd.Series) -> pd.Series:
        """Raw target values -> what the model learns: 0/1, a class index, or a number."""
        if self.problem_type == "binary_classification":
            positive = str(self.positive_label)
            return as_category_text(target).map(lambda value: float(value == positive))
        if self.problem_type == "multiclass_classification":
            index = {label: float(i) for i, label in enumerate(self.classes)}
            labels = as_category_text(target)
            unknown = sorted(set(labels.dropna()) - set(index))
            if unknown:
                raise ContractError(f"target value(s) {unknown} were not in the training split {self.classes}")
            return labels.map(index)
        return coerce_numeric(target, "target")

    def to_json(self) -> str:
        return json.dumps({"format_version": FORMAT_VERSION, **asdict(self)}, indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureTransform:
        raw = json.loads(text)
        version = raw.pop("format_version", None)
        if version != FORMAT_VERSION:
            raise ValueError(f"feature transform format {version!r} is not {FORMAT_VERSION}; re-run preprocessing")
        raw["numeric"] = {k: NumericStats(**v) for k, v in raw["numeric"].items()}
        raw["categorical"] = {k: CategoricalStats(**v) for k, v in raw["categorical"].items()}
        return cls(**raw)


def fit_transform(train: pd.DataFrame, contract: DatasetContract) -> FeatureTransform:
    """Learn the transform from the training split: imputation, scaling, categories, and which features to keep."""
    input_columns = list(contract.feature_columns(train.columns))
    reference_date = {}
    derived = {}
    for column, feature in contract.datetime_age.items():
        dates = parse_dates(train[column])
        if dates.isna().all():
            raise ContractError(f"date column {column!r} has no parseable date in the training split")
        reference_date[column] = dates.max().isoformat()
        derived[feature] = age_in_days(train[column], dates.max())

    numeric = {}
    numeric_values = {column: train[column] for column in contract.numeric_features(train.columns)}
    numeric_values.update(derived)
    for column, raw in numeric_values.items():
        values = coerce_numeric(raw, column, report=False)  # counted when the splits are transformed
        if values.isna().all():
            raise ContractError(f"column {column!r} is entirely missing (or non-numeric) in the training split")
        median = float(values.median())
        filled = values.fillna(median)
        with np.errstate(over="ignore"):  # an overflow is reported below, naming the column
            mean, std = float(filled.mean()), float(filled.std(ddof=0))
        if not (math.isfinite(mean) and math.isfinite(std)):
            raise ContractError(
                f"column {column!r}: its values (up to {float(filled.abs().max()):.3g} in magnitude) overflow the "
                "mean and scale; rescale the column (e.g. to thousands) before training"
            )
        numeric[column] = NumericStats(median=median, mean=mean, std=std if std > 0 else 1.0)

    categorical = {}
    for column in contract.categorical:
        values = as_category_text(train[column])
        if values.isna().all():
            raise ContractError(f"column {column!r} is entirely missing in the training split")
        mode = str(values.mode().sort_values().iloc[0])
        categorical[column] = CategoricalStats(mode=mode, categories=sorted(values.fillna(mode).unique()))

    classes = []
    if contract.problem_type == "multiclass_classification":
        classes = sorted(as_category_text(train[contract.target]).dropna().unique())

    draft = FeatureTransform(
        contract_name=contract.name,
        problem_type=contract.problem_type,
        input_columns=input_columns,
        numeric=numeric,
        categorical=categorical,
        datetime_age=dict(contract.datetime_age),
        reference_date=reference_date,
        features=[],
        classes=classes,
        positive_label=None if contract.positive_label is None else str(contract.positive_label).strip(),
    )
    encoded = draft._encode(train, report=False)
    features = select_features(encoded, draft.encode_target(train[contract.target]))
    logger.info("kept %d of %d encoded features", len(features), encoded.shape[1])
    return FeatureTransform(**{**draft.__dict__, "features": features})


def select_features(encoded: pd.DataFrame, target: pd.Series) -> list[str]:
    """Drop near-constant features; then, of each pair correlated above the limit, keep the feature that is
    more correlated with the target (so the most informative of a redundant group survives)."""
    varied = []
    for column in encoded.columns:
        top_share = encoded[column].value_counts(normalize=True, dropna=False).iloc[0]
        if top_share > NEAR_CONSTANT_SHARE:
            logger.info("dropping near-constant feature %r (%.4f of rows share one value)", column, top_share)
        else:
            varied.append(column)
    correlation = encoded[varied].corr().abs().to_numpy()
    relevance = encoded[varied].corrwith(target.astype(float)).abs().fillna(0.0).to_numpy()
    kept: list[int] = []
    for i in sorted(range(len(varied)), key=lambda i: (-relevance[i], i)):
        partner = next((j for j in kept if correlation[i, j] > MAX_ABS_CORRELATION), None)
        if partner is None:
            kept.append(i)
        else:
            logger.info("dropping %r: |r| = %.3f with %r", varied[i], correlation[i, partner], varied[partner])
    return [varied[i] for i in sorted(kept)]


def coerce_numeric(values: pd.Series, column: str, *, report: bool = True) -> pd.Series:
    """Numbers as floats; a value that is not a number, or is infinite, becomes missing and is counted in the
    log (infinity has no place in a mean, a scale or a JSON document)."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    array = numbers.to_numpy()
    infinite = np.isinf(array)
    if infinite.any():  # copied only then: scoring one record a request is the hot path
        array = np.where(infinite, np.nan, array)
        numbers = pd.Series(array, index=numbers.index, name=numbers.name)
    if report:  # counted on arrays: on a one-record request, Series operations would cost more than the parse
        coerced = int(np.count_nonzero(np.isnan(array) & pd.notna(values.to_numpy()) & ~infinite))
        if coerced:
            logger.warning("column %r: %d non-numeric value(s) coerced to missing and imputed", column, coerced)
        if infinite.any():
            logger.warning(
                "column %r: %d infinite value(s) treated as missing and imputed", column, int(infinite.sum())
            )
    return numbers


def as_category_text(values: pd.Series) -> pd.Series:
    """Category values as text (a numeric-looking category stays a category); missing stays missing."""

    def text(value: Any) -> Any:
        if pd.isna(value):
            return np.nan
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()

    return values.map(text)


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates (ISO strings, with or without a time zone) as naive UTC timestamps; unparseable ones missing."""
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed").dt.tz_localize(None)


def age_in_days(values: pd.Series, reference: pd.Timestamp) -> pd.Series:
    """Whole days from each date to the reference date learned in training (missing stays missing)."""
    return (reference - parse_dates(values)).dt.total_seconds() / 86400.0


# Characters xgboost refuses in feature names, and the two the names themselves use; each becomes %XX, so that
# a name is valid whatever the raw values are, and distinct values keep distinct names.
_ESCAPED = {character: f"%{ord(character):02X}" for character in "%[]<="}
_ESCAPE = str.maketrans(_ESCAPED)


def feature_name(name: str) -> str:
    """A column's feature name: the column, with `%`, `[`, `]`, `<` and `=` percent-encoded."""
    return name.translate(_ESCAPE)


def one_hot_name(column: str, category: str) -> str:
    """`<column>=<category>`, both parts encoded as `feature_name` does (so the `=` between them is the only one)."""
    return f"{feature_name(column)}={feature_name(category)}"
