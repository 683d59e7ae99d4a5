"""The deploy pipeline's smoke test: send the released package's sample payload to an endpoint a few times, check
every answer's schema and labels for the dataset's problem type, and the median latency. Exits 1 with the reasons
when a check fails, so the pipeline stops before the manual approval.

    python -m infra.codebuild.smoke_test --endpoint mlops-staging-customer-churn --payload release/payload.tar.gz
    python -m infra.codebuild.smoke_test --url http://127.0.0.1:8080 --payload payload.csv   # a local endpoint
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import logging
import statistics
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ml_code.contracts.contract import load_contract
from ml_code.inference.responses import response_problems
from ml_code.paths import SAMPLE_PAYLOAD_FILE

logger = logging.getLogger(__name__)

CSV = "text/csv"
JSON = "application/json"
ERROR_BODY_CHARS = 300  # of an error answer, in a failure message
Invoke = Callable[[bytes], tuple[int, bytes]]  # a CSV payload -> (HTTP status, body)


def sagemaker_invoker(client, endpoint: str) -> Invoke:
    """Invoke a SageMaker endpoint through `client` (boto3's sagemaker-runtime); an error the model answered with
    becomes its HTTP status, any other error propagates."""
    from botocore.exceptions import ClientError

    def invoke(payload: bytes) -> tuple[int, bytes]:
        try:
            response = client.invoke_endpoint(EndpointName=endpoint, ContentType=CSV, Accept=JSON, Body=payload)
        except ClientError as error:
            answer = error.response
            if "OriginalStatusCode" not in answer:  # not the model's answer: access, throttling, no endpoint
                raise
            return int(answer["OriginalStatusCode"]), str(answer.get("OriginalMessage", "")).encode()
        return 200, response["Body"].read()

    return invoke


def http_invoker(url: str, timeout: float = 60.0) -> Invoke:
    """POST to `<url>/invocations`, as SageMaker does to a serving container (a local endpoint)."""
    parts = urlsplit(url)

    def invoke(payload: bytes) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            connection.request("POST", "/invocations", payload, {"Content-Type": CSV, "Accept": JSON})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    return invoke


class CannotRun(ValueError):
    """The smoke test cannot run: a payload it cannot read, or an endpoint it cannot reach at all."""


def read_payload(path: Path) -> bytes:
    """The CSV payload: a package's sample payload archive (`payload.tar.gz`) or a CSV file with a header."""
    try:
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path) as archive:
                try:
                    member = archive.extractfile(SAMPLE_PAYLOAD_FILE)
                except KeyError:
                    member = None
                if member is None:
                    raise CannotRun(f"{path} holds no {SAMPLE_PAYLOAD_FILE}")
                return member.read()
        return path.read_bytes()
    except (OSError, tarfile.TarError) as error:
        raise CannotRun(f"cannot read the payload {path}: {error}") from error


def count_records(payload: bytes) -> int:
    """The records of a CSV payload with a header (a quoted field may hold a line break)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CannotRun(f"the payload is not UTF-8 text (byte {error.start}): the endpoint reads UTF-8") from error
    records = sum(1 for row in csv.reader(io.StringIO(text)) if row) - 1
    if records < 1:
        raise CannotRun("the payload holds no records: a header row and at least one record are needed")
    return records


def smoke_test(
    invoke: Invoke,
    payload: bytes,
    *,
    problem_type: str,
    positive_label: object,
    max_latency_ms: float,
    calls: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> list[str]:
    """Send `payload` (CSV with a header row) `calls` times; what failed, or nothing."""
    if calls < 1:
        raise CannotRun(f"calls must be at least 1, got {calls}")
    records = count_records(payload)
    problems, latencies = [], []
    for call in range(1, calls + 1):
        started = clock()
        try:
            status, body = invoke(payload)
        except (OSError, http.client.HTTPException) as error:  # refused, reset, no answer in time
            latencies.append((clock() - started) * 1000)
            problems.append(f"call {call}: no answer: {type(error).__name__}: {error}")
            continue
        latencies.append((clock() - started) * 1000)
        if status != 200:
            problems.append(f"call {call}: HTTP {status}: {body[:ERROR_BODY_CHARS].decode(errors='replace')}")
            continue
        try:
            answer = json.loads(body)
        except ValueError:
            problems.append(f"call {call}: the answer is not JSON")
            continue
        found = response_problems(answer, problem_type=problem_type, positive_label=positive_label, records=records)
        problems.extend(f"call {call}: {problem}" for problem in found)
    median = statistics.median(latencies)
    if median > max_latency_ms:
        problems.append(f"median latency {median:.0f} ms over {calls} calls is above the bound of {max_latency_ms} ms")
    logger.info("%d calls of %d records, median latency %.0f ms", calls, records, median)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--endpoint", help="a SageMaker endpoint's name")
    target.add_argument("--url", help="a local endpoint's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--payload", type=Path, required=True, help="payload.tar.gz of the package, or a CSV file")
    parser.add_argument("--contract", default="customer-churn", help="the dataset contract (name or JSON file)")
    parser.add_argument("--max-latency-ms", type=float, default=1000.0, help="bound on the median round trip")
    parser.add_argument("--calls", type=_positive, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    contract = load_contract(args.contract)
    if args.endpoint:
        import boto3
        from botocore.config import Config

        client = boto3.client("sagemaker-runtime", config=Config(read_timeout=args.timeout, connect_timeout=10))
        invoke = sagemaker_invoker(client, args.endpoint)
    else:
        invoke = http_invoker(args.url, timeout=args.timeout)
    try:
        problems = smoke_test(
            invoke,
            read_payload(args.payload),
            problem_type=contract.problem_type,
            positive_label=contract.positive_label,
            max_latency_ms=args.max_latency_ms,
            calls=args.calls,
        )
    except CannotRun as error:
        logger.error("smoke test cannot run: %s", error)
        return 1
    for problem in problems:
        logger.error("smoke test: %s", problem)
    if problems:
        return 1
    logger.info("smoke test passed: %s", args.endpoint or args.url)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
