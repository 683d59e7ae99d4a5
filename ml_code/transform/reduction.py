"""The statistics fitting the feature transform needs, over the training rows of one host or of several.

`fit_transform` (features.py) asks a reducer for every statistic of the training split: totals, maxima, medians,
means and deviations, value counts, unions. `OneHost` computes them from the rows at hand, as pandas does.
`Shards` computes them over the rows of every host of a processing job (each holding a shard of the split), through
XGBoost's collective (ml_code/cluster.py), combined once per statistic; every host gets the same answer:
- counts, totals, maxima, unions, value counts and the median are exact: the median is the k-th smallest value of
  all hosts, found by bisecting the order of float64 values with a count of the values below each guess (64 rounds);
- means and deviations are the same sums added in another order: equal to one host's within float64 rounding (a
  relative difference of about 1e-15).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from ml_code.cluster import Cluster, gather

_MAGNITUDE = np.int64(0x7FFFFFFFFFFFFFFF)


class OneHost:
    """The statistics of the rows at hand."""

    columns_at_once = 1  # numeric columns `medians` is asked about together

    def total(self, value: Any) -> Any:
        return value

    def maximum(self, value: Any) -> Any:
        return value

    def union(self, items: set) -> set:
        return items

    def counts(self, values: pd.Series) -> pd.Series:
        """How often each value occurs (missing values not counted), in no particular order."""
        return values.value_counts(sort=False)

    def medians(self, columns: list[pd.Series]) -> list[float]:
        """Each column's median (missing values not counted)."""
        return [float(values.median()) for values in columns]

    def mean_std(self, values: pd.Series | np.ndarray) -> tuple[float, float]:
        """The mean and the standard deviation (ddof=0) of values with none missing."""
        return float(values.mean()), float(values.std(ddof=0))


class Shards(OneHost):
    """The statistics of the rows of every host of `cluster`; every host calls each method in the same order."""

    columns_at_once = 8  # each round of the medians' bisection gathers once for all of them

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def gather(self, value: Any) -> list:
        """Every host's `value`, in the hosts' order."""
        return gather(self.cluster, value)

    def total(self, value: Any) -> Any:
        parts = self.gather(value)
        return sum(parts[1:], parts[0])

    def maximum(self, value: Any) -> Any:
        present = [part for part in self.gather(value) if not pd.isna(part)]
        return max(present) if present else value

    def union(self, items: set) -> set:
        return set().union(*self.gather(items))

    def counts(self, values: pd.Series) -> pd.Series:
        combined: Counter = Counter()
        for part in self.gather(values.value_counts(sort=False).to_dict()):
            combined.update(part)
        return pd.Series(combined, dtype="int64")

    def medians(self, columns: list[pd.Series]) -> list[float]:
        keys = [np.sort(_order_keys(values.dropna().to_numpy(dtype=float))) for values in columns]
        counts = self.total(np.array([len(column) for column in keys], dtype=np.int64))
        wanted = [(count - 1) // 2 for count in counts] + [count // 2 for count in counts]
        found = self._kth(keys + keys, wanted)
        medians = []
        for count, lower, upper in zip(counts, found[: len(keys)], found[len(keys) :], strict=True):
            low, high = float(_from_order_key(lower)), float(_from_order_key(upper))
            if count == 0:
                medians.append(math.nan)
            else:  # numpy's median of an even count: the mean of the two middle values
                medians.append(low if lower == upper else float(np.mean([low, high])))
        return medians

    def _kth(self, keys: list[np.ndarray], ks: list[int]) -> list[int]:
        """For each column of sorted order keys, its k-th smallest (from 0) key over all hosts: the least key with
        more than k keys at or below it, bisected over the whole int64 range (64 rounds, one gather each)."""
        low, high = [-(1 << 63)] * len(keys), [(1 << 63) - 1] * len(keys)
        while any(a < b for a, b in zip(low, high, strict=True)):
            middle = [(a + b) // 2 for a, b in zip(low, high, strict=True)]
            below = np.array(
                [np.searchsorted(column, np.int64(m), side="right") for column, m in zip(keys, middle, strict=True)],
                dtype=np.int64,
            )
            totals = self.total(below)
            for i, (total, k) in enumerate(zip(totals, ks, strict=True)):
                if low[i] < high[i]:
                    if total > k:
                        high[i] = middle[i]
                    else:
                        low[i] = middle[i] + 1
        return low

    def mean_std(self, values: pd.Series | np.ndarray) -> tuple[float, float]:
        array = np.asarray(values, dtype=float)
        count = self.total(len(array))
        mean = self.total(float(array.sum())) / count
        deviation = self.total(float(np.square(array - mean).sum()))
        return mean, math.sqrt(deviation / count)


def _order_keys(values: np.ndarray) -> np.ndarray:
    """float64 values as int64 keys in the same order (negative floats' bits flipped but the sign's)."""
    bits = values.view(np.int64)
    return bits ^ ((bits >> 63) & _MAGNITUDE)


def _from_order_key(key: int) -> np.float64:
    bits = np.int64(key)
    return (bits ^ ((bits >> np.int64(63)) & _MAGNITUDE)).view(np.float64)
