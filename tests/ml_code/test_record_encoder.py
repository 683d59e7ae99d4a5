"""record_encoder.py: a few plain JSON records encode to the very floats the table path gives, and anything the
table path must judge (text in a number column, an infinity, another date spelling) is left to it."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import numpy as np
import pytest

from local_mode.churn_data import generate
from ml_code.inference import inference
from ml_code.inference.record_encoder import FEW_RECORDS, RecordEncoder
from ml_code.transform.features import FeatureTransform, one_hot_name
from tests.ml_code.endpoint_answers import same_answer_either_way

DATE = "account_created"


@pytest.fixture(scope="module")
def model(churn_model_dir):
    return inference.model_fn(str(churn_model_dir))


@pytest.fixture(scope="module")
def records(model) -> list[dict]:
    """Generated records as a client sends them: numbers as numbers, some values missing (null, or every other
    missing number NaN, which Python's json writes)."""
    columns, nans = model.transform.input_columns, iter([False, True] * 400)
    return [
        {c: math.nan if row[c] is None and c in model.transform.numeric and next(nans) else row[c] for c in columns}
        for row in generate(400, seed=21)
    ]


@pytest.fixture(scope="module")
def widened(model) -> FeatureTransform:
    """The model's transform with categories spelled as numbers are (`5`, `0.1`, `1e-07`), each a feature: a number
    sent for a category must find the one the table path finds."""
    plan = model.transform.categorical["plan"]
    spelled = ["5", "0.1", "1e-07", "10000000000000000", "-250000000000000000000"]
    return replace(
        model.transform,
        categorical={**model.transform.categorical, "plan": replace(plan, categories=plan.categories + spelled)},
        features=model.transform.features + [one_hot_name("plan", category) for category in spelled],
    )


def table_features(transform: FeatureTransform, records: list[dict]) -> tuple[np.ndarray, dict]:
    """The table path's features of `records` sent as JSON, and what it imputed."""
    frame = inference.input_fn(json.dumps(records), "application/json", transform.input_columns)
    unusable: dict[str, tuple[int, int]] = {}
    features = transform.apply(frame, unusable=unusable).to_numpy(float)
    return features, {column: count for column, (count, _) in unusable.items() if count}


def test_generated_records_encode_to_the_table_paths_bits_one_by_one_and_together(model, records):
    assert any(math.isnan(value) for record in records for value in record.values() if isinstance(value, float))
    assert any(value is None for record in records for value in record.values())
    for record in records:
        rows = model.records.encode([record])
        assert rows is not None, record
        assert np.array_equal(np.array(rows), table_features(model.transform, [record])[0])
    together = records[:FEW_RECORDS]
    assert np.array_equal(np.array(model.records.encode(together)), table_features(model.transform, together)[0])
    assert model.records.encode(records[: FEW_RECORDS + 1]) is None  # a batch: the table is faster


# (column, value, whether the encoder answers it itself)
VALUES = [
    ("monthly_charges", 0, True),
    ("monthly_charges", -3, True),
    ("monthly_charges", 2**53, True),
    ("monthly_charges", 1e300, True),
    ("monthly_charges", -0.0, True),
    ("monthly_charges", None, True),
    ("monthly_charges", math.nan, True),
    ("monthly_charges", 2**53 + 1, False),
    ("monthly_charges", 10**400, False),
    ("monthly_charges", math.inf, False),
    ("monthly_charges", "45.7", False),
    ("monthly_charges", "n/a", False),
    ("monthly_charges", True, False),
    ("monthly_charges", {"a": 1}, False),
    ("plan", "basic", True),
    ("plan", "  premium ", True),
    ("plan", "never seen", True),
    ("plan", "", True),
    ("plan", 5, True),
    ("plan", " 5 ", True),
    ("plan", 5.0, True),
    ("plan", 0.1, True),
    ("plan", 1e-7, True),
    ("plan", 1e16, True),
    ("plan", -2.5e20, True),
    ("plan", None, True),
    ("plan", math.nan, True),
    ("plan", True, False),
    ("plan", math.inf, False),
    ("plan", 10**30, False),
    ("plan", ["basic"], False),
    (DATE, "2024-05-01", True),
    (DATE, "2024-05-01T10:00", True),
    (DATE, "2024-05-01 10:00:00", True),
    (DATE, "2024-05-01T10:00:00Z", True),
    (DATE, "2024-05-01T10:00:00.5", True),
    (DATE, "2024-05-01T10:00:00.123456789+02:00", True),
    (DATE, "2024-05-01T23:59:59.999999-11:30", True),
    (DATE, "1800-01-01", True),
    (DATE, "1700-01-01", False),
    (DATE, None, True),
    (DATE, math.nan, True),
    (DATE, "2024-02-30", False),
    (DATE, "2024-05-01T24:00", False),
    (DATE, "1600-01-01", False),
    (DATE, "20240501", False),
    (DATE, "May 1 2024", False),
    (DATE, " 2024-05-01", False),
    (DATE, "2024-05-01T10:00+0200", False),
    (DATE, "not a date", False),
    (DATE, 20240501, False),
]


@pytest.mark.parametrize(("column", "value", "answered"), VALUES)
def test_every_kind_of_value_encodes_as_the_table_does_or_is_left_to_it(widened, records, column, value, answered):
    record = {**records[0], column: value}
    rows = RecordEncoder(widened).encode([record])
    assert (rows is not None) == answered
    if rows is not None:
        features, imputed = table_features(widened, [record])
        assert np.array_equal(np.array(rows), features)
        assert imputed == {}  # the encoder answers only what the table path reads without imputing


def test_random_iso_dates_give_the_table_paths_ages(model, records):
    chance = random.Random(4)
    values = []
    for _ in range(300):
        year, month, day = chance.randint(1800, 2200), chance.randint(1, 12), chance.randint(1, 28)
        text = f"{year:04d}-{month:02d}-{day:02d}"
        if chance.random() < 0.7:
            text += f"{chance.choice('T ')}{chance.randint(0, 23):02d}:{chance.randint(0, 59):02d}"
            if chance.random() < 0.7:
                text += f":{chance.randint(0, 59):02d}"
                if chance.random() < 0.5:
                    text += "." + "".join(chance.choice("0123456789") for _ in range(chance.randint(1, 9)))
            if chance.random() < 0.5:
                sign, hours, minutes = chance.choice("+-"), chance.randint(0, 14), chance.choice([0, 30, 45])
                text += chance.choice(["Z", f"{sign}{hours:02d}:{minutes:02d}"])
        values.append(text)
    for start in range(0, len(values), FEW_RECORDS):
        batch = [{**records[0], DATE: text} for text in values[start : start + FEW_RECORDS]]
        rows = model.records.encode(batch)
        assert rows is not None
        assert np.array_equal(np.array(rows), table_features(model.transform, batch)[0]), [r[DATE] for r in batch]


def test_a_date_too_far_from_the_reference_for_a_span_is_imputed_not_a_server_error(model, records):
    body = json.dumps({**records[0], DATE: "1700-01-01"})
    answer, _, status = inference.transform(model, body, "application/json", "application/json")
    assert status == 200
    assert json.loads(answer)["imputed"] == {DATE: 1}


def test_a_record_without_an_input_column_is_left_to_the_table_which_names_it(model, records):
    record = {key: value for key, value in records[0].items() if key != "plan"}
    assert model.records.encode([record]) is None
    body, _, status = inference.transform(model, json.dumps(record), "application/json", "application/json")
    assert status == 400
    assert "plan" in json.loads(body)["message"]


@pytest.mark.parametrize("accept", ["application/json", "application/json; verbose=true", "text/csv"])
def test_an_answer_is_the_same_string_either_way(model, records, accept, monkeypatch):
    assert same_answer_either_way(model, json.dumps(records[:3]), accept, monkeypatch)[2] == 200
