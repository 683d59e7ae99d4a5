"""`python -m local_mode run`: the exported pipeline definition, executed end to end into the local registry."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from local_mode.executor import step_graph
from local_mode.local_s3 import LocalS3
from local_mode.registry import APPROVED, PENDING, Registry
from ml_code.paths import RUN_RECORDED_MARKER
from tests.cli import ROOT, local_mode, local_mode_here

ABALONE = ROOT.parent / "shared" / "data" / "abalone" / "abalone.data"
ABALONE_COLUMNS = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings"
GROUP = "mlops-dev-customer-churn"


@dataclass(frozen=True)
class Run:
    home: Path
    returncode: int
    stdout: str
    stderr: str


def run(definition_file: Path, data: Path, home: Path, *extra: object) -> Run:
    result = local_mode_here(
        "run",
        "--contract",
        "customer-churn",
        "--data",
        data,
        "--workdir",
        home,
        "--definition",
        definition_file,
        *extra,
    )
    return Run(home, result.returncode, result.stdout, result.stderr)


def started(stdout: str) -> list[str]:
    return re.findall(r"^  (\S+)\s+started$", stdout, flags=re.MULTILINE)


def _ended(line: str) -> str | None:
    match = re.match(r"^  (\S+)\s+(succeeded|cached|true|false)\b", line)
    return match.group(1) if match else None


def definition_order(definition: dict) -> list[str]:
    names = []
    for step in definition["Steps"]:
        names.append(step["Name"])
        if step["Type"] == "Condition":
            names += [child["Name"] for child in step["Arguments"]["IfSteps"]]
    return names


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, definition_file, churn_csv) -> Run:
    return run(definition_file, churn_csv, tmp_path_factory.mktemp("home"))


def test_runs_every_step_after_the_steps_it_reads_and_registers_a_pending_package(first_run, definition):
    assert first_run.returncode == 0, first_run.stdout[-3000:] + first_run.stderr[-2000:]
    assert sorted(started(first_run.stdout)) == sorted(definition_order(definition))
    lines = first_run.stdout.splitlines()
    ended = {name: index for index, line in enumerate(lines) if (name := _ended(line))}
    for node in step_graph(definition["Steps"]):
        if node.name == "GateFailed":  # the gate passed: its else branch never starts
            continue
        begun = lines.index(f"  {node.name:<22} started")
        assert all(ended[need] < begun for need in node.needs), (node.name, sorted(node.needs))
    assert "GateFailed" not in first_run.stdout
    package = Registry(first_run.home).package(GROUP, 1)
    assert package.status == PENDING
    assert "registered: mlops-dev-customer-churn version 1 (PendingManualApproval)" in first_run.stdout
    assert f"registry approve --workdir {first_run.home} --group {GROUP} --version 1" in first_run.stdout


def test_the_gate_reads_the_evaluation_report_through_the_definitions_json_get(first_run, definition):
    gate = next(step for step in definition["Steps"] if step["Type"] == "Condition")
    json_get = gate["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]
    record = _execution(first_run.home)
    (report,) = (first_run.home / "s3").rglob("evaluation.json")
    expected = json.loads(report.read_text())
    for key in json_get["Path"].split("."):
        expected = expected[key]
    conditions = next(step for step in record["steps"] if step["name"] == gate["Name"])["conditions"]
    assert conditions[0]["left"] == expected
    assert conditions[0]["right"] == 0.75  # GateThreshold's default: the contract's threshold
    auc = float(re.search(r"auc\s+([0-9.]+) ±", first_run.stdout).group(1))
    assert auc == pytest.approx(expected, abs=5e-5) and 0.75 <= auc <= 0.95


def test_the_package_carries_metrics_baselines_and_provenance(first_run):
    package = Registry(first_run.home).package(GROUP, 1)
    s3 = first_run.home / "s3"

    def local(uri: str) -> Path:
        return s3 / uri.removeprefix("s3://")

    report = json.loads(local(package.model_metrics["ModelQuality"]["Statistics"]["S3Uri"]).read_text())
    assert "auc" in report["binary_classification_metrics"]
    statistics = json.loads(local(package.drift_check_baselines["ModelDataQuality"]["Statistics"]["S3Uri"]).read_text())
    constraints = json.loads(
        local(package.drift_check_baselines["ModelDataQuality"]["Constraints"]["S3Uri"]).read_text()
    )
    assert set(statistics) == {"version", "dataset", "features"}
    assert {f["name"] for f in statistics["features"]} >= {"plan", "monthly_charges", "support_calls"}
    assert set(constraints) == {"version", "features", "monitoring_config"}
    assert local(package.model_data_url).is_file()
    (metadata,) = s3.rglob("metadata.json")
    assert package.customer_metadata["data_sha256"] == json.loads(metadata.read_text())["data_sha256"]
    assert package.customer_metadata["contract"] == "customer-churn"
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", package.customer_metadata["git_commit"])
    shown = local_mode("registry", "show", "--workdir", first_run.home, "--group", GROUP, "--version", "1")
    assert shown.returncode == 0, shown.stderr
    for expected in ("PendingManualApproval", "data_sha256", "git_commit", "statistics.json", "pipeline run", "gate"):
        assert expected in shown.stdout


def test_the_package_carries_the_bias_and_explainability_reports_an_approver_reads(first_run):
    package = Registry(first_run.home).package(GROUP, 1)
    s3 = LocalS3(first_run.home)
    bias, explainability = package.model_metrics["Bias"], package.model_metrics["Explainability"]
    pre = json.loads(s3.path(bias["PreTrainingReport"]["S3Uri"]).read_text())
    post = json.loads(s3.path(bias["PostTrainingReport"]["S3Uri"]).read_text())
    shap = json.loads(s3.path(explainability["Report"]["S3Uri"]).read_text())
    assert [m["name"] for m in pre["pre_training_bias_metrics"]["facets"]["gender"][0]["metrics"]][:2] == ["CI", "DPL"]
    assert "DPPL" in [m["name"] for m in post["post_training_bias_metrics"]["facets"]["gender"][0]["metrics"]]
    columns = shap["explanations"]["kernel_shap"]["label0"]["global_shap_values"]
    assert "gender" not in columns and "plan" in columns  # measured, not trained on
    drift = package.drift_check_baselines
    assert s3.path(drift["Bias"]["ConfigFile"]["S3Uri"]).is_file()
    assert s3.path(drift["Explainability"]["ConfigFile"]["S3Uri"]).is_file()
    shown = local_mode("registry", "show", "--workdir", first_run.home, "--group", GROUP, "--version", "1")
    assert re.search(r"bias pre-training\s+gender=female: CI -?\d\.\d{4}  DPL", shown.stdout)
    assert re.search(r"bias post-training\s+gender=female: DPPL -?\d\.\d{4}  DI", shown.stdout)
    assert re.search(r"explanations\s+mean \|SHAP\|: \w+ \d\.\d{3}", shown.stdout)
    (plots,) = {path.parent for path in (first_run.home / "s3").rglob("global_shap_values.png")}
    assert f"explanations report {plots}" in shown.stdout


def test_a_second_run_reuses_cached_steps_and_meets_the_approved_champion(first_run, definition_file, churn_csv):
    approve = local_mode_here("registry", "approve", "--workdir", first_run.home, "--group", GROUP, "--version", "1")
    assert approve.returncode == 0, approve.stderr
    second = run(definition_file, churn_csv, first_run.home)
    assert second.returncode == 0, second.stdout[-3000:]
    assert re.search(r"Preprocess\s+cached \(from execution", second.stdout)
    assert re.search(r"DataQualityBaseline\s+cached \(from execution", second.stdout)
    assert re.search(r"champion: candidate [0-9.]+ vs champion [0-9.]+: shortfall", second.stdout)
    registry = Registry(first_run.home)
    assert registry.package(GROUP, 1).status == APPROVED
    assert registry.package(GROUP, 2).status == PENDING


def test_changed_data_is_not_served_from_the_cache(tmp_path, definition_file, churn_csv):
    lines = churn_csv.read_text().splitlines(keepends=True)
    data = tmp_path / "data.csv"
    data.write_text("".join(lines[:3001]))
    assert run(definition_file, data, tmp_path / "home").returncode == 0
    data.write_text("".join(lines[:3001] + lines[3001:3500]))
    again = run(definition_file, data, tmp_path / "home")
    assert again.returncode == 0
    assert re.search(r"Preprocess\s+succeeded", again.stdout)


def test_exits_3_in_the_fail_step_when_the_gate_cannot_be_met(tmp_path, definition_file, churn_csv):
    result = run(definition_file, churn_csv, tmp_path, "--parameter", "GateThreshold=0.999")
    assert result.returncode == 3, result.stdout[-3000:]
    assert re.search(r"GateFailed\s+Quality gate failed: auc 0\.\d+ must be >= 0\.999", result.stdout)
    assert "not registered: Quality gate failed" in result.stdout
    assert Registry(tmp_path).packages(GROUP) == []


def test_exits_1_with_the_failing_steps_reason(tmp_path, definition_file, churn_csv):
    without_plan = tmp_path / "without_plan.csv"
    pd.read_csv(churn_csv).drop(columns=["plan"]).to_csv(without_plan, index=False)
    result = run(definition_file, without_plan, tmp_path / "home")
    assert result.returncode == 1
    assert "Preprocess FAILED" in re.sub(r"\s+", " ", result.stdout)
    assert "missing column(s) ['plan']" in result.stdout
    assert "Train" not in started(result.stdout)


def test_exits_1_when_the_definition_was_built_for_another_contract(tmp_path, definition_file, churn_csv):
    result = local_mode(
        "run", "--contract", "abalone", "--data", churn_csv, "--workdir", tmp_path, "--definition", definition_file
    )
    assert result.returncode == 1
    assert "the definition runs contract(s) ['customer-churn'], not 'abalone'" in result.stderr


def test_exits_1_when_the_contract_is_malformed(tmp_path, churn_csv):
    contract = tmp_path / "bad.json"
    contract.write_text(json.dumps({"name": "x", "problem_type": "binary_classification", "target": "churned"}))
    result = local_mode("run", "--contract", contract, "--data", churn_csv, "--workdir", tmp_path / "run")
    assert result.returncode == 1
    assert "missing key(s) ['metric']" in result.stderr


@pytest.mark.parametrize("columns", ["a,b", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"])
def test_exits_1_when_columns_do_not_match_the_files_fields(tmp_path, definition_file, columns):
    data = tmp_path / "headerless.csv"
    data.write_text("C-1,Ana Lima,ana@example.com,3\nC-2,Bo,bo@example.com,4\n")
    result = run(definition_file, data, tmp_path / "home", "--columns", columns)
    assert result.returncode == 1
    assert (
        f"--columns names {len(columns.split(','))} columns, but the first line of {data} has 4 fields" in result.stderr
    )
    assert "Ana" not in result.stderr + result.stdout


def test_exits_1_when_a_registry_call_names_an_unknown_group(tmp_path):
    Registry(tmp_path).create_group(GROUP)
    result = local_mode("registry", "approve", "--workdir", tmp_path, "--group", "nope", "--version", "1")
    assert result.returncode == 1
    assert f"error: no model package group 'nope' (groups: ['{GROUP}'])" in result.stderr


def test_exits_1_when_a_hyperparameter_is_not_name_value(tmp_path, churn_csv):
    result = local_mode(
        "run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", tmp_path, "--hyperparameter", "eta"
    )
    assert result.returncode == 1
    assert "--hyperparameter takes NAME=VALUE, got ['eta']" in result.stderr


def test_exits_1_when_a_parameter_is_not_the_pipelines(tmp_path, definition_file, churn_csv):
    result = run(definition_file, churn_csv, tmp_path, "--parameter", "Threshold=0.9")
    assert result.returncode == 1
    assert "the pipeline has no parameter(s) ['Threshold']" in result.stderr


def test_a_contract_file_travels_in_the_code_package_and_hyperparameters_reach_training(tmp_path, churn_csv):
    """No --definition: the definition is built for this contract, whose threshold becomes GateThreshold."""
    contract = json.loads((ROOT / "ml_code/contracts/customer-churn.json").read_text())
    contract["metric"]["threshold"] = 0.6
    path = tmp_path / "relaxed.json"
    path.write_text(json.dumps(contract))
    result = local_mode_here(
        "run",
        "--contract",
        path,
        "--data",
        churn_csv,
        "--workdir",
        tmp_path / "home",
        "--hyperparameter",
        "max_depth=2",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"gate: auc [0-9.]+ >= 0\.6$", result.stdout, flags=re.MULTILINE)
    (model,) = (tmp_path / "home" / "executions").glob("*/Train/opt/ml/model/xgboost-model.json")
    trees = json.loads(model.read_text())["learner"]["gradient_booster"]["model"]["trees"]
    assert max(len(tree["left_children"]) for tree in trees) <= 7  # max_depth=2: at most 7 nodes a tree


def test_runs_on_a_folder_of_csv_parts_as_the_etl_writes_them(tmp_path, definition_file, churn_csv):
    lines = churn_csv.read_text().splitlines(keepends=True)
    curated = tmp_path / "curated" / "ingest_date=2026-07-01" / "run=a"
    curated.mkdir(parents=True)
    (curated / "part-0.csv").write_text("".join(lines[:2000]))
    (curated / "part-1.csv").write_text(lines[0] + "".join(lines[2000:]))
    (curated / RUN_RECORDED_MARKER).write_text("a")  # the run is in the ETL's ledger
    home = Path(os.path.relpath(tmp_path / "home", ROOT))  # a relative workdir, as `make demo` gives
    result = run(definition_file, tmp_path / "curated", home)
    assert result.returncode == 0, result.stdout[-3000:]
    (copied,) = (tmp_path / "home" / "executions").glob("*/Preprocess/opt/ml/processing/input/data/*/run=a")
    assert sorted(p.name for p in copied.iterdir()) == [RUN_RECORDED_MARKER, "part-0.csv", "part-1.csv"]


@pytest.mark.skipif(not ABALONE.is_file(), reason=f"the abalone dataset is not at {ABALONE} (shared/ is absent)")
def test_abalone_regression_end_to_end(tmp_path):
    result = local_mode_here(
        "run", "--contract", "abalone", "--data", ABALONE, "--columns", ABALONE_COLUMNS, "--workdir", tmp_path
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    (report_file,) = (tmp_path / "s3").rglob("evaluation.json")
    report = json.loads(report_file.read_text())
    assert report["regression_metrics"]["rmse"]["value"] <= 2.5  # the gate; the bench measures the spread
    assert report["regression_metrics"]["r2"]["value"] > 0.4
    assert Registry(tmp_path).package("mlops-dev-abalone", 1).status == PENDING


def _execution(home: Path) -> dict:
    (record,) = (home / "executions").glob("*/execution.json")
    return json.loads(record.read_text())


def test_fails_before_any_step_on_a_mistyped_or_unreadable_hyperparameter(churn_csv, tmp_path):
    result = local_mode(
        "run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", tmp_path / "run",
        "--hyperparameter", "max_dpeth=4", "--hyperparameter", "eta=fast",
    )  # fmt: skip
    assert result.returncode == 1
    assert "'max_dpeth' is not a hyperparameter (did you mean 'max_depth'?)" in result.stderr
    assert "eta='fast' is not a number" in result.stderr and "the hyperparameters are max_depth, eta," in result.stderr
    assert not (tmp_path / "run" / "executions").exists()  # no step ran


def test_a_named_file_is_read_whatever_its_suffix(tmp_path, churn_csv):
    from local_mode.runner import stage_input

    named = tmp_path / "churn.txt"
    named.write_bytes(churn_csv.read_bytes())
    staged = Path(stage_input(named, tmp_path / "home", None))
    assert staged.name == "churn.txt.csv" and staged.read_bytes() == churn_csv.read_bytes()
    result = local_mode_here("run", "--contract", "customer-churn", "--data", named, "--workdir", tmp_path / "home")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "churn.txt").write_bytes(churn_csv.read_bytes())
    with pytest.raises(FileNotFoundError, match=rf"no CSV file under {folder}"):  # a folder: its *.csv files
        stage_input(folder, tmp_path / "home", None)


def test_a_damaged_cache_entry_or_cached_output_runs_the_step_again_and_a_damaged_record_is_named(
    tmp_path, definition_file, churn_csv
):
    home = tmp_path / "home"
    assert run(definition_file, churn_csv, home).returncode == 0
    (entry,) = (home / "cache").glob("*/Preprocess/*.json")
    entry.write_text(entry.read_text()[:40])  # cut short, as a crash while writing left it before
    (record,) = (home / "executions").glob("*/execution.json")
    record.write_text(record.read_text()[:100])
    damaged = run(definition_file, churn_csv, home)
    assert damaged.returncode == 0, damaged.stdout[-3000:] + damaged.stderr[-2000:]
    assert f"Preprocess             cache entry {entry} is damaged (" in damaged.stdout
    assert re.search(r"Preprocess\s+succeeded", damaged.stdout)
    assert json.loads(entry.read_text())["outputs_sha256"]  # written whole again

    shown = local_mode_here("registry", "show", "--workdir", home, "--group", GROUP, "--version", "1")
    assert shown.returncode == 0, shown.stderr
    assert f"gate           unknown: {record} is damaged (" in shown.stdout

    train_csv = next(LocalS3(home).root.rglob(f"{json.loads(entry.read_text())['execution']}/preprocess/**/*.csv"))
    train_csv.write_text(train_csv.read_text() + train_csv.read_text().splitlines()[-1] + "\n")  # an edited output
    edited = run(definition_file, churn_csv, home)
    assert re.search(r"Preprocess\s+the outputs of execution \S+ changed since they were cached", edited.stdout)
    assert re.search(r"Preprocess\s+succeeded", edited.stdout)
    assert re.search(r"DataQualityBaseline\s+succeeded", edited.stdout)


def test_every_option_of_every_command_says_what_it_is():
    import argparse

    from local_mode.__main__ import parse_args

    parsers, silent = [], []

    def collect(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    collect(sub, f"{path} {name}".strip())
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                silent.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        parsers.append(path)

    original = argparse.ArgumentParser.parse_args
    try:
        argparse.ArgumentParser.parse_args = lambda self, argv=None: collect(self, "")
        parse_args([])
    finally:
        argparse.ArgumentParser.parse_args = original
    assert len(parsers) > 10 and silent == []
