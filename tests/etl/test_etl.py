"""The Glue ETL on real Spark: bad records quarantined with reasons, PII gone, counts that always add up."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from local_mode.etl import local_locations
from ml_code.contracts.contract import load_contract, parse_contract
from ml_code.etl.job import run_etl
from ml_code.etl.storage import read_raw
from ml_code.etl.transforms import hmac_sha256_hex, transform, with_hmac_key

KEY = b"test-key-not-a-secret"
CHURN = load_contract("customer-churn")
PII_VALUES = (
    "Ada Lovelace",
    "ada@example.com",
    "+1-555-010-0001",
    "Grace O'Hopper",
    "grace@example.org",
    "ada.private@example.net",
)


def record(customer_id: str, **overrides) -> dict:
    base = {
        "customer_id": customer_id,
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+1-555-010-0001",
        "account_created": "2024-01-15",
        "plan": "basic",
        "region": "north",
        "payment_method": "card",
        "monthly_charges": 42.5,
        "total_charges": 510.0,
        "data_usage_gb": 12.5,
        "call_minutes": 300,
        "support_calls": 2,
        "late_payments": 0,
        "export_ts": "2026-06-30T23:00:00Z",
        "churned": "no",
    }
    return base | overrides


def write_lines(path: Path, lines: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))


@pytest.fixture(scope="module")
def messy_raw(tmp_path_factory) -> Path:
    """Every kind of record a CRM export can bring, across JSON-lines and JSON-array files."""
    raw = tmp_path_factory.mktemp("raw")
    write_lines(
        raw / "2026-06-30/export-1.jsonl",
        [
            record("C1"),
            record("C2", name="Grace O'Hopper", email="grace@example.org", churned="yes"),
            '{"customer_id": "C3", "name": "Ada Lovelace", "churned": ',  # malformed JSON
            record("C4", churned=None),  # missing target
            record("C5", churned="  "),  # blank target
            record("", name="Ada Lovelace"),  # blank id
            {k: v for k, v in record("C6").items() if k != "customer_id"},  # missing id
            record("C7", monthly_charges="forty two"),  # not a number
            record("C8", account_created="last spring"),  # not a date
            record("C9", support_calls={"count": 3}),  # nested where a number belongs
            record("C1"),  # exact duplicate of the first record
            "",  # blank line: not a record
        ],
    )
    # C10 carries fields the contract does not name (personal data among them); C7b is bad and carries one too
    write_lines(
        raw / "2026-06-30/export-2.jsonl",
        [
            record("C1"),
            record("C10", contact_email="ada.private@example.net", notes="Ada Lovelace called about her bill"),
            record("C14", churned=None, notes="Ada Lovelace asked to cancel"),
        ],
    )
    (raw / "2026-07-01").mkdir()
    (raw / "2026-07-01/export-3.json").write_text(json.dumps([record("C11"), record("C12", plan=1)], indent=2))
    (raw / "2026-07-01/broken-array.json").write_text('[\n  {"customer_id": "C13", "name": "Ada Lovelace"},\n')
    return raw


@pytest.fixture(scope="module")
def messy_result(spark, messy_raw):
    frame = read_raw(spark, [p.resolve().as_uri() for p in sorted(messy_raw.rglob("*.json*"))])
    return transform(frame, CHURN, KEY)


def test_every_bad_record_is_quarantined_with_its_reason(messy_result):
    # the broken array holds no record that parses: the run quarantines that file whole (see below)
    assert [Path(source).name for source in messy_result.unparsed_files] == ["broken-array.json"]
    assert messy_result.counts.quarantined_by_reason == {
        "malformed_json": 1,
        "missing_id:customer_id": 2,
        "missing_target": 3,
        "not_a_date:account_created": 1,
        "not_numeric:monthly_charges": 1,
        "not_numeric:support_calls": 1,
    }
    reasons = {row["reason"]: row["source_file"] for row in messy_result.quarantine.collect()}
    assert reasons["not_numeric:monthly_charges"].endswith("2026-06-30/export-1.jsonl")
    assert reasons["malformed_json"].endswith("export-1.jsonl")


def test_counts_always_add_up(messy_result):
    counts = messy_result.counts
    assert (counts.read, counts.written, counts.quarantined, counts.duplicates) == (16, 5, 9, 2)
    assert counts.read == counts.written + counts.quarantined + counts.duplicates
    assert messy_result.curated.count() == counts.written
    assert messy_result.quarantine.count() == counts.quarantined


def test_only_the_contracts_columns_leave_and_the_others_are_counted_by_name(messy_result):
    assert tuple(messy_result.curated.columns) == CHURN.curated_columns  # one schema, the contract's order
    assert messy_result.counts.undeclared_fields == {"contact_email": 1, "notes": 2}
    quarantined = [row.asDict() for row in messy_result.quarantine.collect()]
    assert not [row for row in quarantined if row["record"] and ("notes" in row["record"] or "Ada" in row["record"])]


def test_curated_records_keep_features_and_hash_the_id(messy_result):
    rows = messy_result.curated.collect()
    columns = set(messy_result.curated.columns)
    assert {"name", "email", "phone", "export_ts"}.isdisjoint(columns)
    assert {"plan", "monthly_charges", "churned", "customer_id"} <= columns
    ids = {row["customer_id"] for row in rows}
    expected = hmac.new(KEY, b"C1", hashlib.sha256).hexdigest()
    assert expected in ids and "C1" not in ids
    assert {row["plan"] for row in rows} >= {"basic", "1"}  # a numeric-looking category stays text


def test_no_pii_value_survives_anywhere_in_the_output(spark, messy_raw, tmp_path):
    output = tmp_path / "out"
    manifest = run_etl(
        spark, CHURN, local_locations(messy_raw, output), key=KEY, run_id="pii", ingest_date="2026-07-02"
    )
    assert manifest["counts"]["quarantined"] > 0  # the quarantine is written, and searched below
    files = [p for p in output.rglob("*") if p.is_file()]
    assert any("quarantine" in str(p) for p in files) and any("curated" in str(p) for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for value in PII_VALUES:
            assert value not in text, f"{value!r} found in {path}"
        for raw_id in ("C1,", '"C2"', "C13"):
            assert raw_id not in text, f"unhashed id {raw_id!r} found in {path}"


@pytest.mark.parametrize(
    "key", [b"k", b"a-64-byte-key-".ljust(64, b"x"), b"a-key-longer-than-one-block-".ljust(100, b"y")]
)
def test_hmac_in_spark_sql_equals_pythons_hmac(spark, key):
    values = ["C1", "Ünïcødé ✓", "", "x" * 300]
    frame = with_hmac_key(spark.createDataFrame([(v,) for v in values], ["value"]), key)
    hashed = [row[0] for row in frame.select(hmac_sha256_hex(frame["value"])).collect()]
    assert hashed == [hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in values]


def plan_text(frame) -> str:
    """Every plan Spark keeps of a query (parsed, analyzed, optimized, physical): what logs and the UI show."""
    return frame._jdf.queryExecution().toString()


def test_the_key_never_appears_in_a_query_plan(spark, messy_raw):
    key = b"plan-secret-0123456789"
    frame = read_raw(spark, [p.resolve().as_uri() for p in sorted(messy_raw.rglob("*.jsonl"))])
    result = transform(frame, CHURN, key)
    padded = key.ljust(64, b"\0")
    secrets = [key.decode(), key.hex(), *(bytes(b ^ pad for b in padded).hex() for pad in (0x36, 0x5C))]
    for output in (result.curated, result.quarantine):
        plans = plan_text(output).lower()
        assert "sha2" in plans  # the hashing is in the plan, vectorized
        assert not [secret for secret in secrets if secret.lower() in plans]


def test_hashes_are_stable_across_runs_and_depend_on_the_key(spark, messy_raw):
    frame = read_raw(spark, [p.resolve().as_uri() for p in sorted(messy_raw.rglob("*.jsonl"))])

    def ids(key: bytes) -> set[str]:
        return {row["customer_id"] for row in transform(frame, CHURN, key).curated.collect()}

    assert ids(KEY) == ids(KEY)
    assert ids(KEY).isdisjoint(ids(b"another-key"))


def test_fails_when_the_hash_key_is_empty(spark):
    frame = spark.createDataFrame([("C1",)], ["value"])
    with pytest.raises(ValueError, match="the hash key is empty"):
        with_hmac_key(frame, b"")


def test_runs_skip_files_an_earlier_run_processed(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "a.jsonl", [record("C1"), record("C2")])
    locations = local_locations(raw, output)
    first = run_etl(spark, CHURN, locations, key=KEY, run_id="r1", ingest_date="2026-07-01")
    again = run_etl(spark, CHURN, locations, key=KEY, run_id="r2", ingest_date="2026-07-01")
    write_lines(raw / "b.jsonl", [record("C3")])
    third = run_etl(spark, CHURN, locations, key=KEY, run_id="r3", ingest_date="2026-07-02")
    assert first["counts"]["written"] == 2
    assert again["source_files"] == [] and again["counts"]["read"] == 0
    assert [Path(uri).name for uri in third["source_files"]] == ["b.jsonl"] and third["counts"]["written"] == 1
    manifests = sorted(p.name for p in (output / "manifests").iterdir() if p.suffix == ".json")
    assert manifests == ["run=r1.json", "run=r2.json", "run=r3.json"]


def test_a_file_written_again_with_new_content_is_processed_again(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "daily.jsonl", [record("C1")])
    locations = local_locations(raw, output)
    first = run_etl(spark, CHURN, locations, key=KEY, run_id="r1", ingest_date="2026-07-01")
    write_lines(raw / "daily.jsonl", [record("C7"), record("C8")])  # the export overwritten the next day
    second = run_etl(spark, CHURN, locations, key=KEY, run_id="r2", ingest_date="2026-07-02")
    third = run_etl(spark, CHURN, locations, key=KEY, run_id="r3", ingest_date="2026-07-02")
    assert (first["counts"]["written"], second["counts"]["written"], third["counts"]["written"]) == (1, 2, 0)
    assert second["source_files"] == first["source_files"]
    assert second["source_versions"] != first["source_versions"]


def rewrite_manifest(output: Path, run_id: str, text: str) -> None:
    """Replace a run's manifest, as an operator or a bad write would, and Hadoop's local checksum of the old."""
    manifest = output / "manifests" / f"run={run_id}.json"
    manifest.write_text(text)
    (manifest.parent / f".{manifest.name}.crc").unlink()


def test_files_that_runs_before_versions_recorded_stay_processed(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "old.jsonl", [record("C1")])
    locations = local_locations(raw, output)
    run_etl(spark, CHURN, locations, key=KEY, run_id="r1", ingest_date="2026-07-01")
    legacy = json.loads((output / "manifests" / "run=r1.json").read_text())
    del legacy["source_versions"]
    rewrite_manifest(output, "r1", json.dumps(legacy))
    again = run_etl(spark, CHURN, locations, key=KEY, run_id="r2", ingest_date="2026-07-02")
    assert again["source_files"] == []


def test_curated_csv_reads_back_with_its_header(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "a.jsonl", [record("C1", plan='gold, "plus"'), record("C2", region="north\nwest")])
    manifest = run_etl(spark, CHURN, local_locations(raw, output), key=KEY, run_id="csv", ingest_date="2026-07-01")
    curated = Path(manifest["outputs"]["curated"].removeprefix("file://"))
    frame = pd.concat([pd.read_csv(p, dtype=str) for p in sorted(curated.glob("*.csv"))], ignore_index=True)
    assert len(frame) == 2
    assert set(frame["plan"]) == {"basic", 'gold, "plus"'}
    assert "north\nwest" in set(frame["region"])
    assert "ingest_date=2026-07-01" in str(curated)


def test_columns_with_spaces_and_apostrophes_are_checked_by_name(spark):
    contract = parse_contract(
        {
            "name": "odd",
            "problem_type": "regression",
            "target": "Total Spend",
            "id_columns": ["Customer's ID"],
            "pii": {"hash": ["Customer's ID"], "drop": ["Owner Name"]},
            "categorical": ["Area Code"],
            "numeric": ["Day.Mins"],
            "metric": {"name": "rmse", "threshold": 10},
        }
    )
    rows = [
        {
            "Customer's ID": "a",
            "Owner Name": "Ada Lovelace",
            "Area Code": "415",
            "Total Spend": "12.5",
            "Day.Mins": "3",
        },
        {
            "Customer's ID": "b",
            "Owner Name": "Ada Lovelace",
            "Area Code": "510",
            "Total Spend": "lots",
            "Day.Mins": "4",
        },
        {"Customer's ID": "c", "Owner Name": "Ada Lovelace", "Area Code": "510", "Total Spend": "1", "Day.Mins": "x"},
    ]
    frame = spark.createDataFrame([{**row, "_source_file": "f"} for row in rows])
    result = transform(frame, contract, KEY)
    assert result.counts.quarantined_by_reason == {"not_numeric:Day.Mins": 1, "not_numeric:Total Spend": 1}
    assert "Owner Name" not in result.curated.columns


def test_a_run_that_died_before_its_manifest_is_cleaned_up_and_redone(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "a.jsonl", [record("C1"), record("C2")])
    crashed = output / "curated" / "ingest_date=2026-07-01" / "run=crashed"
    crashed.mkdir(parents=True)
    (crashed / "part-00000.csv").write_text("churned,customer_id\nno,half-written\n")
    (output / "quarantine" / "ingest_date=2026-07-01" / "run=crashed" / "_temporary").mkdir(parents=True)
    (output / "quarantine" / "ingest_date=2026-07-01" / "run=crashed" / "_temporary" / "part-1.json").write_text("{}")
    manifest = run_etl(spark, CHURN, local_locations(raw, output), key=KEY, run_id="r1", ingest_date="2026-07-02")
    assert not crashed.exists()
    assert not (output / "quarantine" / "ingest_date=2026-07-01" / "run=crashed").exists()
    assert manifest["counts"]["written"] == 2
    csv_rows = [line for path in (output / "curated").rglob("*.csv") for line in path.read_text().splitlines()[1:]]
    assert len(csv_rows) == 2  # the two records once, nothing of the dead run


def test_a_run_is_marked_recorded_after_its_manifest_and_the_next_run_marks_one_that_died_between(spark, tmp_path):
    """Training reads only runs in the ledger (their curated folder holds the marker): a run marks its folder after
    its manifest; one that died between the two is marked by the next run, so its data is never left out."""
    from ml_code.paths import RUN_RECORDED_MARKER

    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "a.jsonl", [record("C1"), record("C2")])
    first = run_etl(spark, CHURN, local_locations(raw, output), key=KEY, run_id="r1", ingest_date="2026-07-01")
    marker = Path(first["outputs"]["curated"].removeprefix("file:")) / RUN_RECORDED_MARKER
    assert marker.read_text() == "r1"
    marker.unlink()  # as if r1 died after its manifest
    write_lines(raw / "b.jsonl", [record("C3")])
    second = run_etl(spark, CHURN, local_locations(raw, output), key=KEY, run_id="r2", ingest_date="2026-07-02")
    assert marker.is_file() and second["counts"]["written"] == 1  # r1 marked again, its files not processed twice
    assert (Path(second["outputs"]["curated"].removeprefix("file:")) / RUN_RECORDED_MARKER).read_text() == "r2"


BAD_FILES = {
    "empty.jsonl": (b"", "empty_file"),
    "blank.jsonl": (b"\n  \n\n", "empty_file"),
    "garbage.jsonl": (b'{"customer_id": \n{"plan": 2\n', "not_json"),
    "binary.jsonl": (bytes(range(256)) * 4, "binary_file"),
    "export.csv": (b"customer_id,plan\nC1,basic\n", "not_json"),
    "broken-array.json": (b'[{"customer_id": "C1", "churned": "no"}, {"customer_id": "C2", ]', "not_json"),
    "latin1.jsonl": ('{"customer_id": "C1", "churned": "no", "plan": "caf\u00e9"}\n'.encode("latin-1"), "not_utf8"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_run_whose_only_new_file_holds_no_record_quarantines_it_whole_and_succeeds(spark, tmp_path, name):
    content, reason = BAD_FILES[name]
    raw, output = tmp_path / "raw", tmp_path / "out"
    raw.mkdir()
    (raw / name).write_bytes(content)
    manifest = run_etl(spark, CHURN, local_locations(raw, output), key=KEY, run_id="r1", ingest_date="2026-07-01")
    assert manifest["counts"]["quarantined_files"] == {reason: 1}
    assert manifest["counts"]["written"] == 0 and "curated" not in manifest["outputs"]
    (row,) = [
        json.loads(line) for path in (output / "quarantine").rglob("*.json") for line in path.read_text().splitlines()
    ]
    assert row["reason"] == reason and row["source_file"].endswith(name)
    assert (output / "manifests" / "run=r1.json").is_file()


def test_good_files_go_through_beside_a_bad_one(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "good.jsonl", [record("C1"), record("C2")])
    (raw / "export.csv").write_bytes(BAD_FILES["export.csv"][0])
    manifest = run_etl(spark, CHURN, local_locations(raw, output), key=KEY, run_id="r1", ingest_date="2026-07-01")
    assert manifest["counts"]["written"] == 2
    assert manifest["counts"]["quarantined_files"] == {"not_json": 1}


def test_fails_naming_the_manifest_that_is_not_json(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "a.jsonl", [record("C1")])
    locations = local_locations(raw, output)
    run_etl(spark, CHURN, locations, key=KEY, run_id="r1", ingest_date="2026-07-01")
    rewrite_manifest(output, "r1", (output / "manifests" / "run=r1.json").read_text()[:40])  # truncated
    with pytest.raises(ValueError, match=r"a manifest that is not JSON: .*run=r1\.json"):
        run_etl(spark, CHURN, locations, key=KEY, run_id="r2", ingest_date="2026-07-02")


def test_fails_naming_the_manifest_cut_short_beside_its_checksum(spark, tmp_path):
    raw, output = tmp_path / "raw", tmp_path / "out"
    write_lines(raw / "a.jsonl", [record("C1")])
    locations = local_locations(raw, output)
    for run_id, day in (("r0", "2026-06-30"), ("r1", "2026-07-01")):
        write_lines(raw / f"{run_id}.jsonl", [record(f"C-{run_id}")])
        run_etl(spark, CHURN, locations, key=KEY, run_id=run_id, ingest_date=day)
    manifest = output / "manifests" / "run=r1.json"
    assert (manifest.parent / f".{manifest.name}.crc").is_file()
    manifest.write_text(manifest.read_text()[:40])  # cut short; Hadoop's checksum of the whole stays beside it
    with pytest.raises(ValueError) as caught:
        run_etl(spark, CHURN, locations, key=KEY, run_id="r2", ingest_date="2026-07-02")
    message = str(caught.value)
    assert re.match(
        r"the ETL's ledger has a manifest that cannot be read: \S+/run=r1\.json \(ChecksumException", message
    )
    assert message.endswith(
        "restore it from the bucket's previous version, or delete it to process that run's files again"
    )
    assert "o70" not in message and "collectToPython" not in message


def test_the_etl_is_tested_on_the_spark_that_glue_runs():
    """Casting, ANSI mode and the Arrow integration differ between Spark versions: the suite runs on Glue's own."""
    import sys

    import pyspark

    from infra.constructs.glue_etl_job import GLUE_SPARK_VERSION, GLUE_VERSION

    assert (GLUE_VERSION, GLUE_SPARK_VERSION) == ("5.0", "3.5.4")
    assert pyspark.__version__ == GLUE_SPARK_VERSION
    assert sys.version_info[:2] == (3, 11)  # Glue 5.0's Python
