"""`local_mode monitor`: a run of the monitoring pipeline the stack deploys, on the local executor: captured traffic
against the training baseline, model quality with ground truth, the published metrics and the alarms on them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from local_mode.churn_data import DRIFTED_FIELDS, generate
from local_mode.definition import local_stage
from local_mode.monitoring import GROUND_TRUTH_DIR, input_columns, run_monitor
from local_mode.serving.capture import capture_record
from local_mode.serving.endpoint import CAPTURE_DIR, EndpointSpec, LocalEndpoint, free_port, package_archive
from local_mode.traffic import send_records, write_ground_truth
from ml_code.monitoring.alarm import ALARM, INSUFFICIENT_DATA, OK

ENDPOINT = "monitored"


@pytest.fixture(scope="module")
def model(approved_models):
    return approved_models["binary_classification"]


@pytest.fixture(scope="module")
def stage(model):
    return local_stage(model.contract.name)[1]


@pytest.fixture(scope="module")
def runs(model, stage):
    """Three monitoring runs over real captured traffic: training-like, then drifted twice."""
    spec = EndpointSpec(name=ENDPOINT, model_archive=package_archive(model.home, model.package), port=free_port())
    columns = input_columns(model.home, model.package)
    results = []
    with LocalEndpoint(spec, model.home) as endpoint:
        for seed, drift in ((21, False), (22, True), (23, True)):
            labels = send_records(endpoint.url, generate(1000, seed=seed, drift=drift), columns, "churned", batch=20)
            write_ground_truth(model.home / GROUND_TRUTH_DIR / ENDPOINT, labels, model.contract)
            results.append(
                run_monitor(
                    model.home,
                    endpoint=ENDPOINT,
                    package=model.package,
                    contract_source=model.contract_source,
                    stage=stage,
                )
            )
    return results


def drifted(result) -> set[str]:
    return {v["feature_name"] for v in result.violations if v["constraint_check_type"] == "baseline_drift_check"}


def test_traffic_from_the_training_distribution_raises_no_violation(runs):
    normal = runs[0]
    assert normal.records == 1000
    assert normal.violations == []
    assert max(normal.drift.values()) < 0.1
    files = {path.name for path in normal.output.iterdir()}
    assert {"statistics.json", "constraint_violations.json"} <= files


def test_drifted_traffic_is_flagged_on_the_shifted_features_only(runs):
    for result in runs[1:]:
        assert {"plan", "monthly_charges", "support_calls"} <= drifted(result) <= set(DRIFTED_FIELDS)
        assert all(v["constraint_check_type"] == "baseline_drift_check" for v in result.violations)
        assert all("exceeds threshold: 0.1" in v["description"] for v in result.violations)


def test_each_run_covers_only_what_was_captured_since_the_last(runs):
    assert [result.records for result in runs] == [1000, 1000, 1000]


def test_model_quality_joins_ground_truth_by_inference_id(runs):
    quality = runs[0].model_quality
    assert quality["merged_records"] == 1000
    assert 0.75 <= quality["binary_classification_metrics"]["auc"]["value"] <= 1.0


def test_the_drift_alarm_fires_on_two_of_three_breaching_runs(runs):
    states = [{o.rule.name: o for o in result.alarms}[f"{ENDPOINT}-feature-drift"] for result in runs]
    assert [o.state.value for o in states] == [OK, OK, ALARM]  # one breaching run of three is not enough
    assert states[2].fired and "2 of the last 3" in states[2].state.reason
    quality = [{o.rule.name: o for o in result.alarms}[f"{ENDPOINT}-model-quality"] for result in runs]
    assert all(o.state.value == OK for o in quality)  # the model still beats its gate on live traffic


def write_capture(home, endpoint: str, records: list[dict], when: datetime) -> None:
    folder = home / CAPTURE_DIR / endpoint / "AllTraffic" / when.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            capture_record(
                input_body=json.dumps(record).encode(),
                input_type="application/json",
                output_body=b'{"predictions": [{"probability": 0.5, "label": "yes"}]}',
                output_type="application/json",
                inference_time=when,
                inference_id=None,
                event_id=str(number),
            )
        )
        for number, record in enumerate(records)
    ]
    (folder / "00-00-000-abc.jsonl").write_text("\n".join(lines) + "\n")


def test_a_missing_column_a_new_column_and_an_unknown_category_are_reported(model, stage):
    columns = input_columns(model.home, model.package)
    records = [
        {**{c: r[c] for c in columns if c != "region"}, "plan": "platinum" if n % 10 == 0 else r["plan"], "coupon": "x"}
        for n, r in enumerate(generate(300, seed=31))
    ]
    when = datetime(2026, 1, 1, 12, tzinfo=UTC)
    write_capture(model.home, "hand-written", records, when)
    result = run_monitor(
        model.home,
        endpoint="hand-written",
        package=model.package,
        contract_source=model.contract_source,
        stage=stage,
        start=when,
        end=when + timedelta(hours=1),
    )
    found = {(v["constraint_check_type"], v["feature_name"]) for v in result.violations}
    assert ("missing_column_check", "region") in found
    assert ("extra_column_check", "coupon") in found
    assert ("categorical_values_check", "plan") in found


def test_a_window_without_traffic_publishes_nothing_and_the_run_succeeds(model, stage):
    result = run_monitor(
        model.home,
        endpoint="silent",
        package=model.package,
        contract_source=model.contract_source,
        stage=stage,
        start=datetime(2020, 1, 1, tzinfo=UTC),
        end=datetime(2020, 1, 2, tzinfo=UTC),
    )
    assert result.execution.status == "Succeeded" and result.output is None
    assert [step.name for step in result.execution.steps if step.status == "Succeeded"] == [
        "FindServedModel",
        "HasTraffic",
    ]
    assert all(outcome.state.value == INSUFFICIENT_DATA for outcome in result.alarms)


def test_an_alarm_without_data_stays_insufficient(model, stage):
    from blueprint.alarm_rules import alarm_rules
    from local_mode.metrics import MetricsStore
    from local_mode.monitoring import evaluate_alarm

    rule = alarm_rules("never-monitored", model.contract, stage)[0]
    outcome = evaluate_alarm(MetricsStore(model.home), rule, "never-monitored", datetime.now(UTC))
    assert outcome.state.value == INSUFFICIENT_DATA and not outcome.fired


def test_a_first_run_reads_the_last_day_not_every_capture_ever(model, stage):
    columns = input_columns(model.home, model.package)
    records = [{c: r[c] for c in columns} for r in generate(60, seed=41)]
    now = datetime.now(UTC)
    write_capture(model.home, "long-lived", records[:50], now - timedelta(days=3))  # before the window: not read
    write_capture(model.home, "long-lived", records[50:], now - timedelta(minutes=5))
    result = run_monitor(
        model.home, endpoint="long-lived", package=model.package, contract_source=model.contract_source, stage=stage
    )
    assert result.records == 10
