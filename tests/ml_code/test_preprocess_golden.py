"""Preprocessing at scale gives what the pandas implementation gave: golden outputs it wrote (committed in
`golden/preprocess/expected`) for three contracts over two ingestion folders with edge values (padded and
malformed numbers, infinities, quoted categories, a column an older folder lacks, re-sent ids)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_code import paths
from ml_code.contracts.contract import load_contract, parse_contract
from ml_code.processing import reading
from ml_code.processing.preprocess import preprocess, read_input

GOLDEN = Path(__file__).parent / "golden" / "preprocess"
CASES = ("random", "time", "newest-multiclass")


def run(case: str, base: Path) -> Path:
    preprocess(GOLDEN / "input", base, load_contract(GOLDEN / f"{case}.json"), seed=42)
    return base


@pytest.fixture(scope="module", params=CASES)
def outputs(request, tmp_path_factory) -> tuple[str, Path, Path]:
    case = request.param
    return case, run(case, tmp_path_factory.mktemp(case)), GOLDEN / "expected" / case


def payload(base: Path) -> bytes:
    archive = (base / paths.SAMPLE_PAYLOAD_OUTPUT / paths.SAMPLE_PAYLOAD_ARCHIVE).read_bytes()
    return tarfile.open(fileobj=io.BytesIO(archive)).extractfile(paths.SAMPLE_PAYLOAD_FILE).read()


def test_the_transform_is_the_one_learned_before(outputs):
    _, new, old = outputs
    relative = Path(paths.TRANSFORM_OUTPUT) / paths.TRANSFORM_FILE
    assert json.loads((new / relative).read_text()) == json.loads((old / relative).read_text())


def test_every_split_holds_the_same_rows_and_values(outputs):
    _, new, old = outputs
    for name in paths.SPLITS:
        written = pd.read_csv(new / name / f"{name}.csv", header=None).to_numpy()
        expected = pd.read_csv(old / name / f"{name}.csv", header=None).to_numpy()
        assert written.shape == expected.shape
        np.testing.assert_array_equal(written[:, 0], expected[:, 0])  # the target, exactly
        # the features at float32, the precision XGBoost reads them in
        np.testing.assert_array_equal(written[:, 1:].astype(np.float32), expected[:, 1:].astype(np.float32))


def test_the_baseline_metadata_and_payload_are_the_same(outputs):
    case, new, old = outputs
    relative = Path(paths.BASELINE_OUTPUT) / paths.BASELINE_FILE
    written, expected = (new / relative).read_bytes(), (old / relative).read_bytes()
    if case == "time":  # the baseline keeps the input's row order now, not the time order of the split
        assert sorted(written.splitlines()) == sorted(expected.splitlines())
        assert written.splitlines()[0] == expected.splitlines()[0]
    else:
        assert written == expected
        assert payload(new) == payload(old)
    metadata = Path(paths.METADATA_OUTPUT) / paths.METADATA_FILE
    assert (new / metadata).read_text() == (old / metadata).read_text()


def test_two_runs_write_identical_bytes(tmp_path):
    first, second = run("random", tmp_path / "first"), run("random", tmp_path / "second")
    files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    assert len(files) == 7
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_files_cut_into_many_pieces_give_the_same_outputs(tmp_path, monkeypatch):
    whole = run("random", tmp_path / "whole")
    monkeypatch.setattr(reading, "PIECE_BYTES", 2048)  # dozens of pieces; quotes appear part way through
    cut = run("random", tmp_path / "cut")
    for path in sorted(whole.rglob("*.*")):
        assert (cut / path.relative_to(whole)).read_bytes() == path.read_bytes(), path


def test_a_quoted_value_may_span_lines_and_hold_commas(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "PIECE_BYTES", 64)
    plain = "".join(f"{i},basic,{i}.5\n" for i in range(20))
    quoted = '20,"two\nlines, and ""quotes""",1\n'
    (tmp_path / "data.csv").write_text("id,plan,charge\n" + plain + quoted + plain)
    contract = parse_contract(
        {
            "name": "quoted",
            "problem_type": "regression",
            "target": "charge",
            "id_columns": ["id"],
            "categorical": ["plan"],
            "metric": {"name": "rmse", "threshold": 1.0},
        }
    )
    data = read_input(tmp_path, contract)
    assert len(data) == 41
    assert data["plan"].astype(object).iloc[20] == 'two\nlines, and "quotes"'
    assert data["charge"].astype(object).iloc[21] == "0.5"
