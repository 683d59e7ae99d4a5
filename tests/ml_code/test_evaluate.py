"""evaluate.py: correct metrics, SageMaker's model-quality schema, plots, and no report on failure."""

from __future__ import annotations

import itertools
import json
import tarfile

import numpy as np
import pandas as pd
import pytest

from ml_code import paths
from ml_code.contracts.contract import REPORT_METRICS
from ml_code.evaluation.evaluate import main, roc_points
from ml_code.inference.inference import model_fn, predict_fn
from ml_code.metrics import BOOTSTRAP_SAMPLES, METRIC_FUNCTIONS, build_report, regression_metrics, roc_auc
from ml_code.monitoring.data_quality import answer_frame

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pack(model_dir, destination):
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(destination, "w:gz") as archive:
        for path in model_dir.iterdir():
            archive.add(path, arcname=path.name)


def test_auc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.random(200) + 0.3 * y, 1)  # rounding makes ties
    pairs = [(p, n) for p, n in itertools.product(score[y == 1], score[y == 0])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert roc_auc(y, score) == pytest.approx(expected)


def test_regression_metrics_by_hand():
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 2.0]))
    assert metrics["mse"] == pytest.approx(1.25)
    assert metrics["rmse"] == pytest.approx(np.sqrt(1.25))
    assert metrics["mae"] == pytest.approx(0.75)
    assert metrics["r2"] == pytest.approx(1 - 5.0 / 5.0)


def labels_and_predictions(problem_type: str, rows: int, *, seed: int, decimals: int | None = None):
    """Labels and a model's predictions that depend on them (rounded to `decimals`: ties for the AUC)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3 if problem_type.startswith("multi") else 2, rows).astype(float)
    if problem_type == "multiclass_classification":
        return y, rng.dirichlet(np.ones(3), rows)
    probability = np.clip(y * 0.3 + rng.random(rows) * 0.7, 0, 1)
    return y, probability if decimals is None else np.round(probability, decimals)


@pytest.mark.parametrize("problem_type", sorted(REPORT_METRICS))
def test_report_has_every_declared_metric_with_a_bootstrap_deviation(problem_type):
    y, prediction = labels_and_predictions(problem_type, 300, seed=1)
    report = build_report(problem_type, y, prediction, seed=3)
    metrics = report[f"{problem_type}_metrics"]
    assert set(REPORT_METRICS[problem_type]) <= set(metrics)
    for name in REPORT_METRICS[problem_type]:
        assert set(metrics[name]) == {"value", "standard_deviation"}
        assert metrics[name]["standard_deviation"] > 0
    assert build_report(problem_type, y, prediction, seed=3) == report  # seeded bootstrap


@pytest.mark.parametrize("problem_type", sorted(REPORT_METRICS))
def test_the_bootstrap_weights_give_what_resampled_copies_give(problem_type):
    y, prediction = labels_and_predictions(problem_type, 400, seed=5, decimals=2)
    compute = METRIC_FUNCTIONS[problem_type]
    draws = np.random.default_rng(8)
    copies = {name: [] for name in REPORT_METRICS[problem_type]}
    for _ in range(BOOTSTRAP_SAMPLES):  # the slow, obvious way: a metric of each resampled copy
        index = draws.integers(0, len(y), len(y))
        for name, value in compute(y[index], prediction[index]).items():
            copies[name].append(value)
    metrics = build_report(problem_type, y, prediction, seed=8)[f"{problem_type}_metrics"]
    for name, values in copies.items():
        assert metrics[name]["standard_deviation"] == pytest.approx(np.nanstd(values), rel=1e-9, abs=1e-12), name
        assert metrics[name]["value"] == pytest.approx(compute(y, prediction)[name], rel=1e-12)


def test_evaluates_a_real_model_and_writes_report_and_plots(tmp_path, churn_model_dir, churn_prepared):
    base = tmp_path / "processing"
    pack(churn_model_dir, base / paths.EVALUATION_MODEL_INPUT / paths.MODEL_ARCHIVE)
    (base / paths.EVALUATION_TEST_INPUT).symlink_to(churn_prepared.base / "test")
    assert main(["--base-dir", str(base), "--failure-file", str(tmp_path / "message")]) == 0
    output = base / paths.EVALUATION_OUTPUT
    report = json.loads((output / paths.REPORT_FILE).read_text())
    auc = report["binary_classification_metrics"]["auc"]["value"]
    assert 0.75 < auc < 0.95  # learnable, not trivial
    matrix = report["binary_classification_metrics"]["confusion_matrix"]
    test_rows = len((churn_prepared.base / "test" / "test.csv").read_text().splitlines())
    assert sum(matrix[a][b] for a in "01" for b in "01") == test_rows
    for plot in ("roc_curve.png", "confusion_matrix.png", "feature_importance.png"):
        assert (output / plot).read_bytes()[:8] == PNG_SIGNATURE


def test_the_answers_baseline_is_what_the_endpoint_answers_for_the_test_split(
    tmp_path, churn_model_dir, churn_prepared
):
    base = tmp_path / "processing"
    pack(churn_model_dir, base / paths.EVALUATION_MODEL_INPUT / paths.MODEL_ARCHIVE)
    (base / paths.EVALUATION_TEST_INPUT).symlink_to(churn_prepared.base / "test")
    assert main(["--base-dir", str(base), "--failure-file", str(tmp_path / "message")]) == 0
    answers = base / paths.EVALUATION_OUTPUT / paths.ANSWERS_BASELINE
    statistics = json.loads((answers / paths.STATISTICS_FILE).read_text())
    constraints = json.loads((answers / paths.CONSTRAINTS_FILE).read_text())
    # the fields of the endpoint's JSON answer, for every record of the test split, and nothing of its inputs
    records = pd.read_csv(churn_prepared.raw_csv, nrows=5)
    served = answer_frame(predict_fn(records, model_fn(str(churn_model_dir))))
    assert [feature["name"] for feature in statistics["features"]] == list(served.columns) == ["probability", "label"]
    test_rows = len((churn_prepared.base / "test" / "test.csv").read_text().splitlines())
    assert statistics["dataset"]["item_count"] == test_rows
    by_name = {feature["name"]: feature for feature in constraints["features"]}
    assert by_name["probability"]["inferred_type"] == "Fractional"
    assert by_name["label"]["string_constraints"]["domains"] == ["no", "yes"]


def test_fails_without_a_report_when_the_archive_is_not_a_model(tmp_path, churn_prepared):
    base = tmp_path / "processing"
    archive = base / paths.EVALUATION_MODEL_INPUT / paths.MODEL_ARCHIVE
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("not a model")
    pack(stray, archive)
    (base / paths.EVALUATION_TEST_INPUT).symlink_to(churn_prepared.base / "test")
    failure = tmp_path / "message"
    assert main(["--base-dir", str(base), "--failure-file", str(failure)]) == 1
    assert "has no file 'xgboost-model.json'" in failure.read_text()
    assert not (base / paths.EVALUATION_OUTPUT / paths.REPORT_FILE).exists()


def test_the_roc_points_are_the_rates_at_every_threshold():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.random(300) * 0.7 + 0.3 * y, 2)
    fpr, tpr = roc_points(y, score)
    thresholds = np.unique(score)[::-1]
    expected_tpr = [((score >= t) & (y == 1)).sum() / (y == 1).sum() for t in thresholds]
    expected_fpr = [((score >= t) & (y == 0)).sum() / (y == 0).sum() for t in thresholds]
    np.testing.assert_allclose(tpr, [0.0, *expected_tpr])
    np.testing.assert_allclose(fpr, [0.0, *expected_fpr])
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, score))
