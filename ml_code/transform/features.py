"""The feature transform: raw records -> model features, fitted on the training split only, stored as JSON.

Preprocessing fits it; training copies it into the model directory; inference applies it to raw requests.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml_code.contracts.contract import ContractError, DatasetContract
from ml_code.transform.reduction import OneHost

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
NEAR_CONSTANT_SHARE = 0.999  # a feature whose most frequent value covers more of the rows carries no signal
MAX_ABS_CORRELATION = 0.95  # of two features correlated more strongly, the one less related to the target goes
FIT_CHUNK_ROWS = 100_000  # rows encoded at once to learn which features to keep


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
    negative_label: Any = None  # binary: the label of a prediction below 0.5, as the data spells it

    @property
    def negative_answer(self) -> str:
        """The label a binary model answers below 0.5 (a transform from before it was learned: `not <positive>`)."""
        return self.negative_label if self.negative_label is not None else f"not {self.positive_label}"

    def apply(self, frame: pd.DataFrame, unusable: dict[str, tuple[int, int]] | None = None) -> pd.DataFrame:
        """Raw records -> the model's feature matrix (float, in `features` order); `unusable` gets, per numeric or
        date input column, (values present that are not of its type and were imputed, values present)."""
        missing = [column for column in self.input_columns if column not in frame.columns]
        if missing:
            raise ContractError(f"missing input column(s) {missing}; expected {self.input_columns}")
        return self._encode(frame, report=True, unusable=unusable)[self.features]

    def _encode(
        self, frame: pd.DataFrame, *, report: bool, unusable: dict[str, tuple[int, int]] | None = None
    ) -> pd.DataFrame:
        encoded, codes = self.encoded_parts(frame, report=report, unusable=unusable)
        for column, stats in self.categorical.items():
            for index, category in enumerate(stats.categories):
                encoded[one_hot_name(column, category)] = (codes[column] == index).astype(float)
        return pd.DataFrame(encoded, index=frame.index)

    def encoded_parts(
        self, frame: pd.DataFrame, *, report: bool = True, unusable: dict[str, tuple[int, int]] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The numeric features (imputed and scaled, by feature name) and, per categorical column, each row's
        position among its categories (missing: the mode's; -1: a category training never saw): the encoding,
        before the categories are spread into one-hot features. `unusable`: see `apply`."""
        # numpy columns, not pandas Series arithmetic: the endpoint encodes one record per request, where
        # pandas' per-operation overhead would be most of the latency
        numeric: dict[str, np.ndarray] = {}
        raw_numeric = {column: frame[column] for column in self.numeric if column in frame.columns}
        for column, feature in self.datetime_age.items():
            raw_numeric[feature] = age_in_days(frame[column], pd.Timestamp(self.reference_date[column]))
        sources = {feature: column for column, feature in self.datetime_age.items()}
        for column, stats in self.numeric.items():
            values = coerce_numeric(raw_numeric[column], column, report=report).to_numpy(dtype=float, copy=True)
            imputed = np.isnan(values)
            if unusable is not None:  # the raw column's present values that became missing here
                source = sources.get(column, column)
                present = pd.notna(frame[source].to_numpy(dtype=object))
                unusable[source] = (int(np.count_nonzero(present & imputed)), int(np.count_nonzero(present)))
            values[imputed] = stats.median
            numeric[feature_name(column)] = (values - stats.mean) / stats.std
        codes: dict[str, np.ndarray] = {}
        for column, stats in self.categorical.items():
            values = as_category_text(frame[column])
            codes[column] = category_codes(values, stats.categories)
            codes[column][values.isna().to_numpy()] = stats.categories.index(stats.mode)
        return numeric, codes

    def one_hot_features(self) -> dict[str, tuple[str, int]]:
        """Each one-hot feature's name -> (its categorical column, its category's position there)."""
        return {
            one_hot_name(column, category): (column, index)
            for column, stats in self.categorical.items()
            for index, category in enumerate(stats.categories)
        }

    def source_columns(self) -> dict[str, str]:
        """Each feature's name -> the raw input column it is made from (a one-hot feature's categorical column, a
        date's age its date column), for explanations by the columns a client sends."""
        dates = {feature: column for column, feature in self.datetime_age.items()}
        sources = {feature_name(column): dates.get(column, column) for column in self.numeric}
        sources.update({feature: column for feature, (column, _) in self.one_hot_features().items()})
        return {feature: sources[feature] for feature in self.features}

    def encoded_matrix(self, frame: pd.DataFrame, names: list[str]) -> np.ndarray:
        """The encoded features `names` of `frame`'s rows, as one float64 matrix (no DataFrame in between)."""
        numeric, codes = self.encoded_parts(frame, report=False)
        one_hot = self.one_hot_features()
        matrix = np.empty((len(frame), len(names)), order="F")
        for position, name in enumerate(names):
            if name in numeric:
                matrix[:, position] = numeric[name]
            else:
                column, index = one_hot[name]
                matrix[:, position] = codes[column] == index
        return matrix

    def encode_target(self, target: pd.Series) -> pd.Series:
        """Raw target values -> what the model learns: 0/1, a class index, or a number."""
        if self.problem_type == "binary_classification":
            positive = (as_category_text(target) == str(self.positive_label)).to_numpy(dtype=float)
            return pd.Series(positive, index=target.index, name=target.name)
        if self.problem_type == "multiclass_classification":
            labels = as_category_text(target)
            unknown = sorted(set(labels.dropna()) - set(self.classes))
            if unknown:
                raise ContractError(f"target value(s) {unknown} were not in the training split {self.classes}")
            codes = category_codes(labels, self.classes).astype(float)
            codes[codes < 0] = np.nan
            return pd.Series(codes, index=target.index, name=target.name)
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


