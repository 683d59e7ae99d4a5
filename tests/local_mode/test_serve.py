"""`local_mode serve`: a real gunicorn server on a loopback port, SageMaker's serving contract, data capture."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
from datetime import UTC
from pathlib import Path

import pandas as pd
import pytest

from local_mode.churn_data import generate
from local_mode.local_s3 import LocalS3
from local_mode.monitoring import input_columns
from local_mode.registry import PENDING, Registry, RegistryError
from local_mode.serving.capture import CaptureConfig, DataCapture
from local_mode.serving.endpoint import LocalEndpoint, approved_package, free_port, package_archive
from local_mode.traffic import EndpointClient
from ml_code.contracts.contract import PROBLEM_TYPES
from ml_code.paths import SAMPLE_PAYLOAD_FILE
from ml_code.settings import MAX_RECORDS_PER_REQUEST as MAX_RECORDS
from ml_code.settings import SAMPLE_PAYLOAD_RECORDS
from tests.cli import local_mode_here
from tests.local_mode.conftest import start


def feature_records(model, count: int, **generate_args) -> list[dict]:
    columns = input_columns(model.home, model.package)
    return [{c: record[c] for c in columns} for record in generate(count, seed=11, **generate_args)]


def invoke(endpoint: LocalEndpoint, body, content_type: str, accept: str = "application/json", **headers):
    client = EndpointClient(endpoint.url)
    try:
        payload = body if isinstance(body, bytes) else body.encode()
        return client.invoke(payload, content_type, accept, **headers)
    finally:
        client.close()


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_the_packages_sample_payload_smoke_tests_its_endpoint(endpoints, approved_models, problem_type):
    model = approved_models[problem_type]
    archive = LocalS3(model.home).path(model.package.sample_payload_url)
    with tarfile.open(archive) as tar:
        payload = tar.extractfile(SAMPLE_PAYLOAD_FILE).read()
    status, body = invoke(endpoints[problem_type], payload, "text/csv")
    assert status == 200, body
    assert len(json.loads(body)["predictions"]) == SAMPLE_PAYLOAD_RECORDS


def test_ping_answers_200_once_the_model_is_loaded(endpoints):
    client = EndpointClient(endpoints["binary_classification"].url)
    client.connection.request("GET", "/ping")
    assert client.connection.getresponse().status == 200


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_json_and_csv_answers_for_each_problem_type(endpoints, approved_models, problem_type):
    model, endpoint = approved_models[problem_type], endpoints[problem_type]
    records = feature_records(model, 5)
    status, body = invoke(endpoint, json.dumps(records), "application/json")
    assert status == 200, body
    predictions = json.loads(body)["predictions"]
    assert len(predictions) == 5
    if problem_type == "binary_classification":
        assert all(0 <= p["probability"] <= 1 and p["label"] in ("yes", "no") for p in predictions)
    elif problem_type == "multiclass_classification":
        assert all(set(p["probabilities"]) == {"basic", "premium", "standard"} for p in predictions)
        assert all(p["label"] == max(p["probabilities"], key=p["probabilities"].get) for p in predictions)
    else:
        assert all(5 <= p["value"] <= 200 for p in predictions)  # monthly charges, in dollars
    status, csv_body = invoke(endpoint, pd.DataFrame(records).to_csv(index=False), "text/csv", accept="text/csv")
    assert status == 200
    rows = csv_body.decode().strip().splitlines()
    assert len(rows) == 5
    first = predictions[0]
    expected = first.get("value", first.get("probability", first.get("label")))
    assert rows[0].split(",")[0] == str(expected)  # CSV and JSON give the same answer


@pytest.mark.parametrize("problem_type", PROBLEM_TYPES)
def test_a_verbose_request_gets_each_records_explanation_over_http(endpoints, approved_models, problem_type):
    model, endpoint = approved_models[problem_type], endpoints[problem_type]
    records = feature_records(model, 3)
    status, body = invoke(endpoint, json.dumps(records), "application/json", accept="application/json; verbose=true")
    assert status == 200, body
    for prediction in json.loads(body)["predictions"]:
        contributions = prediction["explanation"]["contributions"]
        assert contributions and {c["column"] for c in contributions} <= set(records[0])  # raw columns the client sent
        assert isinstance(prediction["explanation"]["bias"], float)


def bad_requests(model) -> dict[str, tuple[bytes, str, str, int]]:
    record = feature_records(model, 1)[0]
    too_many = json.dumps([record] * (MAX_RECORDS + 1)).encode()
    without_plan = json.dumps({k: v for k, v in record.items() if k != "plan"}).encode()
    return {
        "malformed JSON": (b'{"plan": ', "application/json", "application/json", 400),
        "a missing column": (without_plan, "application/json", "application/json", 400),
        "a CSV row of the wrong width": (b"1,2,3\n", "text/csv", "application/json", 400),
        "a nested value": (
            json.dumps({**record, "plan": {"a": 1}}).encode(),
            "application/json",
            "application/json",
            400,
        ),
        "an empty body": (b"", "application/json", "application/json", 400),
        "an unsupported content type": (b"\x93NUMPY", "application/x-npy", "application/json", 415),
        "an unsupported accept type": (json.dumps(record).encode(), "application/json", "application/x-protobuf", 406),
        "too many records": (too_many, "application/json", "application/json", 413),
    }


BAD_REQUEST_KINDS = (
    "malformed JSON",
    "a missing column",
    "a CSV row of the wrong width",
    "a nested value",
    "an empty body",
    "an unsupported content type",
    "an unsupported accept type",
    "too many records",
)


@pytest.mark.parametrize("kind", BAD_REQUEST_KINDS)
def test_a_client_error_is_a_4xx_with_its_reason_and_the_server_keeps_serving(endpoints, approved_models, kind):
    model, endpoint = approved_models["binary_classification"], endpoints["binary_classification"]
    body, content_type, accept, expected = bad_requests(model)[kind]
    status, answer = invoke(endpoint, body, content_type, accept)
    assert status == expected, answer
    error = json.loads(answer)
    assert error["error"] and error["message"]
    status, _ = invoke(endpoint, json.dumps(feature_records(model, 1)), "application/json")
    assert status == 200


def test_fails_to_serve_a_version_that_is_not_approved(approved_models):
    model = approved_models["regression"]
    registry = Registry(model.home)
    fields = ("description", "inference_specification", "model_metrics", "drift_check_baselines", "customer_metadata")
    pending = registry.register(
        model.package.group,
        status=PENDING,
        pipeline_execution="test",
        **{name: getattr(model.package, name) for name in fields},
    )
    with pytest.raises(RegistryError, match=r"version 2 is PendingManualApproval, not Approved"):
        approved_package(model.home, model.package.group, pending.version)
    assert approved_package(model.home, model.package.group).version == 1  # the newest *Approved* one


def test_fails_when_a_group_has_no_approved_version(tmp_path):
    Registry(tmp_path).create_group("empty-group")
    with pytest.raises(RegistryError, match=r"group 'empty-group' has no Approved version"):
        approved_package(tmp_path, "empty-group")


CAPTURE_FILE = re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f]{12}\.jsonl$")


def captured(endpoint: LocalEndpoint) -> list[dict]:
    files = sorted(endpoint.capture_root.rglob("*.jsonl"))
    assert files and all(CAPTURE_FILE.search(path.relative_to(endpoint.capture_root).as_posix()) for path in files)
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def test_captures_every_answered_request_in_sagemakers_format_and_loses_none_on_shutdown(approved_models):
    model = approved_models["binary_classification"]
    endpoint = start(model, "capture-all", workers=2)
    records = feature_records(model, 60)
    try:
        for number, record in enumerate(records):
            if number % 2:
                status, _ = invoke(endpoint, json.dumps(record), "application/json", inference_id=f"id-{number}")
            else:
                status, _ = invoke(endpoint, pd.DataFrame([record]).to_csv(index=False), "text/csv", "text/csv")
            assert status == 200
        assert invoke(endpoint, b"{", "application/json")[0] == 400  # not captured: no answer to monitor
    finally:
        assert endpoint.stop() == 0
    events = captured(endpoint)
    assert len(events) == len(records)
    by_id = {e["eventMetadata"].get("inferenceId"): e for e in events}
    json_event = by_id["id-1"]
    assert json_event["eventVersion"] == "0"
    assert json_event["captureData"]["endpointInput"] == {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": json.dumps(records[1]),
        "encoding": "JSON",
    }
    output = json_event["captureData"]["endpointOutput"]
    assert output["mode"] == "OUTPUT" and output["encoding"] == "JSON"
    assert len(json.loads(output["data"])["predictions"]) == 1
    csv_events = [e for e in events if e["captureData"]["endpointInput"]["encoding"] == "CSV"]
    assert len(csv_events) == 30 and all("inferenceId" not in e["eventMetadata"] for e in csv_events)
    assert all(e["captureData"]["endpointOutput"]["observedContentType"].startswith("text/csv") for e in csv_events)
    assert len({e["eventMetadata"]["eventId"] for e in events}) == len(events)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["eventMetadata"]["inferenceTime"]) for e in events)


def test_captures_the_sampled_share_of_requests(approved_models):
    model = approved_models["binary_classification"]
    endpoint = start(model, "capture-some", workers=1, sampling_percentage=25)
    body = json.dumps(feature_records(model, 1))
    try:
        assert all(invoke(endpoint, body, "application/json")[0] == 200 for _ in range(400))
    finally:
        endpoint.stop()
    assert 55 <= len(captured(endpoint)) <= 145  # 100 expected; 5 binomial standard deviations either side


def test_sampling_follows_the_percentage(tmp_path):
    from datetime import datetime

    for percentage, low, high in ((0, 0, 0), (10, 150, 250), (100, 2000, 2000)):
        capture = DataCapture(CaptureConfig(tmp_path / str(percentage), "ep", "AllTraffic", percentage), seed=3)
        for _ in range(2000):
            capture.offer(
                input_body=b"1",
                input_type="text/csv",
                output_body=b"0.5",
                output_type="text/csv",
                inference_time=datetime.now(UTC),
                inference_id=None,
            )
        capture.close()
        lines = sum(len(p.read_text().splitlines()) for p in Path(tmp_path / str(percentage)).rglob("*.jsonl"))
        assert low <= lines <= high, percentage


def test_fails_when_the_sampling_percentage_is_out_of_range(tmp_path):
    with pytest.raises(ValueError, match=r"sampling percentage must be from 0 to 100, got 120"):
        CaptureConfig(tmp_path, "ep", "AllTraffic", 120)
    archive = tmp_path / "model.tar.gz"
    served = ("serve", "--model", archive, "--endpoint", "ep-1", "--workdir", tmp_path)
    result = local_mode_here(*served, "--capture-percentage", 150)
    assert result.returncode == 1
    assert result.stderr == "error: the capture's sampling percentage must be from 0 to 100, got 150\n"


def test_serve_names_a_model_that_is_no_archive_and_a_port_in_use_in_one_line(tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_text("not gzip")
    port = free_port()
    served = ("serve", "--model", archive, "--endpoint", "ep-1", "--workdir", tmp_path, "--port", port)
    result = local_mode_here(*served)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {archive} is not a model archive, a gzip-compressed tar (")
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        result = local_mode_here(*served)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} is in use (Address already in use): stop what listens there, or pass another --port\n"
    )


@pytest.mark.parametrize("name", ["/some/dir", "../outside", "a/b", "-leading", "x" * 64, "white space"])
def test_fails_when_an_endpoint_name_could_reach_outside_the_workdir(tmp_path, name):
    from local_mode.monitoring import run_monitor
    from local_mode.serving.endpoint import EndpointSpec

    with pytest.raises(ValueError, match=r"is not a SageMaker endpoint name"):
        EndpointSpec(name=name, model_archive=tmp_path / "model.tar.gz")
    with pytest.raises(ValueError, match=r"is not a SageMaker endpoint name"):
        run_monitor(tmp_path, endpoint=name, package=None, contract_source=None, stage=None)
    assert list(tmp_path.iterdir()) == []  # nothing written, let alone deleted


def test_paths_and_methods_it_does_not_serve_are_answered_in_json(endpoints):
    import urllib.error
    import urllib.request

    url = endpoints["binary_classification"].url
    for request, status in (
        (urllib.request.Request(f"{url}/nowhere"), 404),
        (urllib.request.Request(f"{url}/invocations"), 405),  # a GET
    ):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (loopback)
        assert caught.value.code == status and caught.value.headers["Content-Type"] == "application/json"
        body = json.loads(caught.value.read())
        assert body["error"] in ("NotFound", "MethodNotAllowed") and request.full_url.split(url)[1] in body["message"]


def test_serve_exits_1_saying_so_when_its_server_is_killed(approved_models, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.cli import ROOT

    model = approved_models["binary_classification"]
    archive = package_archive(model.home, model.package)
    command = [sys.executable, "-m", "local_mode", "serve", "--model", str(archive), "--endpoint", "ep-killed"]
    serving = subprocess.Popen(  # noqa: S603
        [*command, "--workdir", str(tmp_path), "--port", str(free_port()), "--no-capture"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "serving" in serving.stdout.readline()
    children = Path(f"/proc/{serving.pid}/task/{serving.pid}/children").read_text().split()
    (server,) = [int(pid) for pid in children]
    os.kill(server, signal.SIGKILL)
    started = time.monotonic()
    assert serving.wait(timeout=60) == 1 and time.monotonic() - started < 60
    stderr = serving.stderr.read()
    assert "error: endpoint ep-killed stopped unasked: its server was killed by signal 9 (log: " in stderr
    assert "endpoint ep-killed stopped\n" not in serving.stdout.read()


def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read(endpoints):
    from ml_code.settings import MAX_REQUEST_BYTES

    port = int(endpoints["binary_classification"].url.rsplit(":", 1)[1])
    announced = 300_000_000
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(
            f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {announced}\r\n\r\n"
            "plan,region\n".encode()
        )  # 12 of the 300 MB announced: the answer comes without the rest
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):  # the head and its JSON body
            received = client.recv(65536)
            if not received:
                break
            answer += received
    head, body = answer.decode().split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 413") and "application/json" in head
    assert json.loads(body) == {
        "error": "TooManyRecords",
        "message": f"{announced} bytes in one request; send at most {MAX_REQUEST_BYTES}",
    }


def stalled_client(endpoint: LocalEndpoint) -> socket.socket:
    """A client that sends its headers and 10 bytes of a 1,000-byte body, then nothing."""
    client = socket.create_connection(("127.0.0.1", endpoint.spec.port), timeout=30)
    client.sendall(
        b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"
        b"Content-Length: 1000\r\n\r\n0123456789"
    )
    return client


def test_clients_that_stall_mid_body_starve_no_one_and_get_a_408(approved_models):
    model = approved_models["binary_classification"]
    endpoint = start(model, "slow-clients", workers=1)
    try:
        stalled = [stalled_client(endpoint) for _ in range(2)]
        time.sleep(0.5)  # both are in the worker now
        body = json.dumps(feature_records(model, 1)[0])
        started = time.monotonic()
        status, _ = invoke(endpoint, body, "application/json")
        assert status == 200 and time.monotonic() - started < 5  # not after the stalled ones' 60 s
        for client in stalled:
            answer = b""
            while chunk := client.recv(4096):  # the server closes the connection after its answer
                answer += chunk
            client.close()
            head, _, body = answer.decode().partition("\r\n\r\n")
            assert head.startswith("HTTP/1.1 408")
            assert json.loads(body)["message"] == "the request's body did not arrive within 10 s"
    finally:
        assert endpoint.stop() == 0


def test_every_answered_request_is_captured_even_when_its_worker_is_killed(approved_models):
    model = approved_models["binary_classification"]
    endpoint = start(model, "killed-worker", workers=1)
    records = feature_records(model, 40)
    try:
        for number, record in enumerate(records):
            assert invoke(endpoint, json.dumps(record), "application/json", inference_id=f"id-{number}")[0] == 200
        master = endpoint.process.pid
        (worker,) = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        os.kill(worker, signal.SIGKILL)  # no shutdown hook, no flush: what is not on disk is lost
    finally:
        endpoint.stop()
    assert sorted(event["eventMetadata"]["inferenceId"] for event in captured(endpoint)) == sorted(
        f"id-{number}" for number in range(len(records))
    )


def test_a_captured_request_is_on_disk_when_offer_returns(tmp_path):
    """What the endpoint answers is captured before the answer leaves: a worker killed the next moment loses none."""
    from datetime import datetime

    capture = DataCapture(CaptureConfig(tmp_path, "ep", "AllTraffic", 100))
    try:
        for number in range(200):
            assert capture.offer(
                input_body=b"1",
                input_type="text/csv",
                output_body=b"0.5",
                output_type="text/csv",
                inference_time=datetime.now(UTC),
                inference_id=f"id-{number}",
            )
            lines = [line for path in tmp_path.rglob("*.jsonl") for line in path.read_text().splitlines()]
            assert len(lines) == number + 1 and json.loads(lines[-1])["eventMetadata"]["inferenceId"] == f"id-{number}"
    finally:
        capture.close()


def serve_in_a_terminal(model, tmp_path, name: str) -> tuple[subprocess.Popen, int]:
    """`local_mode serve` as a terminal runs it: the leader of its own process group (Ctrl-C goes to the group)."""
    from tests.cli import ROOT

    archive = package_archive(model.home, model.package)
    port = free_port()
    command = [sys.executable, "-m", "local_mode", "serve", "--model", str(archive), "--endpoint", name]
    serving = subprocess.Popen(  # noqa: S603
        [*command, "--workdir", str(tmp_path), "--port", str(port), "--no-capture"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    assert "serving" in serving.stdout.readline()
    return serving, port


def test_ctrl_c_answers_the_request_in_flight_then_stops(approved_models, tmp_path):
    model = approved_models["binary_classification"]
    serving, port = serve_in_a_terminal(model, tmp_path, "ep-ctrl-c")
    body = json.dumps(feature_records(model, 1)[0]).encode()
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    client.sendall(head.encode() + body[:5])  # in flight: headers read, the body still coming
    time.sleep(0.5)
    os.killpg(serving.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    time.sleep(0.5)
    client.sendall(body[5:])
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = client.recv(4096)
        if not chunk:
            break
        answer += chunk
    client.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert serving.wait(timeout=60) == 0
    assert "endpoint ep-ctrl-c stopped" in serving.stdout.read()


def test_the_server_stops_when_its_launcher_is_killed(approved_models, tmp_path):
    model = approved_models["binary_classification"]
    serving, _ = serve_in_a_terminal(model, tmp_path, "ep-orphan")
    (server,) = [int(pid) for pid in Path(f"/proc/{serving.pid}/task/{serving.pid}/children").read_text().split()]
    os.kill(serving.pid, signal.SIGKILL)
    serving.wait(timeout=30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{server}").exists() and "Z" not in _state(server):
        time.sleep(0.2)
    assert not Path(f"/proc/{server}").exists() or "Z" in _state(server)  # gone (or a zombie awaiting its reaper)


def test_a_chunked_body_over_the_limit_is_refused_without_being_read_whole(endpoints):
    """A chunked body announces no length: the server reads one byte past the limit and refuses it."""
    from ml_code.settings import MAX_REQUEST_BYTES

    port = int(endpoints["binary_classification"].url.rsplit(":", 1)[1])
    size = MAX_REQUEST_BYTES + 1
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{size:x}\r\n".encode()
            + b"1" * size
            + b"\r\n0\r\n\r\n"
        )
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while received := client.recv(65536):
            answer += received
    head, body = answer.decode().split("\r\n\r\n", 1)
    assert head.startswith("HTTP/1.1 413")
    assert json.loads(body) == {
        "error": "TooManyRecords",
        "message": f"a body over the limit in one request; send at most {MAX_REQUEST_BYTES}",
    }


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def test_a_graceful_stop_answers_every_connection_it_had_accepted(approved_models):
    """Requests that arrive just before a stop are answered, not reset: the workers accept every waiting connection
    and finish them before they go."""
    from concurrent.futures import ThreadPoolExecutor

    model = approved_models["binary_classification"]
    endpoint = start(model, "graceful-backlog", workers=1)
    body = json.dumps(feature_records(model, 100))
    clients = [socket.create_connection(("127.0.0.1", endpoint.spec.port), timeout=60) for _ in range(24)]
    head = (  # one request per connection: nothing kept alive for the stop to wait out
        "POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    for client in clients:
        client.sendall(head.encode() + body.encode())

    def answer(client: socket.socket) -> bytes:
        received = b""
        while b"\r\n\r\n" not in received:
            try:
                chunk = client.recv(65536)
            except ConnectionResetError:
                return b"reset"
            if not chunk:
                break
            received += chunk
        return received

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = pool.map(answer, clients)
        assert endpoint.stop() == 0  # while most of them wait for a thread
        statuses = [reply.split(b"\r\n", 1)[0] for reply in answers]
    assert statuses == [b"HTTP/1.1 200 OK"] * len(clients)


def runtime_client(endpoint: LocalEndpoint):
    """boto3's SageMaker Runtime client, unchanged but for the endpoint URL."""
    import boto3

    return boto3.client("sagemaker-runtime", endpoint_url=endpoint.url)


