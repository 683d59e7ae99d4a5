"""Preprocessing on two hosts (a processing job's instances, real processes joined on loopback) against one host on
the same input: the same rows in the same splits, the same transform, the same baseline and metadata."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from local_mode.churn_data import generate, write
from ml_code import paths
from ml_code.contracts.contract import load_contract
from ml_code.processing.preprocess import preprocess
from tests.ml_code.hosts import run_on_hosts

GOLDEN = Path(__file__).parent / "golden" / "preprocess"
HOSTS = ("algo-1", "algo-2")
THREE_HOSTS = ("algo-1", "algo-2", "algo-3")


def run_hosts(tmp_path: Path, contract: str, inputs: dict[str, Path], *extra: str) -> dict[str, tuple[int, str]]:
    """The preprocessing script on every host at once, as SageMaker starts a processing job's instances."""
    commands = {
        host: [
            sys.executable, "-m", "ml_code.processing.preprocess", "--contract", contract,
            "--input-dir", str(input_dir), "--base-dir", str(tmp_path / host),
            "--failure-file", str(tmp_path / host / "failure"), *extra,
        ]
        for host, input_dir in inputs.items()
    }  # fmt: skip
    return run_on_hosts(commands, tmp_path)


def shard(source: Path, destination: Path, hosts: tuple[str, ...] = HOSTS) -> dict[str, Path]:
    """What ShardedByS3Key gives each host: every n-th file, at its relative path."""
    files = sorted(path for path in source.rglob("*.csv"))
    inputs = {}
    for number, host in enumerate(hosts):
        inputs[host] = destination / host
        for path in files[number :: len(hosts)]:
            target = inputs[host] / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return inputs


def rows(base: Path, folder: str) -> list[bytes]:
    """The lines of every file of an output folder, sorted (hosts write their own files)."""
    return sorted(line for path in (base / folder).glob("*.csv") for line in path.read_bytes().splitlines())


def assert_same_transform(sharded: dict, single: dict) -> None:
    """Equal, with means and deviations equal within float64 rounding (sums added in another order)."""
    for column, stats in single["numeric"].items():
        found = sharded["numeric"][column]
        assert found["median"] == stats["median"], column  # exact: the k-th value of all hosts
        for name in ("mean", "std"):
            assert math.isclose(found[name], stats[name], rel_tol=1e-12), (column, name)
    rest = {key: value for key, value in single.items() if key != "numeric"}
    assert {key: value for key, value in sharded.items() if key != "numeric"} == rest


def assert_like_one_host(tmp_path: Path, one: Path, contract, hosts: tuple[str, ...] = HOSTS) -> None:
    """The hosts' outputs, together, are one host's."""
    leader = tmp_path / "algo-1"
    transform = Path(paths.TRANSFORM_OUTPUT) / paths.TRANSFORM_FILE
    assert_same_transform(json.loads((leader / transform).read_text()), json.loads((one / transform).read_text()))
    for host in hosts[1:]:
        assert not (tmp_path / host / transform).exists()  # the first host writes the small outputs
    for name in paths.SPLITS:
        together = [line for host in hosts for line in rows(tmp_path / host, name)]
        assert len(together) == len(rows(one, name)), name
        frame = pd.DataFrame([line.split(b",") for line in sorted(together)]).astype(float)
        expected = pd.DataFrame([line.split(b",") for line in rows(one, name)]).astype(float)
        # the target exactly; the features at float32, XGBoost's precision (the scale may differ by a rounding)
        pd.testing.assert_series_equal(frame[0], expected[0])
        assert (
            frame.iloc[:, 1:].astype("float32").to_numpy() == expected.iloc[:, 1:].astype("float32").to_numpy()
        ).all()
    (single,) = (one / paths.BASELINE_OUTPUT).glob("*.csv")
    header, *expected = single.read_bytes().splitlines()
    found = []
    for host in hosts:
        (part,) = (tmp_path / host / paths.BASELINE_OUTPUT).glob("*.csv")  # baseline-<host>.csv
        host_header, *lines = part.read_bytes().splitlines()
        assert host_header == header
        found += lines
    assert sorted(found) == sorted(expected), "the baseline's rows"
    metadata = Path(paths.METADATA_OUTPUT) / paths.METADATA_FILE
    assert json.loads((leader / metadata).read_text()) == json.loads((one / metadata).read_text())
    if contract.fairness is not None:
        for name in (paths.FAIRNESS_TRAIN_FILE, paths.FAIRNESS_TEST_FILE):
            found = (leader / paths.FAIRNESS_DATA_OUTPUT / name).read_bytes().splitlines()
            wanted = (one / paths.FAIRNESS_DATA_OUTPUT / name).read_bytes().splitlines()
            assert found[0] == wanted[0] and sorted(found[1:]) == sorted(wanted[1:]), name


