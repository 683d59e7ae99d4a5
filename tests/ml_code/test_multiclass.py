"""A multiclass contract through every step: preprocess -> train -> evaluate -> serve (predicting the plan)."""

from __future__ import annotations

import json
import tarfile

import pandas as pd
import pytest

from ml_code import paths
from ml_code.contracts.contract import parse_contract
from ml_code.evaluation.evaluate import evaluate
from ml_code.inference.inference import input_fn, model_fn, output_fn, predict_fn
from ml_code.processing.preprocess import preprocess
from ml_code.training.train import Hyperparameters, train
from tests.ml_code.endpoint_answers import same_answer_either_way

PLAN = parse_contract(
    {
        "name": "plan-choice",
        "problem_type": "multiclass_classification",
        "target": "plan",
        "id_columns": ["customer_id"],
        "pii": {"drop": ["name", "email", "phone"]},
        "categorical": ["region", "payment_method", "churned"],
        "datetime_age": {"account_created": "account_age_days"},
        "drop": ["export_ts", "gender"],
        "metric": {"name": "accuracy", "threshold": 0.5},
    }
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, churn_csv):
    base, model_dir = tmp_path_factory.mktemp("processing"), tmp_path_factory.mktemp("model")
    frame = pd.read_csv(churn_csv, dtype=str).dropna(subset=["plan"])  # the export's missing plans are unlabelled
    (base / "input").mkdir()
    frame.to_csv(base / "input" / "data.csv", index=False)
    preprocess(base / "input", base, PLAN, seed=3)
    train(base / "train", base / "validation", base / "transform", model_dir, Hyperparameters(num_round=60))
    return base, model_dir, frame


def test_evaluation_reports_multiclass_metrics(trained, tmp_path):
    base, model_dir, _ = trained
    archive = tmp_path / paths.MODEL_ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    report = evaluate(archive, base / "test", tmp_path / "evaluation", seed=1)
    metrics = report["multiclass_classification_metrics"]
    # plan drives price and usage in the generator: far better than the 45 % of always guessing "basic"
    assert metrics["accuracy"]["value"] > 0.6
    assert 0 < metrics["weighted_f1"]["value"] <= 1
    assert json.loads((tmp_path / "evaluation" / paths.REPORT_FILE).read_text()) == report


def test_the_endpoint_returns_class_probabilities_and_a_label(trained):
    _, model_dir, frame = trained
    model = model_fn(str(model_dir))
    body, _ = output_fn(
        predict_fn(input_fn(frame.head(3).to_json(orient="records"), "application/json"), model), "application/json"
    )
    for prediction in json.loads(body)["predictions"]:
        assert set(prediction["probabilities"]) == {"basic", "premium", "standard"}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)


def test_csv_answers_give_the_label_then_the_class_probabilities(trained):
    _, model_dir, frame = trained
    model = model_fn(str(model_dir))
    body, content_type = output_fn(
        predict_fn(input_fn(frame.head(2).to_csv(index=False), "text/csv"), model), "text/csv"
    )
    rows = [line.split(",") for line in body.strip().splitlines()]
    assert content_type == "text/csv" and len(rows) == 2
    assert all(row[0] in {"basic", "premium", "standard"} and len(row) == 4 for row in rows)


def test_a_few_plain_records_get_the_table_paths_answer(trained, churn_csv, monkeypatch):
    model = model_fn(str(trained[1]))
    body = pd.read_csv(churn_csv).head(3)[model.transform.input_columns].to_json(orient="records")
    for accept in ("application/json", "text/csv"):
        assert same_answer_either_way(model, body, accept, monkeypatch)[2] == 200
