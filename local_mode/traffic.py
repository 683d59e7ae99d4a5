"""Client traffic for a local endpoint: feature records from the synthetic CRM export, sent over HTTP with an
inference id per request, and the ground truth for those ids as Model Monitor's ground-truth lines."""

from __future__ import annotations

import functools
import http.client
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from local_mode.serving import INFERENCE_ID_HEADER
from ml_code.contracts.contract import DatasetContract
from ml_code.monitoring.ground_truth import ground_truth_label, ground_truth_line


class EndpointClient:
    """A keep-alive HTTP connection to one endpoint (a client per thread)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def invoke(
        self, body: bytes, content_type: str, accept: str = "application/json", inference_id: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type, "Accept": accept}
        if inference_id:
            headers[INFERENCE_ID_HEADER] = inference_id
        self.connection.request("POST", "/invocations", body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class SentRequest:
    """One request's inference id, the true label of each of its records, and their facets (the measured-only
    fields a client knows but never sends to the model), for the ground truth."""

    inference_id: str
    labels: list[str]
    facets: list[dict[str, str]]


def send_records(
    url: str, records: Iterable[dict], columns: list[str], label: str, *, batch: int = 10, facets: Iterable[str] = ()
) -> list[SentRequest]:
    """Score the records' `columns` in JSON batches; returns what ground truth needs of each request."""
    facets = tuple(facets)
    client, sent, pending = EndpointClient(url), [], []

    def flush() -> None:
        inference_id = str(uuid.uuid4())
        body = json.dumps([{column: record.get(column) for column in columns} for record in pending]).encode()
        status, answer = client.invoke(body, "application/json", inference_id=inference_id)
        if status != 200:
            raise RuntimeError(f"the endpoint answered {status}: {answer[:300].decode(errors='replace')}")
        sent.append(
            SentRequest(
                inference_id,
                [str(record[label]) for record in pending],
                [{facet: str(record[facet]) for facet in facets} for record in pending] if facets else [],
            )
        )
        pending.clear()

    try:
        for record in records:
            if isinstance(record, dict):
                pending.append(record)
            if len(pending) == batch:
                flush()
        if pending:
            flush()
    finally:
        client.close()
    return sent


def write_ground_truth(
    folder: Path, sent: list[SentRequest], contract: DatasetContract, when: datetime | None = None
) -> Path:
    """One file in `<folder>/yyyy/mm/dd/hh/`, a line per request (ml_code/monitoring/ground_truth.py): the true
    labels of `send_records`, written as the contract's problem type needs them, with their facets if any."""
    when = when or datetime.now(timezone.utc)
    path = folder / when.strftime("%Y/%m/%d/%H") / f"{uuid.uuid4().hex}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = functools.partial(ground_truth_label, problem_type=contract.problem_type, is_positive=contract.is_positive)
    lines = [
        ground_truth_line(request.inference_id, [encode(value) for value in request.labels], request.facets or None)
        for request in sent
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