@pytest.mark.parametrize("case", ["random", "time", "newest-multiclass"])
def test_two_hosts_preprocess_the_golden_input_as_one_does(tmp_path, case):
    """Two ingestion folders, one per host: a column one lacks, ids re-sent across them, edge values."""
    contract_file = str(GOLDEN / f"{case}.json")
    one = tmp_path / "one"
    preprocess(GOLDEN / "input", one, load_contract(contract_file), seed=42)
    results = run_hosts(tmp_path, contract_file, shard(GOLDEN / "input", tmp_path / "inputs"), "--seed", "42")
    for host, (code, log) in results.items():
        assert code == 0, f"{host}: {log[-3000:]}"
    assert_like_one_host(tmp_path, one, load_contract(contract_file))


@pytest.mark.parametrize("hosts", [HOSTS, THREE_HOSTS], ids=["two", "three"])
def test_hosts_preprocess_churn_in_files_with_train_parts_for_two_trainers(tmp_path, churn_contract, hosts):
    raw = tmp_path / "raw"
    for part in range(5):
        write(raw / f"ingest=2026-0{part + 1}-01" / "part-0.csv", generate(1500, seed=part), fmt="csv")
    one = tmp_path / "one"
    preprocess(raw, one, churn_contract, seed=7, train_parts=2)
    inputs = shard(raw, tmp_path / "inputs", hosts)
    results = run_hosts(tmp_path, "customer-churn", inputs, "--seed", "7", "--train-parts", "2")
    for host, (code, log) in results.items():
        assert code == 0, f"{host}: {log[-3000:]}"
    assert_like_one_host(tmp_path, one, churn_contract, hosts)
    names = sorted(path.name for host in hosts for path in (tmp_path / host / "train").iterdir())
    assert names == [f"train-{rank:03d}-{part:05d}.csv" for rank in range(len(hosts)) for part in range(2)]


def test_hosts_that_each_got_every_file_share_them_out(tmp_path, churn_contract):
    """A processing job whose input is replicated (ProcessingInstanceCount raised at run time): every host has every
    file, and each takes every n-th."""
    raw = tmp_path / "raw"
    for part in range(3):
        write(raw / f"part-{part}.csv", generate(1000, seed=part), fmt="csv")
    one = tmp_path / "one"
    preprocess(raw, one, churn_contract, seed=3)
    results = run_hosts(tmp_path, "customer-churn", dict.fromkeys(HOSTS, raw), "--seed", "3")
    for host, (code, log) in results.items():
        assert code == 0, f"{host}: {log[-3000:]}"
    assert_like_one_host(tmp_path, one, churn_contract)


def test_a_host_without_a_file_takes_part_with_no_rows(tmp_path, churn_contract):
    """Fewer files than instances: SageMaker's shard of the input is nothing for one of them."""
    raw = tmp_path / "raw"
    write(raw / "part-0.csv", generate(1000, seed=1), fmt="csv")
    one = tmp_path / "one"
    preprocess(raw, one, churn_contract, seed=3)
    results = run_hosts(tmp_path, "customer-churn", {"algo-1": raw, "algo-2": tmp_path / "nothing"}, "--seed", "3")
    for host, (code, log) in results.items():
        assert code == 0, f"{host}: {log[-3000:]}"
    assert "host algo-2 got none of the input's files" in results["algo-2"][1]
    assert_like_one_host(tmp_path, one, churn_contract)
    assert not any((tmp_path / "algo-2" / name).exists() for name in paths.SPLITS)  # no rows, no files


def test_a_host_that_fails_fails_the_other_with_it(tmp_path, churn_contract):
    raw, broken = tmp_path / "raw", tmp_path / "broken"
    write(raw / "part-0.csv", generate(500, seed=1), fmt="csv")
    broken.mkdir()
    (broken / "part-1.csv").write_text("customer_id,customer_id\n1,2\n")  # a column twice: its host refuses it
    results = run_hosts(tmp_path, "customer-churn", {"algo-1": raw, "algo-2": broken}, "--seed", "3")
    assert all(code != 0 for code, _ in results.values())  # within the timeout: the first host did not wait
    assert "appear more than once" in (tmp_path / "algo-2" / "failure").read_text()
    assert (tmp_path / "algo-1" / "failure").is_file()


def test_fails_when_no_instance_got_a_file(tmp_path):
    results = run_hosts(tmp_path, "customer-churn", dict.fromkeys(HOSTS, tmp_path / "nothing"), "--seed", "3")
    assert all(code != 0 for code, _ in results.values())
    for host in HOSTS:
        assert "no CSV file under" in (tmp_path / host / "failure").read_text()