def fit_transform(train: pd.DataFrame, contract: DatasetContract, reducer: OneHost | None = None) -> FeatureTransform:
    """Learn the transform from the training split: imputation, scaling, categories, and which features to keep.
    With a `reducer` over several hosts (reduction.py), `train` is this host's shard of the split and every
    statistic is the whole split's: every host learns the same transform."""
    reducer = reducer or OneHost()
    input_columns = list(contract.feature_columns(train.columns))
    reference_date = {}
    derived = {}
    for column, feature in contract.datetime_age.items():
        newest = reducer.maximum(parse_dates(train[column]).max())
        if pd.isna(newest):
            raise ContractError(f"date column {column!r} has no parseable date in the training split")
        reference_date[column] = newest.isoformat()
        derived[feature] = age_in_days(train[column], newest)

    rows = reducer.total(len(train))
    numeric = {}
    # Of each feature, the share of rows holding its most common value (near-constant features carry nothing);
    # for a numeric feature, the median's share: a value held by more than half the rows is the median, so
    # that share decides whether one value dominates, at the cost of one comparison.
    top_share = {}
    numeric_values = {column: train[column] for column in contract.numeric_features(train.columns)}
    numeric_values.update(derived)
    names = list(numeric_values)
    for start in range(0, len(names), reducer.columns_at_once):  # a few columns parsed at a time: memory
        parsed = {  # counted when the splits are transformed
            column: coerce_numeric(numeric_values[column], column, report=False)
            for column in names[start : start + reducer.columns_at_once]
        }
        for (column, values), median in zip(parsed.items(), reducer.medians(list(parsed.values())), strict=True):
            if math.isnan(median):
                raise ContractError(f"column {column!r} is entirely missing (or non-numeric) in the training split")
            filled = values.fillna(median)
            with np.errstate(over="ignore"):  # an overflow is reported below, naming the column
                mean, std = reducer.mean_std(filled)
            if not (math.isfinite(mean) and math.isfinite(std)):
                largest = reducer.maximum(float(filled.abs().max()) if len(filled) else math.nan)
                raise ContractError(
                    f"column {column!r}: its values (up to {largest:.3g} in magnitude) overflow the "
                    "mean and scale; rescale the column (e.g. to thousands) before training"
                )
            numeric[column] = NumericStats(median=median, mean=mean, std=std if std > 0 else 1.0)
            same = reducer.total(int(np.count_nonzero(filled.to_numpy() == median)))
            top_share[feature_name(column)] = same / rows

    categorical = {}
    for column in contract.categorical:
        values = as_category_text(train[column])
        counts = reducer.counts(values)
        counts = counts[counts > 0]  # a categorical column keeps the categories of rows dropped before
        if counts.empty:
            raise ContractError(f"column {column!r} is entirely missing in the training split")
        mode = str(min(counts.index[counts == counts.max()].astype(object)))
        counts = counts.astype("int64")
        counts[mode] += rows - int(counts.sum())  # the missing values, imputed with the mode
        shares = counts / rows
        categorical[column] = CategoricalStats(mode=mode, categories=sorted(shares.index.astype(object)))
        for category in categorical[column].categories:
            top_share[one_hot_name(column, category)] = float(max(shares[category], 1.0 - shares[category]))

    classes = []
    if contract.problem_type == "multiclass_classification":
        classes = sorted(reducer.union(set(as_category_text(train[contract.target]).dropna().unique())))
    positive = None if contract.positive_label is None else str(contract.positive_label).strip()
    negative = None
    if contract.problem_type == "binary_classification":
        labels = reducer.counts(as_category_text(train[contract.target]))
        negative = _negative_label(labels[labels > 0], positive, contract.negative_label)

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
        positive_label=positive,
        negative_label=negative,
    )
    varied = []
    for column, share in top_share.items():
        if share > NEAR_CONSTANT_SHARE:
            logger.info("dropping near-constant feature %r (%.4f of rows share one value)", column, share)
        else:
            varied.append(column)
    encoded = (
        draft.encoded_matrix(train.iloc[start : start + FIT_CHUNK_ROWS], varied)
        for start in range(0, len(train), FIT_CHUNK_ROWS)
    )
    target = draft.encode_target(train[contract.target]).to_numpy(dtype=float)
    correlation, relevance = correlations(encoded, target, len(varied), reducer)
    features = select_features(varied, correlation, relevance)
    logger.info("kept %d of %d encoded features", len(features), len(top_share))
    return FeatureTransform(**{**draft.__dict__, "features": features})


