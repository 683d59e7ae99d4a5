"""The local data-quality analyzer writes Model Monitor's statistics and constraints formats."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from local_mode.data_quality import MONITORING_CONFIG, analyze, constraints, inferred_type, statistics
from local_mode.jobs import default_python
from tests.cli import ROOT


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


def test_runs_as_the_container_does_from_its_environment(tmp_path):
    source = tmp_path / "input"
    source.mkdir()
    frame().to_csv(source / "baseline.csv", index=False)
    environment = {
        **os.environ,
        "dataset_source": str(source),
        "dataset_format": json.dumps({"csv": {"header": True}}),
        "output_path": str(tmp_path / "output"),
    }
    result = subprocess.run(
        [default_python(), "-m", "local_mode.data_quality", "--failure-file", str(tmp_path / "failure")],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "output/statistics.json").read_text()) == statistics(frame())
    assert "monitoring_config" in json.loads((tmp_path / "output/constraints.json").read_text())


def test_fails_when_the_dataset_is_not_csv(tmp_path):
    with pytest.raises(ValueError, match="is not CSV, the only format analyzed locally"):
        analyze(tmp_path, {"json": {"lines": True}}, tmp_path / "out")