def test_boto3_invoke_endpoint_gets_what_the_container_answers_with_aws_headers(endpoints, approved_models):
    endpoint, model = endpoints["binary_classification"], approved_models["binary_classification"]
    body = json.dumps(feature_records(model, 3))
    answer = runtime_client(endpoint).invoke_endpoint(
        EndpointName=endpoint.spec.name,
        Body=body,
        ContentType="application/json",
        Accept="application/json",
        InferenceId="drop-in-1",
        CustomAttributes="trace=1",
    )
    assert answer["InvokedProductionVariant"] == "AllTraffic"
    assert answer["ContentType"].startswith("application/json")
    expected = json.loads(invoke(endpoint, body, "application/json")[1])
    assert json.loads(answer["Body"].read()) == expected


def test_boto3_gets_the_errors_aws_gives_with_our_message(endpoints):
    from botocore.exceptions import ClientError

    endpoint = endpoints["binary_classification"]
    client = runtime_client(endpoint)
    with pytest.raises(ClientError) as refused:
        client.invoke_endpoint(EndpointName=endpoint.spec.name, Body=b"{", ContentType="application/json")
    error = refused.value.response
    assert error["Error"]["Code"] == "ModelError" and error["OriginalStatusCode"] == 400
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert "Received client error (400) from primary with message" in error["Error"]["Message"]
    assert json.loads(error["OriginalMessage"])["message"]  # the container's own message, whole
    with pytest.raises(client.exceptions.ValidationError, match=r"Endpoint no-such-endpoint of account \d+ not found"):
        client.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"{}", ContentType="application/json")


