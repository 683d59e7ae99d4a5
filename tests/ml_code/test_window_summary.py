"""A window summarised as it streams by: exactly the baseline's statistics while it is small, the same whatever the
chunks, and bounded however large it grows, its sample uniform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from local_mode.churn_data import generate
from ml_code.contracts.contract import load_contract
from ml_code.monitoring.data_quality import statistics
from ml_code.monitoring.window_summary import MAX_COUNTED, SAMPLE_SIZE, Reservoir, WindowSummary, summarize

CHURN = load_contract("customer-churn")


def features(rows: int, seed: int) -> pd.DataFrame:
    frame = pd.DataFrame(list(generate(rows, seed=seed)))
    frame = frame[list(CHURN.feature_columns(frame.columns))]
    return frame.astype(object).where(frame.notna(), "").astype(str)


def assert_close(found, expected, where: str = "") -> None:
    """Equal, floats to 1e-9 relative (moments are summed in another order)."""
    if isinstance(expected, dict):
        assert found.keys() == expected.keys(), where
        for key in expected:
            assert_close(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(found) == len(expected), where
        for index, (one, other) in enumerate(zip(found, expected, strict=True)):
            assert_close(one, other, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert found == pytest.approx(expected, rel=1e-9, abs=1e-12), where
    else:
        assert found == expected, where


def test_a_window_smaller_than_the_sample_has_exactly_the_baselines_statistics():
    frame = features(3000, seed=1)
    assert_close(summarize(frame).statistics(), statistics(frame))


def test_chunks_give_the_same_counts_moments_and_extremes_as_one_frame():
    frame = features(4000, seed=2)
    whole = summarize(frame)
    chunked = WindowSummary(list(frame.columns))
    for start in range(0, len(frame), 700):
        chunked.add(frame.iloc[start : start + 700])
    assert chunked.rows == whole.rows == len(frame)
    for column in frame.columns:
        one, many = whole.summaries[column], chunked.summaries[column]
        assert (many.present, many.missing, many.numeric, many.integral) == (
            one.present,
            one.missing,
            one.numeric,
            one.integral,
        )
        assert (many.mean, many.m2, many.low, many.high) == pytest.approx((one.mean, one.m2, one.low, one.high))
        assert many.counts == one.counts


def test_memory_is_bounded_however_large_the_window_and_its_sample_is_uniform():
    reservoir = Reservoir(1000, np.random.default_rng(0))
    for start in range(0, 200_000, 5000):
        reservoir.offer(list(range(start, start + 5000)))
    kept = np.array(reservoir.items)
    assert len(kept) == 1000 and len(set(kept)) == 1000
    assert abs(kept.mean() - 100_000) < 4 * 200_000 / np.sqrt(12 * 1000)  # a uniform sample's mean, 4 sigma
    numbers = pd.DataFrame({"x": [str(i) for i in range(SAMPLE_SIZE * 3)]})
    summary = summarize(numbers)
    column = summary.summaries["x"]
    assert len(column.sample.items) == SAMPLE_SIZE and column.counts is None  # too many values to count
    assert column.present == SAMPLE_SIZE * 3 and column.low == 0 and column.high == SAMPLE_SIZE * 3 - 1
    assert len(summary.sample.items) <= 2000
    stats = summary.statistics()["features"][0]["numerical_statistics"]
    assert sum(bucket["count"] for bucket in stats["distribution"]["kll"]["buckets"]) == pytest.approx(SAMPLE_SIZE * 3)
    assert MAX_COUNTED < SAMPLE_SIZE * 3


def test_a_column_no_record_had_is_not_seen_and_a_partial_one_is_missing_where_absent():
    summary = WindowSummary(["a", "b"])
    summary.add(pd.DataFrame({"a": ["1", "2"]}))
    summary.add(pd.DataFrame({"a": ["3"], "c": ["x"]}))
    assert summary.seen == {"a"} and summary.summaries["b"].missing == 3
    summary.add(pd.DataFrame({"b": ["y"]}))
    assert summary.seen == {"a", "b"} and summary.summaries["a"].missing == 1
