"""A monitoring window's records summarised as they stream by, in memory that does not grow with the window.

Per column: exact counts (present, missing, numeric, integral), exact moments and extremes of its numbers, exact
value counts while it has at most MAX_COUNTED distinct values, and a uniform sample (reservoir) of at most
SAMPLE_SIZE present values, from which the sketch, the histogram and the drift distance come. A window of up to
SAMPLE_SIZE values per column is summarised exactly (the sample is all of them), as data_quality.statistics
summarises a baseline; a larger one by its sample, whose own chance the drift test allows for (monitor.check
takes the sample's size as the window's). Also a uniform sample of up to ROW_SAMPLE_SIZE whole records, for SHAP.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_code.monitoring.data_quality import histogram_buckets, sketch

SAMPLE_SIZE = 20_000
MAX_COUNTED = 10_000
ROW_SAMPLE_SIZE = 2_000
_INTEGER = r"[+-]?\d+"


class Reservoir:
    """Algorithm R, vectorised per chunk: after n offers each item is kept with probability size / n."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng, self.offered, self.items = size, rng, 0, []

    def offer(self, items: list) -> None:
        room = max(self.size - len(self.items), 0)
        self.items.extend(items[:room])
        rest = items[room:]
        if rest:
            seen = self.offered + room + np.arange(len(rest))  # how many came before each
            slots = self.rng.integers(0, seen + 1)
            for slot, item in zip(slots, rest, strict=True):  # in order: a later pick replaces an earlier one
                if slot < self.size:
                    self.items[slot] = item
        self.offered += len(items)


class ColumnSummary:
    def __init__(self, rng: np.random.Generator) -> None:
        self.present = self.missing = self.numeric = self.integral = 0
        self.mean = self.m2 = 0.0
        self.low, self.high = np.inf, -np.inf
        self.counts: dict[str, int] | None = {}
        self.sample = Reservoir(SAMPLE_SIZE, rng)

    def add(self, values: pd.Series) -> None:
        present = values[values != ""]
        self.missing += len(values) - len(present)
        self.present += len(present)
        numbers = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float)
        is_finite = np.isfinite(numbers)
        finite = numbers[is_finite]
        self.numeric += len(finite)
        self.integral += int((present.str.fullmatch(_INTEGER).to_numpy(dtype=bool) & is_finite).sum())
        if len(finite):  # Chan et al.'s parallel update of the mean and the sum of squared deviations
            total = self.numeric
            delta = finite.mean() - self.mean
            self.m2 += ((finite - finite.mean()) ** 2).sum() + delta**2 * (total - len(finite)) * len(finite) / total
            self.mean += delta * len(finite) / total
            self.low, self.high = min(self.low, finite.min()), max(self.high, finite.max())
        if self.counts is not None:
            for value, count in present.value_counts(sort=False).items():
                self.counts[value] = self.counts.get(value, 0) + int(count)
            if len(self.counts) > MAX_COUNTED:
                self.counts = None  # too many distinct values to count: frequencies come from the sample
        self.sample.offer(present.tolist())

    @property
    def inferred_type(self) -> str:
        if not self.present:
            return "Unknown"
        if self.numeric < self.present:
            return "String"
        return "Integral" if self.integral == self.present else "Fractional"

    def conforming_share(self, expected: str) -> float:
        """The share of present values of the `expected` type (every value conforms to String)."""
        if not self.present or expected in ("String", "Unknown"):
            return 1.0
        return (self.integral if expected == "Integral" else self.numeric) / self.present

    def frequencies(self) -> dict[str, float]:
        """Each value's share of the present values (exact while counted, else the sample's)."""
        if self.counts is not None:
            return {value: count / self.present for value, count in self.counts.items()}
        values, counts = np.unique(np.asarray(self.sample.items, dtype=object).astype(str), return_counts=True)
        return dict(zip(values.tolist(), (counts / counts.sum()).tolist(), strict=True))

    def sample_numbers(self) -> np.ndarray:
        numbers = pd.to_numeric(pd.Series(self.sample.items, dtype=object), errors="coerce").to_numpy(dtype=float)
        return np.sort(numbers[np.isfinite(numbers)])

    def statistics(self, name: str) -> dict:
        """The column's entry of Model Monitor's statistics.json."""
        common = {"num_present": self.present, "num_missing": self.missing}
        kind = self.inferred_type
        if kind in ("Integral", "Fractional"):
            sample = self.sample_numbers()
            buckets = histogram_buckets(sample, float(self.low), float(self.high), self.present / len(sample))
            return {
                "name": name,
                "inferred_type": kind,
                "numerical_statistics": {
                    "common": common,
                    "mean": float(self.mean),
                    "sum": float(self.mean * self.numeric),
                    "std_dev": float(np.sqrt(self.m2 / self.numeric)),
                    "min": float(self.low),
                    "max": float(self.high),
                    "distribution": {"kll": {"buckets": buckets, "sketch": sketch(sample)}},
                },
            }
        frequencies = self.frequencies()
        return {
            "name": name,
            "inferred_type": kind,
            "string_statistics": {
                "common": common,
                "distinct_count": float(len(frequencies)),
                "distribution": {
                    "categorical": {
                        "buckets": [
                            {"value": value, "count": int(round(share * self.present))}
                            for value, share in sorted(frequencies.items())
                        ]
                    }
                },
            },
        }


class WindowSummary:
    """The summaries of `columns` over every record added; a column no record had is not `seen`."""

    def __init__(self, columns: list[str], *, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.columns = list(columns)
        self.rows = 0
        self.seen: set[str] = set()
        self.summaries = {column: ColumnSummary(rng) for column in self.columns}
        self.sample = Reservoir(ROW_SAMPLE_SIZE, rng)

    def add(self, frame: pd.DataFrame) -> None:
        """Records as text (a column of the window absent from `frame` is missing in each of its records)."""
        self.rows += len(frame)
        self.seen |= set(frame.columns) & set(self.columns)
        full = frame.reindex(columns=self.columns).fillna("").astype(str)
        for column in self.columns:
            self.summaries[column].add(full[column])
        self.sample.offer(full.to_dict("records"))

    def statistics(self) -> dict:
        """Model Monitor's statistics.json of the window (the columns seen)."""
        return {
            "version": 0.0,
            "dataset": {"item_count": self.rows},
            "features": [self.summaries[c].statistics(c) for c in self.columns if c in self.seen],
        }

    def sampled_records(self) -> pd.DataFrame:
        return pd.DataFrame(self.sample.items, columns=self.columns)


def summarize(frame: pd.DataFrame, columns: list[str] | None = None) -> WindowSummary:
    """The summary of one frame of text records."""
    summary = WindowSummary(list(frame.columns) if columns is None else columns)
    summary.add(frame)
    return summary
