"""The CI/CD scripts against moto: the release step finds the newest Approved package and its sample payload; the
smoke test invokes a SageMaker endpoint through sagemaker-runtime; the source upload zips HEAD with its commit."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import zipfile

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemakerruntime.models import sagemakerruntime_backends

from blueprint.config import load_config
from infra import upload_source
from infra.codebuild import release, smoke_test
from infra.constructs.pipeline_source import SOURCE_COMMIT_FILE
from ml_code.paths import SAMPLE_PAYLOAD_FILE
from tests.infra.registry import register_package
from tests.infra.synth import ROOT, cdk_json_context

GROUP = "mlops-staging-customer-churn"
PAYLOAD = b"tenure,plan\n3,basic\n40,premium\n"


@pytest.fixture()
def context() -> dict:
    return cdk_json_context()


@pytest.fixture()
def aws():
    with mock_aws():
        sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        s3.create_bucket(Bucket="artifacts")
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            info = tarfile.TarInfo(SAMPLE_PAYLOAD_FILE)
            info.size = len(PAYLOAD)
            tar.addfile(info, io.BytesIO(PAYLOAD))
        s3.put_object(Bucket="artifacts", Key="run/sample_payload/payload.tar.gz", Body=archive.getvalue())
        yield sagemaker, s3


def register(sagemaker, status: str, payload: bool = True) -> str:
    extra = {"SamplePayloadUrl": "s3://artifacts/run/sample_payload/payload.tar.gz"} if payload else {}
    return register_package(sagemaker, GROUP, status, **extra)


def test_the_release_is_the_newest_approved_package_with_its_sample_payload(aws, tmp_path, capsys):
    sagemaker, _ = aws
    register(sagemaker, "Approved")
    newest_approved = register(sagemaker, "Approved")
    register(sagemaker, "PendingManualApproval")  # newer, but not approved
    register(sagemaker, "Rejected")
    assert release.main(["--group", GROUP, "--output", str(tmp_path / "release")]) == 0
    assert capsys.readouterr().out == newest_approved + "\n"  # what the pipeline passes to the deployments
    written = json.loads((tmp_path / "release" / release.PACKAGE_FILE).read_text())
    assert written["ModelPackageArn"] == newest_approved
    assert written["ModelPackageVersion"] == 2
    assert smoke_test.read_payload(tmp_path / "release" / release.PAYLOAD_FILE) == PAYLOAD


def test_fails_when_the_group_has_no_approved_package(aws, tmp_path, caplog):
    sagemaker, _ = aws
    register(sagemaker, "PendingManualApproval")
    assert release.main(["--group", GROUP, "--output", str(tmp_path)]) == 1
    assert f"no Approved package in {GROUP}" in caplog.text
    assert not (tmp_path / release.PACKAGE_FILE).exists()


def test_fails_when_the_package_has_no_sample_payload(aws, tmp_path):
    sagemaker, s3 = aws
    arn = register(sagemaker, "Approved", payload=False)
    with pytest.raises(release.NothingToRelease, match=f"{arn} has no SamplePayloadUrl, so it cannot be smoke-tested"):
        release.resolve(sagemaker, s3, GROUP, tmp_path)


def queue_answers(*bodies: str) -> None:
    backend = sagemakerruntime_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    backend.results_queue.extend((body, "application/json", "AllTraffic", "") for body in bodies)


def run_against_moto(answer: dict | str) -> list[str]:
    body = answer if isinstance(answer, str) else json.dumps(answer)
    queue_answers(body)  # moto gives the same request the same answer
    invoke = smoke_test.sagemaker_invoker(boto3.client("sagemaker-runtime"), "mlops-staging-customer-churn")
    return smoke_test.smoke_test(
        invoke, PAYLOAD, problem_type="binary_classification", positive_label="yes", max_latency_ms=10_000, calls=3
    )


def test_the_smoke_test_passes_a_sagemaker_endpoint_that_answers_well():
    answer = {"predictions": [{"probability": 0.9, "label": "yes"}, {"probability": 0.2, "label": "not yes"}]}
    with mock_aws():
        assert run_against_moto(answer) == []


def test_the_smoke_test_fails_a_sagemaker_endpoint_that_answers_wrongly():
    with mock_aws():
        problems = run_against_moto({"predictions": [{"probability": 0.9, "label": "not yes"}]})
    assert problems == [f"call {call}: 1 predictions for 2 records" for call in (1, 2, 3)]
    with mock_aws():
        problems = run_against_moto("not json")
    assert problems[0] == "call 1: the answer is not JSON"


def git(repository, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repository, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repository(tmp_path):
    git(tmp_path, "init", "--quiet")
    (tmp_path / "Makefile").write_text("test:\n")
    git(tmp_path, "add", "Makefile")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "first")
    return tmp_path


def test_the_source_zip_holds_head_and_names_its_commit(repository):
    body, commit = upload_source.source_zip(repository)
    assert commit == git(repository, "rev-parse", "HEAD").strip()
    with zipfile.ZipFile(io.BytesIO(body)) as zipped:
        assert zipped.read(SOURCE_COMMIT_FILE).decode() == commit + "\n"
        assert zipped.read("Makefile") == b"test:\n"


def test_fails_when_the_work_tree_has_uncommitted_changes(repository):
    (repository / "Makefile").write_text("changed\n")
    with pytest.raises(RuntimeError, match="uncommitted changes: commit them first"):
        upload_source.source_zip(repository)


def test_the_source_bucket_is_named_as_the_cicd_stack_names_it(context):
    with mock_aws():
        sts = boto3.client("sts")
        assert upload_source.source_bucket(load_config(context), sts, "eu-west-1") == (
            f"mlops-cicd-source-{DEFAULT_ACCOUNT_ID}-eu-west-1"
        )
        tooling = load_config({**context, "platform.cicd.account": "111122223333", "platform.cicd.region": "us-east-2"})
        assert upload_source.source_bucket(tooling, sts, "eu-west-1") == "mlops-cicd-source-111122223333-us-east-2"


def test_the_scripts_need_nothing_but_boto3_as_the_builds_install_it():
    probe = (
        "import sys; import infra.codebuild.release, infra.codebuild.smoke_test; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy', 'aws_cdk', 'sagemaker', 'xgboost', "
        "'boto3', 'pyspark'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # boto3 too is imported only when a script runs against AWS


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "the payload holds no records"),
        ("plan,region\nbásico,norte\n".encode("latin-1"), "the payload is not UTF-8 text"),
        ("tarball", "holds no payload.csv"),
        ("missing", "cannot read the payload"),
    ],
)
def test_the_smoke_test_says_why_it_cannot_run_in_one_line(tmp_path, caplog, payload, reason):
    import tarfile

    path = tmp_path / "payload.csv"
    if payload == "tarball":
        path = tmp_path / "payload.tar.gz"
        (tmp_path / "other.csv").write_text("a\n1\n")
        with tarfile.open(path, "w:gz") as archive:
            archive.add(tmp_path / "other.csv", arcname="other.csv")
    elif payload == "missing":
        path = tmp_path / "nowhere.csv"
    else:
        path.write_bytes(payload)
    assert smoke_test.main(["--url", f"http://127.0.0.1:{closed_port()}", "--payload", str(path)]) == 1
    assert "smoke test cannot run: " in caplog.text and reason in caplog.text
    assert "Traceback" not in caplog.text


def test_an_endpoint_that_is_not_there_or_never_answers_fails_each_call_in_time(tmp_path, caplog):
    import socket

    payload = tmp_path / "payload.csv"
    payload.write_text('plan,note\nbasic,"two\nlines"\n')  # one record: a quoted field may hold a line break
    assert smoke_test.count_records(payload.read_bytes()) == 1
    assert (
        smoke_test.main(["--url", f"http://127.0.0.1:{closed_port()}", "--payload", str(payload), "--calls", "2"]) == 1
    )
    assert caplog.text.count("no answer: ConnectionRefusedError") == 2
    caplog.clear()
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert smoke_test.main(["--url", url, "--payload", str(payload), "--calls", "1", "--timeout", "0.3"]) == 1
    assert "no answer: " in caplog.text and "timed out" in caplog.text


def test_fails_at_once_when_calls_is_not_positive(capsys):
    with pytest.raises(SystemExit) as exited:
        smoke_test.main(["--url", "http://127.0.0.1:1", "--payload", "p.csv", "--calls", "0"])
    assert exited.value.code == 2 and "must be at least 1, got 0" in capsys.readouterr().err


def test_the_release_says_in_one_line_why_it_cannot_fetch_the_payload(aws, tmp_path, caplog, capsys):
    sagemaker, s3 = aws
    register(sagemaker, "Approved")
    s3.delete_object(Bucket="artifacts", Key="run/sample_payload/payload.tar.gz")  # gone from its bucket
    assert release.main(["--group", GROUP, "--output", str(tmp_path / "release")]) == 1
    assert f"cannot release from {GROUP}: ClientError:" in caplog.text and "Traceback" not in caplog.text
    assert capsys.readouterr().out == ""  # no ARN for the pipeline to pass on
