"""A few JSON records' features without pandas: the endpoint's hot path, where one record comes per request.

`FeatureTransform.apply` encodes a table; on one record its pandas operations cost twenty times xgboost's own
prediction. `RecordEncoder.encode` gives the same floats for records whose every value is plainly of its
column's kind: a number or nothing in a number column, text, a number or nothing in a category column, an ISO
8601 date (`2024-05-01`, `2024-05-01T10:00:00.5+02:00`) or nothing in a date column. Anything else (text in a
number column, an infinity, true/false, another date spelling, a missing column, a nested value) makes it
answer None, and the request goes the table's way, which counts, imputes or refuses such values as it always
has. The tests hold the two to the same bits on generated records and on every kind of value.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import pandas as pd

from ml_code.transform.features import FeatureTransform, feature_name

FEW_RECORDS = 16  # more records than this go the table's way, which is faster per record on a batch
_EXACT_INT = 2**53  # larger integers are not all floats; pandas reads them its own way
_ISO_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?"
)
_EPOCH = date(1970, 1, 1).toordinal()
_DAY_NS = 86_400 * 10**9
_FIRST_YEAR, _LAST_YEAR = 1700, 2200  # inside pandas' nanosecond range (1677 to 2262) with room to spare


class RecordEncoder:
    """The transform's encoding of plain records, planned once per model."""

    def __init__(self, transform: FeatureTransform):
        dates = {feature: column for column, feature in transform.datetime_age.items()}
        self._reference_ns = {
            column: pd.Timestamp(text).as_unit("ns").value for column, text in transform.reference_date.items()
        }
        # each numeric feature: (its name, the raw column, whether that is a date, median, mean, std)
        self._numeric = [
            (feature_name(column), dates.get(column, column), column in dates, stats.median, stats.mean, stats.std)
            for column, stats in transform.numeric.items()
        ]
        self._categorical = [
            (column, {category: index for index, category in enumerate(stats.categories)},
             stats.categories.index(stats.mode))
            for column, stats in transform.categorical.items()
        ]  # fmt: skip
        one_hot = transform.one_hot_features()
        self._slots = [(name, *one_hot[name]) if name in one_hot else (name, None, 0) for name in transform.features]

    def encode(self, records: list[dict[str, Any]]) -> list[list[float]] | None:
        """The feature rows of `records` (at most `FEW_RECORDS`), or None when a value is one to judge as a table."""
        if len(records) > FEW_RECORDS:
            return None
        rows = []
        for record in records:
            scaled: dict[str, float] = {}  # by numeric feature
            codes: dict[str, int] = {}  # by categorical column: its category's position, -1 for an unseen one
            for feature, column, is_date, median, mean, std in self._numeric:
                if column not in record:
                    return None
                number = self._date_age(column, record[column]) if is_date else _number(record[column])
                if number is None:
                    return None
                scaled[feature] = ((median if math.isnan(number) else number) - mean) / std
            for column, positions, mode in self._categorical:
                if column not in record:
                    return None
                text = _category(record[column])
                if text is None:
                    return None
                codes[column] = mode if text is _MISSING else positions.get(text, -1)
            rows.append([scaled[name] if of is None else float(codes[of] == index) for name, of, index in self._slots])
        return rows

    def _date_age(self, column: str, value: Any) -> float | None:
        """Days from the date to the training's reference date, as pandas computes them (NaN: missing)."""
        if _is_missing(value):
            return math.nan
        nanoseconds = _iso_nanoseconds(value) if isinstance(value, str) else None
        if nanoseconds is None:
            return None
        span = self._reference_ns[column] - nanoseconds
        return float(span) / 1e9 / 86400.0 if abs(span) < 2**63 else None  # a longer span is missing to the table


_MISSING = object()


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    """A number column's value as a float (NaN: missing), or None for anything but a finite number."""
    if _is_missing(value):
        return math.nan
    if type(value) is int and -_EXACT_INT <= value <= _EXACT_INT:
        return float(value)
    if type(value) is float and math.isfinite(value):
        return value
    return None


def _category(value: Any) -> Any:
    """A category column's value as the transform's text (`_MISSING`: missing), or None for a kind to judge as a
    table."""
    if _is_missing(value):
        return _MISSING
    if type(value) is str:
        return value.strip()
    if type(value) is int and -_EXACT_INT <= value <= _EXACT_INT:
        return str(value)
    if type(value) is float and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def _iso_nanoseconds(text: str) -> int | None:
    """An ISO 8601 date or date-time as nanoseconds since 1970 in UTC (a time without an offset is UTC), or None."""
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if not _FIRST_YEAR <= int(year) <= _LAST_YEAR:
        return None
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH
    except ValueError:  # 2024-02-30
        return None
    hour, minute, second = int(hour or 0), int(minute or 0), int(second or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    seconds = hour * 3600 + minute * 60 + second
    if offset and offset != "Z":
        offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
        if offset_hours > 23 or offset_minutes > 59:
            return None
        seconds -= (1 if offset[0] == "+" else -1) * (offset_hours * 3600 + offset_minutes * 60)
    return days * _DAY_NS + seconds * 10**9 + int((fraction or "").ljust(9, "0"))
