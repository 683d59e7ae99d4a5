"""A local run on a real public dataset with two facets (a categorical one, and a 0/1 numeric one above a threshold)
and a group variable registers a package whose bias reports hold every bias metric of Clarify's guide, each equal
to smclarify's (AWS's open-source library behind Clarify) on the same data, model and predictions."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from local_mode.jobs import default_python, python_path
from local_mode.local_s3 import LocalS3
from local_mode.registry import Registry
from ml_code import paths
from ml_code.contracts.contract import POST_TRAINING_METRICS, PRE_TRAINING_METRICS
from tests.cli import ROOT, local_mode_here
from tests.data import loanapp

GROUP = "mlops-dev-loanapp"


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    root = tmp_path_factory.mktemp("loanapp")
    data = loanapp.write_csv(root / "loanapp.csv")
    result = local_mode_here("run", "--contract", loanapp.CONTRACT_FILE, "--data", data, "--workdir", root / "home")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return root / "home", Registry(root / "home").package(GROUP, 1)


@pytest.mark.parametrize(
    ("report", "section", "analysis", "dataset", "names"),
    [
        (
            "PreTrainingReport",
            "pre_training_bias_metrics",
            paths.DATA_BIAS,
            paths.FAIRNESS_TRAIN_FILE,
            PRE_TRAINING_METRICS,
        ),
        (
            "PostTrainingReport",
            "post_training_bias_metrics",
            paths.MODEL_BIAS,
            paths.FAIRNESS_TEST_FILE,
            POST_TRAINING_METRICS,
        ),
    ],
)
def test_every_bias_metric_of_the_package_equals_smclarifys(registered, report, section, analysis, dataset, names):
    home, package = registered
    s3 = LocalS3(home)
    report_file = s3.path(package.model_metrics["Bias"][report]["S3Uri"])
    execution = report_file.parents[2]  # <execution>/<step folder>/analysis_result/analysis.json
    facets = json.loads(report_file.read_text())[section]["facets"]
    assert set(facets) == {"prop", "white"}
    assert facets["white"][0]["value_or_threshold"] == "(0.5, 1.0]"  # the 0/1 facet above its threshold
    for groups in facets.values():
        assert [metric["name"] for metric in groups[0]["metrics"]] == list(names)
        assert all(metric["value"] is not None for metric in groups[0]["metrics"])
    command = [
        default_python(),
        "-m",
        "tests.ml_code.bias_oracle",
        "--config",
        execution / "analysis-config" / paths.CLARIFY_CONFIG_OUTPUT / analysis / paths.CLARIFY_CONFIG_FILE,
        "--dataset",
        execution / "preprocess" / paths.FAIRNESS_DATA_OUTPUT / dataset,
        "--report",
        report_file,
        "--model-archive",
        s3.path(package.model_data_url),
    ]
    checked = subprocess.run(
        list(map(str, command)),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": python_path()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr[-3000:]
    assert json.loads(checked.stdout) == {"compared": 2 * len(names), "problems": []}
