"""`python -m local_mode etl` end to end, as `make demo` runs it, and its failure modes."""

from __future__ import annotations

import json

import pytest

from local_mode import etl
from local_mode.__main__ import main
from local_mode.churn_data import generate, write
from ml_code.contracts.contract import load_contract
from tests.cli import local_mode


def test_generated_export_with_defects_becomes_curated_csv_and_a_manifest(tmp_path, spark, capsys):
    # the command's own `main`, in this process: it finds the tests' Spark session running (a process of its
    # own would start and warm up a JVM again, 20 s)
    raw = tmp_path / "raw" / "export.jsonl"
    records = write(raw, generate(3000, seed=4, defect_rate=0.02))
    key = tmp_path / "key"
    key.write_text("cli-test-key\n")
    arguments = ["--contract", "customer-churn", "--input", raw, "--output", tmp_path / "out", "--hash-key-file", key]
    assert main(["etl", *map(str, arguments)]) == 0
    stdout = capsys.readouterr().out
    (manifest_file,) = (tmp_path / "out" / "manifests").glob("*.json")
    counts = json.loads(manifest_file.read_text())["counts"]
    assert counts["read"] == records == counts["written"] + counts["quarantined"] + counts["duplicates"]
    assert counts["quarantined"] > 0 and counts["duplicates"] > 0
    assert f"read {records}, written {counts['written']}" in stdout
    assert "malformed_json" in stdout


def test_exits_1_when_the_input_is_missing(tmp_path):
    result = local_mode(
        "etl",
        "--contract",
        "customer-churn",
        "--input",
        tmp_path / "absent",
        "--output",
        tmp_path / "o",
        "--hash-key",
        "k",
    )
    assert result.returncode == 1
    assert "error: no input at" in result.stderr


def test_a_missing_input_fails_before_spark_starts(tmp_path, monkeypatch):
    monkeypatch.setattr(etl, "local_spark", lambda **_: pytest.fail("Spark started for an input that does not exist"))
    with pytest.raises(FileNotFoundError, match="no input at"):
        etl.run_local_etl(load_contract("customer-churn"), tmp_path / "absent", tmp_path / "o", key=b"k")


def test_an_empty_or_unreadable_key_fails_before_spark_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(etl, "local_spark", lambda **_: pytest.fail("Spark started with a key it cannot use"))
    raw = tmp_path / "export.jsonl"
    write(raw, generate(10, seed=4))
    with pytest.raises(ValueError, match="the hash key is empty"):
        etl.run_local_etl(load_contract("customer-churn"), raw, tmp_path / "o", key=b"")
    arguments = ["etl", "--contract", "customer-churn", "--input", str(raw), "--output", str(tmp_path / "o")]
    assert main([*arguments, "--hash-key-file", str(tmp_path / "no-key")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: the hash key file {tmp_path / 'no-key'} cannot be read: No such file or directory\n"
    )
