"""`local_mode demo` (what `make demo` runs): the whole loop, one line per phase, no server left behind."""

from __future__ import annotations

import json
import re

from mlflow import MlflowClient

from local_mode.experiments import TRACKING_URI_VARIABLE, ui_line
from tests.cli import local_mode

PHASES = (
    "raw export",
    "ETL",
    "pipeline",
    "v1 registered",
    "v1 approved",
    "served",
    "normal traffic",
    "monitoring pipeline",
    "drifted traffic",
    "endpoint stopped",
    "alarm ALARM",
    "retrain guard",
    "champion",
    "fairness",
    "gate failed",
)


def test_the_demo_tells_the_whole_story_and_stops_its_server(tmp_path, monkeypatch):
    monkeypatch.delenv(TRACKING_URI_VARIABLE, raising=False)  # the workdir's own MLflow store
    home = tmp_path / "demo"
    result = local_mode("demo", "--workdir", home, "--rows", "2000")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # it ends with the line that opens its runs, which are in the workdir: three trainings, monitoring runs
    assert result.stdout.splitlines()[-1].endswith(ui_line(home))
    tracking = MlflowClient(f"sqlite:///{home.resolve() / 'mlflow' / 'mlflow.db'}")
    trainings = tracking.search_runs([tracking.get_experiment_by_name("mlops-dev-model-build").experiment_id])
    assert sorted(run.info.status for run in trainings) == ["FAILED", "FINISHED", "FINISHED"]
    monitoring = tracking.get_experiment_by_name("mlops-dev-customer-churn-monitoring").experiment_id
    assert len(tracking.search_runs([monitoring])) == len(
        re.findall(r"^\[.*\] monitoring pipeline ", result.stdout, re.M)
    )
    lines = re.findall(r"^\[\s*[\d.]+ s\] (.+)$", result.stdout, flags=re.MULTILINE)
    phases = [line[:22].strip() for line in lines]
    assert all(phase in phases for phase in PHASES), phases
    monitors = [line for line in lines if line.startswith("monitor")]
    assert "0 violation(s)" in monitors[0] and "drift on" in monitors[-1]
    assert re.search(r"^\[.*\] retrain guard\s+start: ", result.stdout, flags=re.MULTILINE)
    assert re.search(r"the same alarm again: no start: .* already started", result.stdout)
    assert re.search(r"^\[.*\] v2 (registered|rejected)", result.stdout, flags=re.MULTILINE)
    fairness = [line for line in lines if line.startswith("fairness")]
    assert fairness[0].split(None, 1)[1].startswith("within the limits")  # v1: no bias in the export
    assert re.search(r"FAILS: DPL -0\.\d+ for gender=female is outside \[-0\.1, 0\.1\]", fairness[-1])
    (report,) = re.findall(r"the data bias report: (\S+)", result.stdout)
    assert (home.parent / report).is_file()
    assert "Listening at" not in result.stdout  # the server's log goes to its file, not the story
    server_log = (home / "endpoints" / "mlops-dev-customer-churn" / "server.log").read_text()
    assert "Shutting down: Master" in server_log
    # a prediction of the demo's traffic traces back to the raw export and the commit
    capture = sorted((home / "s3" / "local-monitoring" / "datacapture").rglob("*.jsonl"))[0]
    first = json.loads(capture.read_text().splitlines()[0])["eventMetadata"]
    traced = local_mode("lineage", "--workdir", home, "--inference-id", first["inferenceId"])
    assert traced.returncode == 0, traced.stderr[-2000:]
    at = ("--endpoint", "mlops-dev-customer-churn", "--at", first["inferenceTime"])
    by_time = local_mode("lineage", "--workdir", home, *at)  # a request known by its endpoint and time
    assert (
        by_time.returncode == 0
        and traced.stdout.split("model package:")[1] == by_time.stdout.split("model package:")[1]
    )
    assert "mlops-dev-customer-churn version 1" in traced.stdout and "decided            by demo at" in traced.stdout
    assert re.search(r"code commit\s+[0-9a-f]{40}", traced.stdout)
    assert re.search(r"ETL run \w+:\n  ingested .*\n  counts .*\n  raw files\s+\S*/raw/export-1\.jsonl", traced.stdout)
    # training v2 again gives the same bytes (the champion comparison aside: it reads the registry); v1's data has
    # grown since (the demo's second export went into the same curated folder), and reproduce says so
    group = ("--workdir", home, "--group", "mlops-dev-customer-churn")
    again = local_mode("reproduce", *group, "--version", "2")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "the data's hash is" in again.stdout and "as recorded" in again.stdout
    assert re.search(r"identical: (\d+) of the (\d+) files", again.stdout)
    changed = local_mode("reproduce", *group, "--version", "1")
    assert changed.returncode == 1 and "the data changed: its hash is" in changed.stdout
    assert "train/pipelines-<execution>-Train/output/model.tar.gz" in changed.stdout
    unknown = local_mode("lineage", "--workdir", home, "--inference-id", "no-such-request")
    assert unknown.returncode == 1 and "no captured request has inference id 'no-such-request'" in unknown.stderr


def test_fails_when_the_workdir_holds_other_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = local_mode("demo", "--workdir", tmp_path)
    assert result.returncode == 1
    assert "holds other work: give the demo an empty or new --workdir" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
