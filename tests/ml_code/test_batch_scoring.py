"""Batch scoring: the newest Approved package from moto's registry, then real scoring of curated CSV with a real
model through the serving handlers; and the sample payload preprocessing registers for smoke tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from ml_code import paths, settings
from ml_code.archives import tar_gz
from ml_code.inference import approved_model, batch_score
from ml_code.inference.inference import RequestError, model_fn, predict_fn, transform
from ml_code.processing.preprocess import preprocess
from tests.curated import as_curated

GROUP = "mlops-test-models"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"


@pytest.fixture()
def registry():
    with mock_aws():
        sagemaker = boto3.client("sagemaker")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        yield sagemaker


def register(sagemaker, status: str, name: str) -> str:
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://artifacts/{name}/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]


def test_the_newest_approved_package_is_chosen(registry):
    register(registry, "Approved", "v1")
    newest_approved = register(registry, "Approved", "v2")
    register(registry, "PendingManualApproval", "v3")
    register(registry, "Rejected", "v4")
    chosen = approved_model.approved_model(registry, GROUP)
    assert chosen == {
        "model_package_arn": newest_approved,
        "model_package_version": 2,
        "model_data_url": "s3://artifacts/v2/model.tar.gz",
    }


def test_fails_when_no_package_is_approved(registry, tmp_path):
    register(registry, "PendingManualApproval", "v1")
    failure = tmp_path / "failure"
    code = approved_model.main(
        [f"--base-dir={tmp_path}", f"--model-package-group={GROUP}", f"--failure-file={failure}"]
    )
    assert code == 1
    assert f"model package group {GROUP} has no Approved package" in failure.read_text()
    assert not (tmp_path / paths.APPROVED_MODEL_OUTPUT / paths.APPROVED_MODEL_FILE).exists()


@pytest.fixture(scope="module")
def scoring_base(tmp_path_factory, churn_model_dir, churn_csv, churn_contract) -> Path:
    """A processing base as the pipeline lays it out: the model, the chosen package, two curated folders."""
    base = tmp_path_factory.mktemp("scoring")
    files = {
        str(path.relative_to(churn_model_dir)): path.read_bytes()
        for path in sorted(churn_model_dir.rglob("*"))
        if path.is_file()
    }
    model = base / paths.SCORING_MODEL_INPUT / paths.MODEL_ARCHIVE
    model.parent.mkdir(parents=True)
    model.write_bytes(tar_gz(files))
    chosen = {"model_package_arn": f"arn:aws:sagemaker:us-east-1:1:model-package/{GROUP}/3", "model_package_version": 3}
    approved = base / paths.APPROVED_MODEL_OUTPUT / paths.APPROVED_MODEL_FILE
    approved.parent.mkdir(parents=True)
    approved.write_text(json.dumps({**chosen, "model_data_url": "s3://x/model.tar.gz"}))
    data = as_curated(pd.read_csv(churn_csv, dtype=str), churn_contract)
    for folder, rows in (
        ("ingest_date=2026-11-01/run=a", data.iloc[:1300]),
        ("ingest_date=2026-11-02/run=b", data.iloc[1300:1310]),
    ):
        target = base / paths.PROCESSING_INPUT_DATA / folder / "part-0.csv"
        target.parent.mkdir(parents=True)
        rows.to_csv(target, index=False)
    return base


def test_every_file_is_scored_into_predictions_with_its_ids(scoring_base, churn_contract, churn_model_dir, monkeypatch):
    monkeypatch.setattr(batch_score, "CHUNK_ROWS", 512)  # three chunks for the first file
    summary = batch_score.score(scoring_base, churn_contract)
    assert summary["records"] == 1310
    assert summary["files"] == {
        "ingest_date=2026-11-01/run=a/part-0.csv": 1300,
        "ingest_date=2026-11-02/run=b/part-0.csv": 10,
    }
    assert summary["model_package_version"] == 3
    written = json.loads((scoring_base / paths.PREDICTIONS_OUTPUT / paths.SCORING_SUMMARY_FILE).read_text())
    assert written == summary

    source = pd.read_csv(
        scoring_base / paths.PROCESSING_INPUT_DATA / "ingest_date=2026-11-01/run=a/part-0.csv", dtype=str
    )
    scored = pd.read_csv(
        scoring_base / paths.PREDICTIONS_OUTPUT / "ingest_date=2026-11-01/run=a/part-0.csv", dtype={"customer_id": str}
    )
    assert list(scored.columns) == ["customer_id", "probability", "label"]
    assert scored["customer_id"].tolist() == source["customer_id"].tolist()
    # the same scores the endpoint gives, computed in one piece
    expected = predict_fn(source, model_fn(str(churn_model_dir)))
    assert scored["probability"].tolist() == pytest.approx([p["probability"] for p in expected])
    assert scored["label"].tolist() == [p["label"] for p in expected]
    assert not {"name", "email", "phone", "churned"} & set(scored.columns)


def test_fails_naming_what_is_wrong_with_the_input(scoring_base, churn_contract, tmp_path):
    model = model_fn_from(scoring_base, tmp_path)
    no_ids = tmp_path / "no_ids.csv"
    pd.read_csv(scoring_base / paths.PROCESSING_INPUT_DATA / "ingest_date=2026-11-02/run=b/part-0.csv").drop(
        columns="customer_id"
    ).to_csv(no_ids, index=False)
    with pytest.raises(ValueError, match=r"no_ids\.csv: no id column\(s\) \['customer_id'\]"):
        batch_score.score_file(no_ids, tmp_path / "out" / "no_ids.csv", model, ["customer_id"])
    header_only = tmp_path / "header_only.csv"
    header_only.write_text("customer_id,plan\n")
    with pytest.raises(ValueError, match=r"header_only\.csv has a header but no records"):
        batch_score.score_file(header_only, tmp_path / "out" / "header_only.csv", model, ["customer_id"])
    no_feature = tmp_path / "no_feature.csv"
    no_feature.write_text("customer_id,plan\nc1,basic\n")
    with pytest.raises(RequestError, match=r"records lack input column\(s\)"):
        batch_score.score_file(no_feature, tmp_path / "out" / "no_feature.csv", model, ["customer_id"])
    assert not list((tmp_path / "out").glob("*"))  # nothing half-written
    with pytest.raises(ValueError, match=r"no CSV file under .*empty to score"):
        batch_score.score(scoring_base, churn_contract, input_dir=tmp_path / "empty")


def test_refuses_what_is_not_curated_data_before_scoring_and_names_the_file(
    scoring_base, churn_contract, churn_csv, tmp_path
):
    curated = pd.read_csv(scoring_base / paths.PROCESSING_INPUT_DATA / "ingest_date=2026-11-02/run=b/part-0.csv")
    raw = pd.read_csv(churn_csv, dtype=str).iloc[:10]
    cases = {
        "binary.csv": (b"PK\x03\x04\x00\x00zip", r"binary\.csv is binary, not a CSV file"),
        "latin1.csv": ("plan,région\nbasic,Zürich\n".encode("latin-1"), r"latin1\.csv is not UTF-8 text"),
        "headerless.csv": (
            curated.to_csv(index=False, header=False).encode(),
            r"headerless\.csv: its first line names none of contract 'customer-churn'\'s columns: expected the ETL's",
        ),
        "semicolons.csv": (
            curated.to_csv(index=False, sep=";").encode(),
            r"semicolons\.csv: its first line names none .* \(it is not comma-separated\)",
        ),
        "raw-export.csv": (
            raw.to_csv(index=False).encode(),
            r"raw-export\.csv is not curated data: column\(s\) \['name', 'email', 'phone', 'export_ts'\] stay in",
        ),
        "raw-ids.csv": (
            raw[list(curated.columns)].to_csv(index=False).encode(),
            r"raw-ids\.csv is not curated data: column 'customer_id' holds values that are not the ETL's hashes",
        ),
    }
    for name, (content, message) in cases.items():
        folder = tmp_path / name
        (folder / "a-good.csv").parent.mkdir(parents=True)
        curated.to_csv(folder / "a-good.csv", index=False)
        (folder / name).write_bytes(content)
        with pytest.raises(ValueError, match=message) as caught:
            batch_score.score(scoring_base, churn_contract, input_dir=folder)
        assert str(folder / name) in str(caught.value)
        assert not [value for value in raw["customer_id"] if value in str(caught.value)]  # no value in a message
        assert not (scoring_base / paths.PREDICTIONS_OUTPUT / "a-good.csv").exists()  # checked before any is scored


def test_names_the_file_the_model_refuses_among_many(scoring_base, churn_contract, tmp_path):
    curated = pd.read_csv(scoring_base / paths.PROCESSING_INPUT_DATA / "ingest_date=2026-11-02/run=b/part-0.csv")
    curated.to_csv(tmp_path / "a.csv", index=False)
    curated.drop(columns="plan").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match=rf"^{tmp_path / 'b.csv'}: .*lack input column\(s\) \['plan'\]"):
        batch_score.score(scoring_base, churn_contract, input_dir=tmp_path)


def model_fn_from(base: Path, workdir: Path):
    return batch_score.load_packaged_model(base / paths.SCORING_MODEL_INPUT / paths.MODEL_ARCHIVE, workdir / "model")


def test_preprocessing_writes_a_sample_payload_the_model_scores(
    churn_prepared, churn_model_dir, tmp_path, churn_csv, churn_contract
):
    archive = churn_prepared.base / paths.SAMPLE_PAYLOAD_OUTPUT / paths.SAMPLE_PAYLOAD_ARCHIVE
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [paths.SAMPLE_PAYLOAD_FILE]
        payload = tar.extractfile(paths.SAMPLE_PAYLOAD_FILE).read().decode()
    records = pd.read_csv(io.StringIO(payload))
    model = model_fn(str(churn_model_dir))
    assert len(records) == settings.SAMPLE_PAYLOAD_RECORDS
    assert list(records.columns) == model.transform.input_columns  # raw features only: no target, no ids
    body, content_type, status = transform(model, payload, "text/csv", "application/json")
    assert status == 200
    assert len(json.loads(body)["predictions"]) == settings.SAMPLE_PAYLOAD_RECORDS
    # the same data and seed give the same bytes
    again = tmp_path / "again"
    preprocess(churn_csv.parent, again, churn_contract, seed=42)
    assert (again / paths.SAMPLE_PAYLOAD_OUTPUT / paths.SAMPLE_PAYLOAD_ARCHIVE).read_bytes() == archive.read_bytes()


def test_without_id_columns_the_row_number_files_each_prediction(scoring_base, tmp_path, monkeypatch):
    monkeypatch.setattr(batch_score, "CHUNK_ROWS", 4)
    source = scoring_base / paths.PROCESSING_INPUT_DATA / "ingest_date=2026-11-02/run=b/part-0.csv"
    destination = tmp_path / "scored.csv"
    assert batch_score.score_file(source, destination, model_fn_from(scoring_base, tmp_path), []) == 10
    assert pd.read_csv(destination)[batch_score.ROW_COLUMN].tolist() == list(range(10))


def test_prediction_columns_of_every_problem_type():
    assert batch_score.prediction_columns([{"value": 2.5}, {"value": 3.0}]) == {"value": [2.5, 3.0]}
    assert batch_score.prediction_columns([{"probability": 0.9, "label": "yes"}]) == {
        "probability": [0.9],
        "label": ["yes"],
    }
    assert batch_score.prediction_columns([{"label": "b", "probabilities": {"a": 0.2, "b": 0.8}}]) == {
        "label": ["b"],
        "probability_a": [0.2],
        "probability_b": [0.8],
    }