def test_the_sdks_predictor_works_unchanged_but_for_the_endpoint_url(endpoints, approved_models):
    import boto3
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer
    from sagemaker.session import Session

    endpoint, model = endpoints["binary_classification"], approved_models["binary_classification"]
    session = Session(boto_session=boto3.Session(), sagemaker_runtime_client=runtime_client(endpoint))
    predictor = Predictor(
        endpoint.spec.name, sagemaker_session=session, serializer=JSONSerializer(), deserializer=JSONDeserializer()
    )
    records = feature_records(model, 2)
    assert predictor.predict(records) == json.loads(invoke(endpoint, json.dumps(records), "application/json")[1])


AWS_RECORD = Path(__file__).with_name("data") / "aws_capture_record.jsonl"


def shape(node):
    """A JSON document's keys and value types, values aside."""
    if isinstance(node, dict):
        return {key: shape(value) for key, value in node.items()}
    return type(node).__name__


def test_capture_records_have_the_fields_and_formats_aws_writes_and_name_the_package_that_answered(tmp_path):
    from datetime import datetime

    aws = json.loads(AWS_RECORD.read_text())
    capture = DataCapture(CaptureConfig(tmp_path, "ep", "AllTraffic", 100, model_package_arn="arn:local/pkg/3"))
    capture.offer(
        input_body=b"69,0,153.7\n",
        input_type="text/csv",
        output_body=b"0.0254",
        output_type="text/csv; charset=utf-8",
        inference_time=datetime(2026, 12, 4, 10, 30, 5, 750000, tzinfo=UTC),
        inference_id=None,
    )
    capture.close()
    (ours,) = [json.loads(line) for path in tmp_path.rglob("*.jsonl") for line in path.read_text().splitlines()]
    extra = ours["eventMetadata"].pop("modelPackageArn")  # the one key of ours; AWS's readers pass over it
    assert extra == "arn:local/pkg/3"
    assert shape(ours) == shape(aws)  # field by field, every key and type of AWS's record, nothing else
    assert ours["eventMetadata"]["inferenceTime"] == "2026-12-04T10:30:05Z"  # whole seconds, as AWS's
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", aws["eventMetadata"]["inferenceTime"])
    for side in ("endpointInput", "endpointOutput"):
        ours_side, aws_side = ours["captureData"][side], aws["captureData"][side]
        assert (ours_side["mode"], ours_side["encoding"]) == (aws_side["mode"], aws_side["encoding"])
        assert ours_side["observedContentType"] == aws_side["observedContentType"]
    assert ours["eventVersion"] == aws["eventVersion"] == "0"
