"""The local Model Registry: SageMaker's three approval states, legal moves only, safe under concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from local_mode.registry import (
    _SCHEMA,
    APPROVED,
    PENDING,
    REGISTRY_FILE,
    REJECTED,
    LocalSageMakerClient,
    Registry,
    RegistryError,
    local_clients,
    package_arn,
)
from local_mode.registry_cli import lineage
from tests.cli import local_mode_here

GROUP = "mlops-dev-customer-churn"


def register(registry: Registry, group: str = GROUP, status: str = PENDING, model: str = "s3://b/model.tar.gz"):
    return registry.register(
        group,
        status=status,
        description="a test package",
        inference_specification={"Containers": [{"Image": "local/xgboost", "ModelDataUrl": model}]},
        model_metrics={"ModelQuality": {"Statistics": {"S3Uri": "s3://local-artifacts/eval/evaluation.json"}}},
        drift_check_baselines={},
        customer_metadata={"git_commit": "abc", "data_sha256": "123", "contract": "customer-churn"},
        pipeline_execution="exec-1",
    )


@pytest.fixture
def registry(tmp_path) -> Registry:
    registry = Registry(tmp_path)
    assert registry.create_group(GROUP)
    return registry


def test_versions_count_up_and_keep_what_was_registered(registry):
    first, second = register(registry), register(registry, model="s3://b/second.tar.gz")
    assert (first.version, second.version) == (1, 2)
    assert first.status == PENDING and first.decided_at is None
    stored = registry.package(GROUP, 2)
    assert stored.model_data_url == "s3://b/second.tar.gz"
    assert stored.customer_metadata["git_commit"] == "abc"
    assert [p.version for p in registry.packages(GROUP)] == [2, 1]  # newest first


def test_approve_and_reject_record_who_when_and_why(registry):
    register(registry), register(registry)
    approved = registry.decide(GROUP, 1, APPROVED, approver="ana", comment="auc holds")
    rejected = registry.decide(GROUP, 2, REJECTED, approver="bo")
    assert (approved.status, approved.decided_by, approved.comment) == (APPROVED, "ana", "auc holds")
    assert approved.decided_at is not None
    assert rejected.status == REJECTED
    assert registry.newest(GROUP, APPROVED).version == 1
    assert registry.newest(GROUP, PENDING) is None


def test_an_approved_model_can_be_withdrawn_and_a_rejected_one_approved_by_overruling(registry):
    register(registry)
    registry.decide(GROUP, 1, APPROVED)
    assert registry.decide(GROUP, 1, REJECTED, overrule=True).status == REJECTED
    assert registry.decide(GROUP, 1, APPROVED, overrule=True).status == APPROVED


def test_fails_naming_the_earlier_decision_when_a_decision_is_reversed_without_overruling(registry):
    register(registry)
    registry.decide(GROUP, 1, APPROVED, approver="ana", comment="auc holds")
    with pytest.raises(RegistryError, match=r"was Approved by ana at .* \(auc holds\): to reverse that decision, pass"):
        registry.decide(GROUP, 1, REJECTED, approver="bo")
    assert registry.package(GROUP, 1).decided_by == "ana"


def _decide(home: str, status: str, approver: str, start, queue) -> None:
    start.wait(timeout=60)
    try:
        Registry(Path(home)).decide(GROUP, 1, status, approver=approver)
        queue.put((approver, "decided"))
    except RegistryError as error:
        queue.put((approver, str(error)))


def test_of_an_approval_and_a_rejection_that_race_one_wins_and_the_other_learns_it(registry, tmp_path):
    register(registry)
    context = multiprocessing.get_context("spawn")
    queue, start = context.Queue(), context.Event()
    workers = [
        context.Process(target=_decide, args=(str(tmp_path), status, approver, start, queue))
        for status, approver in ((APPROVED, "ana"), (REJECTED, "bo"))
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = dict([queue.get(timeout=60), queue.get(timeout=60)])
    for worker in workers:
        worker.join(timeout=60)
    winner = registry.package(GROUP, 1)
    loser = "bo" if winner.decided_by == "ana" else "ana"
    assert outcomes[winner.decided_by] == "decided"
    assert f"was {winner.status} by {winner.decided_by} at {winner.decided_at}" in outcomes[loser]


def test_reading_a_folder_without_a_registry_fails_and_creates_nothing(tmp_path):
    mistyped = tmp_path / "wrok"
    with pytest.raises(RegistryError, match=rf"no registry in {mistyped}: is it the --workdir a `local_mode run` used"):
        Registry(mistyped).groups()
    with pytest.raises(RegistryError, match="no registry in"):
        Registry(mistyped).decide(GROUP, 1, APPROVED)
    assert not mistyped.exists()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RegistryError, match=r"a-file is a file, not a local mode home folder \(--workdir\)"):
        Registry(tmp_path / "a-file").groups()


def test_a_zero_length_registry_is_an_error_for_readers_and_runs_alike(tmp_path):
    (tmp_path / REGISTRY_FILE).touch()
    for call in (lambda r: r.groups(), lambda r: r.create_group(GROUP)):
        with pytest.raises(RegistryError, match=rf"{tmp_path / REGISTRY_FILE} is empty \(0 bytes\), not a registry"):
            call(Registry(tmp_path))
    assert (tmp_path / REGISTRY_FILE).stat().st_size == 0  # left for the user to restore


def test_a_damaged_registry_is_named_with_the_way_out(tmp_path):
    (tmp_path / REGISTRY_FILE).write_bytes(b"not sqlite at all, but long enough to be read as a header" * 4)
    with pytest.raises(RegistryError) as caught:
        Registry(tmp_path).groups()
    assert str(caught.value).startswith(f"{tmp_path / REGISTRY_FILE} is damaged (file is not a database)")
    assert "restore it from a copy, or move it away" in str(caught.value)


def test_a_registry_locked_too_long_is_named_with_the_way_out(registry, tmp_path, monkeypatch):
    monkeypatch.setattr("local_mode.registry.LOCK_TIMEOUT_SECONDS", 0.1)
    holder = sqlite3.connect(tmp_path / REGISTRY_FILE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(RegistryError, match=rf"{tmp_path / REGISTRY_FILE} stayed locked for 0.1 s by another"):
            register(registry)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert register(registry).version == 1


def test_fails_when_a_decision_goes_back_to_pending(registry):
    register(registry)
    registry.decide(GROUP, 1, APPROVED)
    with pytest.raises(RegistryError, match="is Approved: it can become Rejected, not PendingManualApproval"):
        registry.decide(GROUP, 1, PENDING)


def test_fails_when_a_package_is_approved_twice(registry):
    register(registry)
    registry.decide(GROUP, 1, APPROVED)
    with pytest.raises(RegistryError, match="is Approved already"):
        registry.decide(GROUP, 1, APPROVED)


def test_fails_when_the_group_is_unknown(registry):
    with pytest.raises(
        RegistryError, match=r"no model package group 'nope' \(groups: \['mlops-dev-customer-churn'\]\)"
    ):
        register(registry, group="nope")
    with pytest.raises(RegistryError, match="no model package group 'nope'"):
        registry.packages("nope")


def test_fails_when_the_version_is_unknown(registry):
    register(registry)
    with pytest.raises(RegistryError, match=r"has no version 7 \(versions: \[1\]\)"):
        registry.package(GROUP, 7)
    with pytest.raises(RegistryError, match="has no version 7"):
        registry.decide(GROUP, 7, APPROVED)


def test_fails_when_the_status_is_not_one_of_sagemakers(registry):
    with pytest.raises(RegistryError, match="approval status 'Deployed' is not one of"):
        register(registry, status="Deployed")


def _register_many(home: str, count: int, queue) -> None:
    registry = Registry(Path(home))
    queue.put([register(registry).version for _ in range(count)])


def test_concurrent_registrations_get_distinct_versions(tmp_path):
    Registry(tmp_path).create_group(GROUP)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_register_many, args=(str(tmp_path), 15, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    versions = queue.get(timeout=60) + queue.get(timeout=60)
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(versions) == list(range(1, 31))
    assert len(Registry(tmp_path).packages(GROUP)) == 30


def test_the_local_clients_answer_champion_reads_in_boto3_shapes(registry, tmp_path):
    register(registry), register(registry)
    registry.decide(GROUP, 1, APPROVED)
    sagemaker, s3 = local_clients(tmp_path)
    listed = sagemaker.list_model_packages(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=APPROVED, SortBy="CreationTime", SortOrder="Descending"
    )["ModelPackageSummaryList"]
    assert [item["ModelPackageArn"] for item in listed] == [package_arn(GROUP, 1)]
    described = sagemaker.describe_model_package(ModelPackageName=listed[0]["ModelPackageArn"])
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("evaluation.json")
    report = tmp_path / "s3" / "local-artifacts" / "eval" / "evaluation.json"
    report.parent.mkdir(parents=True)
    report.write_text('{"auc": 1}')
    assert s3.get_object(Bucket="local-artifacts", Key="eval/evaluation.json")["Body"].read() == b'{"auc": 1}'
    with pytest.raises(RegistryError, match="is not a local model package ARN"):
        LocalSageMakerClient(registry).describe_model_package(ModelPackageName="arn:aws:sagemaker:x")


def test_a_registry_made_before_sample_payloads_gains_the_column_and_keeps_its_packages(tmp_path):
    old_schema = _SCHEMA.replace("    sample_payload_url TEXT,\n", "")
    assert old_schema != _SCHEMA
    with sqlite3.connect(tmp_path / REGISTRY_FILE) as db:
        db.executescript(old_schema)
    registry = Registry(tmp_path)
    registry.create_group(GROUP)
    old = register(registry)
    assert old.sample_payload_url is None
    new = registry.register(
        GROUP,
        status=PENDING,
        description="with a payload",
        inference_specification={"Containers": [{"Image": "local/xgboost", "ModelDataUrl": "s3://b/m.tar.gz"}]},
        model_metrics={},
        drift_check_baselines={},
        customer_metadata={},
        pipeline_execution="exec-2",
        sample_payload_url="s3://b/payload.tar.gz",
    )
    assert registry.package(GROUP, new.version).sample_payload_url == "s3://b/payload.tar.gz"
    described = LocalSageMakerClient(registry).describe_model_package(ModelPackageName=package_arn(GROUP, 2))
    assert described["SamplePayloadUrl"] == "s3://b/payload.tar.gz"
    assert "SamplePayloadUrl" not in LocalSageMakerClient(registry).describe_model_package(
        ModelPackageName=package_arn(GROUP, 1)
    )


def test_what_a_user_typed_is_shown_with_its_control_characters_escaped(registry, tmp_path):
    register(registry)
    package = registry.decide(GROUP, 1, APPROVED, approver="ana\x07", comment="\x1b[2J\x1b[31mfine\x1b[0m\nreally")
    shown = lineage(package, tmp_path)
    assert "by ana\\x07: \\x1b[2J\\x1b[31mfine\\x1b[0m\\nreally" in shown
    assert "\x1b" not in shown and "\x07" not in shown


def test_the_cli_fails_on_a_mistyped_workdir_and_on_a_reversal_without_overrule(registry, tmp_path):
    register(registry)
    mistyped = local_mode_here("registry", "list", "--workdir", tmp_path / "wrok")
    assert mistyped.returncode == 1 and f"error: no registry in {tmp_path / 'wrok'}" in mistyped.stderr
    approve = ("registry", "approve", "--workdir", tmp_path, "--group", GROUP, "--version", 1, "--approver", "ana")
    assert local_mode_here(*approve).returncode == 0
    reject = ("registry", "reject", "--workdir", tmp_path, "--group", GROUP, "--version", 1)
    refused = local_mode_here(*reject)
    assert refused.returncode == 1 and "was Approved by ana at" in refused.stderr
    overruled = local_mode_here(*reject, "--overrule", "--approver", "bo")
    assert overruled.returncode == 0 and f"{GROUP} version 1: Rejected by bo" in overruled.stdout
