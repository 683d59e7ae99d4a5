"""The data-quality baseline writes Model Monitor's statistics and constraints formats."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ml_code.monitoring import data_quality
from ml_code.monitoring.data_quality import MONITORING_CONFIG, analyze, constraints, inferred_type, statistics


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plan": ["basic", "premium", "basic", "", "basic"],
            "charges": ["10.5", "20", "30.25", "40", ""],
            "calls": ["1", "0", "3", "2", "5"],
            "negative": ["-1", "2", "3", "4", "5"],
        }
    )


def test_types_are_inferred_from_the_text_as_model_monitor_does():
    assert inferred_type(pd.Series(["1", "-2", ""])) == "Integral"
    assert inferred_type(pd.Series(["1", "2.5"])) == "Fractional"
    assert inferred_type(pd.Series(["1", "x"])) == "String"
    assert inferred_type(pd.Series(["", ""])) == "Unknown"
    assert inferred_type(pd.Series(["inf", "1"])) == "String"


def test_statistics_count_present_and_missing_values_and_describe_distributions():
    stats = statistics(frame())
    assert stats["dataset"] == {"item_count": 5}
    features = {feature["name"]: feature for feature in stats["features"]}
    plan = features["plan"]["string_statistics"]
    assert plan["common"] == {"num_present": 4, "num_missing": 1}
    assert plan["distinct_count"] == 2.0
    assert plan["distribution"]["categorical"]["buckets"] == [
        {"value": "basic", "count": 3},
        {"value": "premium", "count": 1},
    ]
    charges = features["charges"]
    assert charges["inferred_type"] == "Fractional"
    numbers = charges["numerical_statistics"]
    assert numbers["common"] == {"num_present": 4, "num_missing": 1}
    assert (numbers["min"], numbers["max"], numbers["sum"]) == (10.5, 40.0, 100.75)
    assert numbers["mean"] == pytest.approx(25.1875)
    kll = numbers["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and sum(bucket["count"] for bucket in kll["buckets"]) == 4
    assert kll["sketch"]["data"] == [[10.5, 20.0, 30.25, 40.0]]
    assert features["calls"]["inferred_type"] == "Integral"


def test_constraints_suggest_completeness_non_negativity_and_domains():
    suggested = constraints(statistics(frame()))
    features = {feature["name"]: feature for feature in suggested["features"]}
    assert features["plan"]["completeness"] == 0.8
    assert features["plan"]["string_constraints"] == {"domains": ["basic", "premium"]}
    assert features["calls"]["num_constraints"] == {"is_non_negative": True}
    assert features["negative"]["num_constraints"] == {"is_non_negative": False}
    assert suggested["monitoring_config"] == MONITORING_CONFIG


def test_the_step_writes_both_files_from_the_baseline_records(tmp_path):
    base = tmp_path / "processing"
    (base / "input" / "baseline").mkdir(parents=True)
    frame().to_csv(base / "input" / "baseline" / "baseline.csv", index=False)
    assert data_quality.main(["--base-dir", str(base), "--failure-file", str(tmp_path / "failure")]) == 0
    assert json.loads((base / "data_quality" / "statistics.json").read_text()) == statistics(frame())
    assert json.loads((base / "data_quality" / "constraints.json").read_text()) == constraints(statistics(frame()))


def test_fails_when_there_is_no_baseline_and_writes_nothing(tmp_path):
    base = tmp_path / "processing"
    (base / "input" / "baseline").mkdir(parents=True)
    assert data_quality.main(["--base-dir", str(base), "--failure-file", str(tmp_path / "failure")]) == 1
    assert "no dataset file under" in (tmp_path / "failure").read_text()
    assert not (base / "data_quality").exists()


def test_fails_when_the_files_have_different_headers(tmp_path):
    frame().to_csv(tmp_path / "a.csv", index=False)
    frame().drop(columns="plan").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match="different headers"):
        analyze(tmp_path, tmp_path / "out")


def test_answers_are_flattened_to_one_column_per_field_as_text():
    multiclass = [
        {"probabilities": {"a": 0.25, "b": 0.75}, "label": "b"},
        {"probabilities": {"a": 1.0, "b": 0.0}, "label": "a"},
    ]
    frame = data_quality.answer_frame(multiclass)
    assert list(frame.columns) == ["probabilities.a", "probabilities.b", "label"]
    assert frame.to_dict("list") == {
        "probabilities.a": ["0.25", "1.0"],
        "probabilities.b": ["0.75", "0.0"],
        "label": ["b", "a"],
    }
    types = {
        f["name"]: f["inferred_type"]
        for f in statistics(data_quality.answer_frame([{"value": 2.5}, {"value": 3.0}]))["features"]
    }
    assert types == {"value": "Fractional"}