def _negative_label(counts: pd.Series, positive: str, named) -> str:
    """The contract's negative label, else the training split's most common label other than the positive one (the
    first in sorted order on a tie), from the labels' `counts`."""
    if named is not None:
        return str(named).strip()
    counts = counts[counts.index != positive]
    return str(sorted(counts.index[counts == counts.max()])[0]) if len(counts) else f"not {positive}"


def correlations(
    chunks: Iterable[np.ndarray], target: np.ndarray, width: int, reducer: OneHost | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The `width` features' correlation matrix and each feature's correlation with the target, from the encoded
    training split in chunks of rows (co-moments summed chunk by chunk: memory stays one chunk, whatever the
    rows; with a reducer over several hosts, summed over the hosts). A constant target correlates with nothing
    (0)."""
    reducer = reducer or OneHost()
    rows, sums, products, target_products = 0, np.zeros(width), np.zeros((width, width)), np.zeros(width)
    for values in chunks:
        part = target[rows : rows + len(values)]
        sums += values.sum(axis=0)
        products += values.T @ values
        target_products += part @ values
        rows += len(values)
    rows, sums, products, target_products = (reducer.total(v) for v in (rows, sums, products, target_products))
    if width == 0 or rows == 0:
        return np.zeros((0, 0)), np.zeros(0)
    target_mean, target_std = reducer.mean_std(target)
    means = sums / rows
    covariance = products / rows - np.outer(means, means)
    deviation = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    target_covariance = target_products / rows - means * target_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation = np.abs(covariance / np.outer(deviation, deviation))
        relevance = np.abs(target_covariance / (deviation * target_std))
    return correlation, np.nan_to_num(relevance, nan=0.0, posinf=0.0, neginf=0.0)


def select_features(names: list[str], correlation: np.ndarray, relevance: np.ndarray) -> list[str]:
    """Of each pair of features correlated above the limit, keep the one more correlated with the target (so
    the most informative of a redundant group survives)."""
    kept: list[int] = []
    for i in sorted(range(len(names)), key=lambda i: (-relevance[i], i)):
        partner = next((j for j in kept if correlation[i, j] > MAX_ABS_CORRELATION), None)
        if partner is None:
            kept.append(i)
        else:
            logger.info("dropping %r: |r| = %.3f with %r", names[i], correlation[i, partner], names[partner])
    return [names[i] for i in sorted(kept)]


def coerce_numeric(values: pd.Series, column: str, *, report: bool = True) -> pd.Series:
    """Numbers as floats; a value that is not a number, or is infinite, becomes missing and is counted in the
    log (infinity has no place in a mean, a scale or a JSON document)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # each distinct text parsed once
        parsed = pd.to_numeric(pd.Series(values.cat.categories, dtype=object), errors="coerce").to_numpy(float)
        codes = values.cat.codes.to_numpy()
        numbers = pd.Series(np.append(parsed, np.nan)[codes], index=values.index, name=values.name)
    else:
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
    """Category values as text (a numeric-looking category stays a category); missing stays missing. A
    categorical's distinct values are converted once each, and it stays categorical."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        texts = [_category_text(value) for value in values.cat.categories]
        if len(set(texts)) == len(texts):
            return values.cat.rename_categories(texts)
        merged = np.array([*texts, np.nan], dtype=object)  # two raw values are one category (" a" and "a")
        return pd.Series(merged[values.cat.codes.to_numpy()], index=values.index, name=values.name)
    return values.map(_category_text)


def _category_text(value: Any) -> Any:
    if pd.isna(value):
        return np.nan
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def category_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position in `categories`, -1 where it is none of them (or missing)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.set_categories(categories).cat.codes.to_numpy().astype(np.int64)
    position = {category: index for index, category in enumerate(categories)}
    return np.fromiter((position.get(value, -1) for value in values), dtype=np.int64, count=len(values))


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates (ISO strings, with or without a time zone) as naive UTC timestamps; unparseable ones missing."""
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed").dt.tz_localize(None)


def age_in_days(values: pd.Series, reference: pd.Timestamp) -> pd.Series:
    """Days from each date to the reference date learned in training (missing stays missing, and so does a date
    too far from it for a span in nanoseconds: about 292 years)."""
    dates = parse_dates(values)
    nanoseconds, reference_ns = dates.to_numpy(dtype="datetime64[ns]").view(np.int64), reference.as_unit("ns").value
    span = reference_ns - nanoseconds  # wraps around where it overflows: the signs tell
    overflow = ((reference_ns ^ nanoseconds) & (reference_ns ^ span)) < 0
    return (reference - dates.mask(overflow)).dt.total_seconds() / 86400.0


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
