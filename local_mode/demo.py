"""`make demo`: the platform's whole loop on this machine, one line per phase with its key figure.

raw export -> ETL -> pipeline (with its bias and explainability reports) -> v1 registered -> approved -> served
-> normal traffic -> monitor -> drifted traffic -> monitor -> alarm -> retrain guard -> retraining on fresh data
-> v2 against the champion; then an export whose labels are biased against a group -> the fairness gate fails.
The endpoint is stopped however the demo ends.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from local_mode.churn_data import generate, write
from local_mode.definition import local_stage
from local_mode.etl import run_local_etl
from local_mode.executor import ExecutionResult
from local_mode.experiments import ui_line
from local_mode.monitoring import GROUND_TRUTH_DIR, MonitorResult, input_columns, run_monitor
from local_mode.registry import APPROVED, Registry
from local_mode.retrain import RetrainGuard
from local_mode.runner import run_pipeline
from local_mode.serving.endpoint import EndpointSpec, LocalEndpoint, approved_package, free_port, package_archive
from local_mode.traffic import send_records, write_ground_truth
from ml_code.contracts.contract import load_contract
from ml_code.evaluation.champion import metric_at
from ml_code.monitoring.published_metrics import LARGEST_DRIFT

CONTRACT = "customer-churn"
HASH_KEY_FILE = Path(__file__).with_name("demo-hash-key.txt")
TRAFFIC_RECORDS = 1000
INJECTED_BIAS = 1.5  # log-odds of churn added for women in the biased export: the fairness gate must catch it


class Demo:
    def __init__(self, home: Path, *, rows: int, say: Callable[[str], None] = print) -> None:
        self.home, self.rows, self.say = Path(home).resolve(), rows, say
        self.contract = load_contract(CONTRACT)
        self.config, self.stage = local_stage(self.contract.name)
        self.clock = time.monotonic()

    def phase(self, name: str, figure: str) -> None:
        self.say(f"[{time.monotonic() - self.clock:6.1f} s] {name:<22} {figure}")

    def ingest_and_train(
        self, export: str, *, seed: int, drift: bool, bias: float = 0.0, etl: str = "etl"
    ) -> ExecutionResult:
        raw = self.home / "raw" / export
        count = write(raw, generate(self.rows, seed=seed, drift=drift, defect_rate=0.01, bias=bias))
        self.phase("raw export", f"{count} CRM records with PII and 1 % defects -> {raw.relative_to(self.home.parent)}")
        manifest = run_local_etl(self.contract, raw, self.home / etl, key=HASH_KEY_FILE.read_bytes().strip())
        counts = manifest["counts"]
        self.phase("ETL", f"{counts['written']} curated, {counts['quarantined']} quarantined, PII dropped or hashed")
        result = run_pipeline(CONTRACT, self.home / etl / "curated", self.home, seed=seed, log=lambda _line: None)
        report = result.property_files.get("Evaluate", {}).get("EvaluationReport")
        if report is None:
            raise RuntimeError(f"the pipeline failed: {result.failure_reason}")
        metric = metric_at(report, self.contract.report_metric_path)
        steps = sum(step.status == "Succeeded" for step in result.steps)
        self.phase(
            "pipeline",
            f"execution {result.execution_id}: {steps} steps, test {self.contract.metric.name} {metric:.3f} "
            f"(gate >= {self.contract.metric.threshold})",
        )
        fairness = result.property_files.get("FairnessCheck", {}).get("FairnessDecision")
        if fairness:
            self.phase("fairness", ("" if fairness["passes"] else "FAILS: ") + fairness["reason"])
        return result

    def monitor(self, endpoint: str, package, label: str) -> MonitorResult:
        result = run_monitor(self.home, endpoint=endpoint, package=package, contract_source=CONTRACT, stage=self.stage)
        drifted = sorted(
            {v["feature_name"] for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"}
        )
        quality = result.model_quality
        auc = (
            f", live {self.contract.metric.name} {metric_at(quality, self.contract.report_metric_path):.3f}"
            if quality
            else ""
        )
        figure = (
            f"{result.records} records, {len(result.violations)} violation(s)"
            + (f", drift on {', '.join(drifted)}" if drifted else "")
            + f", max drift {max(result.drift.values(), default=0.0):.3f}{auc}"
            + (f", attribution nDCG {result.attribution_ndcg:.3f}" if result.attribution_ndcg is not None else "")
            + "".join(
                f", {name} {'within limits' if excess == 0 else f'{excess:.3f} outside limits'}"
                for name, excess in result.bias_outside_limits.items()
            )
        )
        self.phase(label, figure)
        return result

    def traffic(self, endpoint: LocalEndpoint, columns: list[str], *, seed: int, drift: bool, label: str) -> None:
        records = list(generate(TRAFFIC_RECORDS, seed=seed, drift=drift))
        started = time.monotonic()
        facets = self.contract.measured_only  # known to the business, never sent to the model
        labels = send_records(endpoint.url, records, columns, self.contract.target, facets=facets)
        seconds = time.monotonic() - started
        write_ground_truth(self.home / GROUND_TRUTH_DIR / endpoint.spec.name, labels, self.contract)
        self.phase(
            label,
            f"{len(records)} records in {len(labels)} requests ({len(records) / seconds:.0f} records/s), "
            "ground truth uploaded",
        )

    def run(self) -> None:
        first = self.ingest_and_train("export-1.jsonl", seed=7, drift=False)
        package = first.registered
        if package is None:
            raise RuntimeError(f"v1 was not registered: {first.failure_reason}")
        self.phase(f"v{package.version} registered", f"{package.group} version {package.version}: {package.status}")
        registry = Registry(self.home)
        registry.decide(package.group, package.version, APPROVED, approver="demo", comment="demo approval")
        package = approved_package(self.home, package.group)
        self.phase(f"v{package.version} approved", f"{package.group} version {package.version}: {package.status}")
        spec = EndpointSpec(
            name=package.group,
            model_archive=package_archive(self.home, package),
            port=free_port(),
            model_package_arn=package.arn,
        )
        columns = input_columns(self.home, package)
        started = time.monotonic()
        with LocalEndpoint(spec, self.home) as endpoint:
            self.phase(
                "served", f"{endpoint.url} answers /ping after {time.monotonic() - started:.1f} s, capturing 100 %"
            )
            self.traffic(endpoint, columns, seed=101, drift=False, label="normal traffic")
            self.monitor(spec.name, package, "monitoring pipeline")
            for hour in (1, 2):
                self.traffic(endpoint, columns, seed=101 + hour, drift=True, label="drifted traffic")
                result = self.monitor(spec.name, package, "monitoring pipeline")
        self.phase(
            "endpoint stopped", f"captured requests flushed to {endpoint.capture_root.relative_to(self.home.parent)}"
        )
        drift_alarm = next(outcome for outcome in result.alarms if outcome.rule.metric == LARGEST_DRIFT)
        self.phase(f"alarm {drift_alarm.state.value}", f"{drift_alarm.rule.name}: {drift_alarm.state.reason}")
        if not drift_alarm.fired:
            raise RuntimeError("drifted traffic did not fire the drift alarm")
        guard = RetrainGuard(
            self.home, first.pipeline_name, timedelta(hours=self.stage.monitoring.retrain_cooldown_hours)
        )
        decision = guard.on_alarm(drift_alarm.rule.name, drift_alarm.entered_at, datetime.now(timezone.utc))
        self.phase("retrain guard", ("start: " if decision.start else "no start: ") + decision.reason)
        again = guard.on_alarm(drift_alarm.rule.name, drift_alarm.entered_at, datetime.now(timezone.utc))
        self.phase("retrain guard", f"the same alarm again: {'start' if again.start else 'no start'}: {again.reason}")
        if not decision.start:
            return
        second = self.ingest_and_train("export-2.jsonl", seed=8, drift=True)
        guard.record_execution(drift_alarm.rule.name, second.execution_id)
        champion = second.property_files.get("CompareWithChampion", {}).get("ChampionDecision", {})
        self.phase("champion", champion.get("reason", "no comparison"))
        if second.registered:
            self.phase(
                f"v{second.registered.version} registered", f"{second.registered.status}: approve it to serve it"
            )
        else:
            self.phase("v2 rejected", second.failure_reason or "")
        self.biased_export()

    def biased_export(self) -> None:
        """An export whose labels are biased against women: the bias report finds it and the gate fails naming it."""
        self.say(f"an export where churn is {INJECTED_BIAS} log-odds likelier for women (local_mode generate --bias):")
        biased = self.ingest_and_train("export-biased.jsonl", seed=9, drift=False, bias=INJECTED_BIAS, etl="etl-biased")
        if not biased.gate_failed:
            raise RuntimeError(f"the injected bias got past the fairness gate: {biased.status}")
        (report,) = (
            path
            for path in (self.home / "s3").rglob("analysis.json")
            if biased.execution_id in path.parts and "data-bias" in path.parts
        )
        self.phase("gate failed", f"not registered; the data bias report: {report.relative_to(self.home.parent)}")


DEMO_MARKER = ".local-mode-demo"


def run_demo(home: Path, *, rows: int) -> None:
    """Run the demo in `home`, which must be empty, absent, or a previous demo's (which is replaced)."""
    home = Path(home)
    if home.exists() and any(home.iterdir()) and not (home / DEMO_MARKER).is_file():
        raise FileExistsError(f"{home} holds other work: give the demo an empty or new --workdir")
    logging.getLogger().setLevel(logging.WARNING)
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / DEMO_MARKER).write_text("made by `local_mode demo`; the next demo replaces this folder\n")
    demo = Demo(home, rows=rows)
    demo.run()
    demo.say(f"demo finished in {time.monotonic() - demo.clock:.1f} s; everything is under {home}")
    demo.say(f"compare its runs in MLflow: {ui_line(home)}")
