"""preprocess.py: seeded stratified splits, the outputs of the runtime contract, and loud failures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ml_code import paths
from ml_code.contracts.contract import CONTRACTS_DIR, ContractError, load_contract
from ml_code.processing.preprocess import check_target, data_hash, main, read_input, split

CHURN_CONTRACT = str(CONTRACTS_DIR / "customer-churn.json")


def run_main(input_csv_text: str | None, tmp_path: Path, contract: str = CHURN_CONTRACT) -> tuple[int, Path, Path]:
    base, failure = tmp_path / "processing", tmp_path / "output" / "message"
    input_dir = base / paths.PROCESSING_INPUT_DATA
    input_dir.mkdir(parents=True)
    if input_csv_text is not None:
        (input_dir / "data.csv").write_text(input_csv_text)
    code = main(["--contract", contract, "--base-dir", str(base), "--failure-file", str(failure)])
    return code, base, failure


def assert_failed_cleanly(code: int, base: Path, failure: Path, reason: str) -> None:
    assert code == 1
    assert reason in failure.read_text()
    written = [p.relative_to(base) for p in base.rglob("*") if p.is_file()]
    assert written == [Path(paths.PROCESSING_INPUT_DATA) / "data.csv"]  # no partial outputs


def test_writes_every_output_of_the_runtime_contract(churn_prepared):
    base = churn_prepared.base
    transform = json.loads((base / paths.TRANSFORM_OUTPUT / paths.TRANSFORM_FILE).read_text())
    for name in paths.SPLITS:
        matrix = pd.read_csv(base / name / f"{name}.csv", header=None)
        assert matrix.shape[1] == 1 + len(transform["features"])  # target first, then the features
        assert set(matrix[0].unique()) == {0.0, 1.0}
    baseline = pd.read_csv(base / paths.BASELINE_OUTPUT / paths.BASELINE_FILE)
    assert list(baseline.columns) == transform["input_columns"]
    for pii in ("name", "email", "phone", "customer_id", "churned"):
        assert pii not in baseline.columns


def test_split_is_70_20_10_stratified_and_deterministic(churn_csv, churn_contract):
    data = check_target(read_input(churn_csv.parent), churn_contract)
    first, second = split(data, churn_contract, seed=3), split(data, churn_contract, seed=3)
    other = split(data, churn_contract, seed=4)
    pd.testing.assert_frame_equal(first.train, second.train)
    assert not first.train["customer_id"].equals(other.train["customer_id"])
    sizes = [len(first.train), len(first.validation), len(first.test)]
    assert sizes == pytest.approx([0.7 * len(data), 0.2 * len(data), 0.1 * len(data)], abs=2)
    overall = (data["churned"] == "yes").mean()
    for part in (first.train, first.validation, first.test):
        assert (part["churned"] == "yes").mean() == pytest.approx(overall, abs=0.01)
    ids = [set(part["customer_id"]) for part in (first.train, first.validation, first.test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_regression_split_covers_the_whole_target_range():
    contract = load_contract("abalone")
    data = pd.DataFrame({"sex": ["M"] * 1000, "length": [str(i) for i in range(1000)], "rings": list(range(1000))})
    parts = split(data, contract, seed=1)
    for part in (parts.train, parts.validation, parts.test):
        assert part["rings"].min() < 100 and part["rings"].max() > 900


def test_non_numeric_values_are_coerced_and_counted_not_fatal(tmp_path, churn_csv, capfd):
    lines = churn_csv.read_text().splitlines()
    bad = lines[1].split(",")
    bad[11] = "lots"  # call_minutes
    text = "\n".join([lines[0], ",".join(bad), *lines[2:]]) + "\n"
    code, base, _ = run_main(text, tmp_path)  # main() sets up its own logging, to stderr
    assert code == 0
    assert capfd.readouterr().err.count("'call_minutes': 1 non-numeric value(s) coerced to missing and imputed") == 1
    assert (base / "train" / "train.csv").is_file()


def test_fails_when_the_file_is_empty(tmp_path):
    code, base, failure = run_main("", tmp_path)
    assert_failed_cleanly(code, base, failure, "is empty")


def test_fails_when_there_is_a_header_but_no_rows(tmp_path, churn_csv):
    code, base, failure = run_main(churn_csv.read_text().splitlines()[0] + "\n", tmp_path)
    assert_failed_cleanly(code, base, failure, "has a header but no rows")


def test_fails_when_the_target_column_is_missing(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv).drop(columns=["churned"])
    code, base, failure = run_main(frame.to_csv(index=False), tmp_path)
    assert_failed_cleanly(code, base, failure, "missing column(s) ['churned']")


def test_fails_when_the_target_has_one_class(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv).assign(churned="no")
    code, base, failure = run_main(frame.to_csv(index=False), tmp_path)
    assert_failed_cleanly(code, base, failure, "has one class only (['no'])")


def test_fails_when_a_binary_target_has_three_values(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv)
    frame.loc[:10, "churned"] = "maybe"
    code, base, failure = run_main(frame.to_csv(index=False), tmp_path)
    assert_failed_cleanly(code, base, failure, "has 3 distinct values")


def test_fails_when_a_column_is_entirely_missing(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv).assign(support_calls=None)
    code, base, failure = run_main(frame.to_csv(index=False), tmp_path)
    assert_failed_cleanly(code, base, failure, "column 'support_calls' is entirely missing")


def test_fails_when_the_contract_does_not_match_the_data(tmp_path, churn_csv):
    code, base, failure = run_main(churn_csv.read_text(), tmp_path, contract=str(CONTRACTS_DIR / "abalone.json"))
    assert_failed_cleanly(code, base, failure, "does not match contract 'abalone': missing column(s) ['rings', 'sex']")


def test_fails_early_when_the_data_is_too_small_for_the_split(churn_contract):
    data = pd.DataFrame({"churned": ["yes", "no"] * 5, "plan": ["basic"] * 10})
    with pytest.raises(ContractError, match=r"10 labelled rows are too few: the split needs at least \d+"):
        split(data, churn_contract, seed=1)


def test_fails_early_naming_the_class_that_is_too_rare(churn_contract):
    data = pd.DataFrame({"churned": ["yes"] * 5 + ["no"] * 200, "plan": ["basic"] * 205})
    with pytest.raises(ContractError, match=r"class\(es\) \{'yes': 5\} of 'churned' have too few labelled rows"):
        split(data, churn_contract, seed=1)


def test_the_minimum_gives_every_split_its_rows():
    from ml_code.processing.preprocess import FRACTIONS, _split_sizes, rows_needed

    for per_split in (1, 2, 10):
        needed = rows_needed(per_split)
        assert min(_split_sizes(needed, FRACTIONS)) >= per_split > min(_split_sizes(needed - 1, FRACTIONS))


def test_fails_when_a_column_name_is_repeated_in_the_header(tmp_path):
    (tmp_path / "data.csv").write_text("churned,plan,plan\nyes,basic,premium\n")
    with pytest.raises(ContractError, match=r"column\(s\) \['plan'\] appear more than once in the header"):
        read_input(tmp_path)


def test_runs_with_different_columns_are_read_by_name(tmp_path, churn_csv):
    frame = pd.read_csv(churn_csv, dtype=str)
    older, newer = tmp_path / "run=old" / "part.csv", tmp_path / "run=new" / "part.csv"
    for path in (older, newer):
        path.parent.mkdir()
        (path.parent / paths.RUN_RECORDED_MARKER).write_text("run")  # in the ETL's ledger
    # an ETL run from before `late_payments` was declared, with its columns in another order too
    without = frame.iloc[:100].drop(columns=["late_payments"])
    without[list(reversed(without.columns))].to_csv(older, index=False)
    frame.iloc[100:200].to_csv(newer, index=False)
    data = read_input(tmp_path)
    assert len(data) == 200
    assert data["late_payments"].isna().sum() == 100
    by_id = data.set_index("customer_id")
    assert by_id.loc[frame.loc[5, "customer_id"], "plan"] == frame.loc[5, "plan"]  # values stay in their column


def test_a_csv_without_a_header_is_never_echoed_into_the_failure(tmp_path, churn_csv):
    headerless = "".join(churn_csv.read_text().splitlines(keepends=True)[1:])
    code, base, failure = run_main(headerless, tmp_path)
    first_record = headerless.splitlines()[0].split(",")
    assert_failed_cleanly(code, base, failure, "is its header row missing?")
    reason = failure.read_text()
    assert len(first_record) == 17 and "@" in headerless.splitlines()[0]  # the record holds personal data
    assert not [value for value in first_record if len(value) > 3 and value in reason]


def strict_json(text: str):
    """JSON as the standard has it: NaN and Infinity are not numbers there."""

    def refuse(constant: str):
        raise ValueError(f"not valid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_infinite_values_are_missing_values_counted_and_every_json_output_stays_strict(tmp_path, churn_csv, capfd):
    frame = pd.read_csv(churn_csv, dtype=str)
    frame.loc[:40, "monthly_charges"] = "inf"
    frame.loc[41:60, "total_charges"] = "-Infinity"
    code, base, _ = run_main(frame.to_csv(index=False), tmp_path)
    assert code == 0
    strict_json((base / paths.TRANSFORM_OUTPUT / paths.TRANSFORM_FILE).read_text())
    strict_json((base / paths.METADATA_OUTPUT / paths.METADATA_FILE).read_text())
    log = capfd.readouterr().err
    assert "column 'monthly_charges':" in log and "infinite value(s)" in log


@pytest.mark.parametrize("value", ["inf", "1e308"])
def test_fails_naming_the_column_when_its_values_cannot_be_scaled(tmp_path, churn_csv, value):
    frame = pd.read_csv(churn_csv, dtype=str).assign(support_calls=value)
    code, base, failure = run_main(frame.to_csv(index=False), tmp_path)
    assert code == 1
    assert "column 'support_calls'" in failure.read_text()


def churn_contract_with(**extra):
    from ml_code.contracts.contract import parse_contract

    raw = json.loads(Path(CHURN_CONTRACT).read_text())
    raw["drop"] = [column for column in raw["drop"] if column != "export_ts"]
    return parse_contract({**raw, "pass_through": [*raw["pass_through"], "export_ts"], **extra})


def test_newest_per_id_keeps_each_customers_latest_record_across_runs(churn_csv):
    from ml_code.processing.preprocess import keep_newest_per_id

    contract = churn_contract_with(newest_per_id="export_ts")
    first = pd.read_csv(churn_csv, dtype=str).head(50).assign(export_ts="2026-06-30T23:00:00+00:00")
    # the next day's export re-sends ten customers, now on another plan, and one record without a time
    later = first.head(10).assign(export_ts="2026-07-01T23:00:00+00:00", plan="premium-2026")
    undated = first.iloc[[20]].assign(export_ts=None, plan="stale")
    data = pd.concat([later, first, undated], ignore_index=True)  # file order must not matter
    kept = keep_newest_per_id(data, contract)
    assert len(kept) == 50
    by_id = kept.set_index("customer_id")["plan"]
    assert (by_id[first["customer_id"].head(10)] == "premium-2026").all()
    assert by_id[first["customer_id"].iloc[20]] != "stale"
    assert keep_newest_per_id(data, load_contract(CHURN_CONTRACT)) is data  # no option: every record stays


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"newest_per_id": "unknown_column"}, r"newest_per_id must name a column the curated data keeps"),
        (
            {"newest_per_id": "export_ts", "id_columns": [], "pii": {"drop": ["name", "email", "phone"]}},
            r"newest_per_id needs id_columns",
        ),
    ],
)
def test_fails_when_newest_per_id_cannot_work(extra, message):
    with pytest.raises(ContractError, match=message):
        churn_contract_with(**extra)


def test_a_crashed_etl_runs_uncommitted_part_files_are_not_read(tmp_path, churn_csv, churn_contract):
    """Spark writes a run's part files under `_temporary/` and moves them out when the run commits: a run that died
    leaves them behind, and they are no data."""
    from ml_code.processing.reading import scan_input

    committed = tmp_path / "data" / "ingest=2026-11-30"
    committed.mkdir(parents=True)
    (committed / "part-0.csv").write_bytes(churn_csv.read_bytes())
    uncommitted = tmp_path / "data" / "_temporary" / "0" / "task_1"
    uncommitted.mkdir(parents=True)
    (uncommitted / "part-1.csv").write_text("garbage,half-written\n1,")
    found = scan_input(tmp_path / "data")
    assert [file.path.name for file in found.files] == ["part-0.csv"]


def test_only_the_etl_runs_in_its_ledger_are_read(tmp_path, churn_csv, caplog):
    """An ETL run that died before its manifest (Spark may have moved some of its part files in place): none of its
    files are read (they may be a part of its data), and the log says which run was skipped."""
    from ml_code.processing.reading import scan_input

    date = tmp_path / "data" / "ingest_date=2026-11-30"
    committed, crashed = date / "run=aaaa", date / "run=bbbb"
    for run in (committed, crashed):
        run.mkdir(parents=True)
        (run / "part-0.csv").write_bytes(churn_csv.read_bytes())
    (committed / paths.RUN_RECORDED_MARKER).write_text("aaaa")
    (crashed / "_SUCCESS").write_text("")  # committed by Spark, but not in the ledger
    found = scan_input(tmp_path / "data")
    assert [file.path.parent.name for file in found.files] == ["run=aaaa"]
    assert f"skipping {crashed}: the ETL run is not in its ledger (no _RECORDED): run the ETL again" in caplog.text
    assert found.etl_runs == ("aaaa",)  # recorded in the run's metadata: the lineage to the ETL's manifests
    alone = tmp_path / "alone" / "ingest_date=2026-11-30" / "run=aaaa"
    alone.mkdir(parents=True)
    (alone / "part-0.csv").write_bytes(churn_csv.read_bytes())
    (alone / paths.RUN_RECORDED_MARKER).write_text("aaaa")
    assert data_hash(found) == data_hash(scan_input(tmp_path / "alone"))  # of what was read, not what was skipped
    (committed / paths.RUN_RECORDED_MARKER).unlink()
    with pytest.raises(ContractError, match=r"no CSV file under .* of an ETL run in its ledger"):
        scan_input(tmp_path / "data")


def test_a_field_longer_than_a_parsers_block_is_read(tmp_path, churn_csv, churn_contract):
    frame = pd.read_csv(churn_csv, dtype=str).iloc[:200]
    frame.loc[5, "name"] = "x" * (20 << 20)  # 20 MB, in a file without quotes
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "long.csv", index=False)
    read = read_input(tmp_path / "data", churn_contract)
    assert len(read) == 200 and "name" not in read.columns  # read, and dropped as the contract says


def test_a_quoted_record_longer_than_a_block_is_named_for_what_it_is(tmp_path, churn_csv, churn_contract, monkeypatch):
    from ml_code.processing import reading

    monkeypatch.setattr(reading, "BLOCK_BYTES", 1 << 20)
    frame = pd.read_csv(churn_csv, dtype=str).iloc[:200]
    frame.loc[3, "email"] = 'a "quoted" address'
    frame.loc[5, "name"] = "x" * (3 << 20)
    (tmp_path / "data").mkdir()
    frame.to_csv(tmp_path / "data" / "long.csv", index=False)
    with pytest.raises(ContractError) as caught:
        read_input(tmp_path / "data", churn_contract)
    assert str(caught.value) == (
        f"{tmp_path / 'data' / 'long.csv'} has a record longer than 1 MB, the most a record may be in a file with "
        "quoted fields"
    )
