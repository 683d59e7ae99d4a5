"""The synthetic churn export: deterministic, realistic enough, and shifted on request."""

from __future__ import annotations

import json
import statistics

import pytest

from local_mode.churn_data import FIELDS, generate, write


def test_one_seed_gives_one_dataset_and_another_seed_another():
    assert list(generate(200, seed=3)) == list(generate(200, seed=3))
    assert list(generate(200, seed=3)) != list(generate(200, seed=4))


def test_records_look_like_a_crm_export_with_pii_and_gaps():
    records = list(generate(2000, seed=1))
    assert set(records[0]) == set(FIELDS)
    assert all("@" in r["email"] and r["phone"].startswith("+1-555-") for r in records)
    missing = sum(r["monthly_charges"] is None for r in records) / len(records)
    assert 0.005 < missing < 0.05
    churn_rate = sum(r["churned"] == "yes" for r in records) / len(records)
    assert 0.15 < churn_rate < 0.45


def test_drift_shifts_feature_distributions():
    def mean_of(records, field):
        return statistics.mean(r[field] for r in records if r[field] is not None)

    normal, drifted = list(generate(3000, seed=2)), list(generate(3000, seed=2, drift=True))
    assert mean_of(drifted, "monthly_charges") > 1.15 * mean_of(normal, "monthly_charges")
    assert mean_of(drifted, "support_calls") > 1.5 * mean_of(normal, "support_calls")


def test_defects_break_records_the_ways_exports_do():
    records = list(generate(4000, seed=3, defect_rate=0.05))
    malformed = [r for r in records if isinstance(r, str)]
    parsed = [r for r in records if isinstance(r, dict)]
    assert malformed and all(r.startswith('{"customer_id"') for r in malformed)
    assert any(r["churned"] is None for r in parsed)
    assert any(r["monthly_charges"] == "n/a" for r in parsed)
    ids = [r["customer_id"] for r in parsed]
    assert len(ids) > len(set(ids))  # some records were sent twice
    assert 0.03 < (len(malformed) + sum(r["churned"] is None for r in parsed)) / len(records) * 2 < 0.08


def test_fails_when_a_malformed_record_is_written_as_csv(tmp_path):
    with pytest.raises(ValueError, match="cannot be written as CSV"):
        write(tmp_path / "x.csv", generate(2000, seed=3, defect_rate=0.5), fmt="csv")


def test_writes_json_lines(tmp_path):
    path = tmp_path / "raw" / "export.jsonl"
    assert write(path, generate(10, seed=1)) == 10
    assert [json.loads(line)["customer_id"] for line in path.read_text().splitlines()][:2] == ["C00000000", "C00000001"]


def test_fails_when_rows_is_not_positive():
    with pytest.raises(ValueError, match="rows must be at least 1"):
        list(generate(0))


def test_fails_when_the_format_is_unknown(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        write(tmp_path / "x", generate(1), fmt="xml")


def churn_rate(records: list[dict], gender: str) -> float:
    group = [record for record in records if record["gender"] == gender]
    return sum(record["churned"] == "yes" for record in group) / len(group)


def test_a_bias_makes_churn_depend_on_gender_and_moves_nothing_else():
    plain, biased = list(generate(6000, seed=3)), list(generate(6000, seed=3, bias=1.5))
    assert {record["gender"] for record in plain} == {"female", "male", "nonbinary"}
    assert abs(churn_rate(plain, "female") - churn_rate(plain, "male")) < 0.05  # no bias: about the same
    assert churn_rate(biased, "female") - churn_rate(biased, "male") > 0.2
    assert churn_rate(biased, "male") == churn_rate(plain, "male")  # only women's labels move
    assert [{k: v for k, v in r.items() if k != "churned"} for r in biased] == [
        {k: v for k, v in r.items() if k != "churned"} for r in plain
    ]
