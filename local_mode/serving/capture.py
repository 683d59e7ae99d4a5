"""Data capture as SageMaker writes it: one JSON line per sampled request, in hourly folders.

`<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<id>.jsonl`, each line
`{"captureData": {"endpointInput": {...}, "endpointOutput": {...}}, "eventMetadata": {...}, "eventVersion": "0"}`.
Requests only enqueue their record; one writer thread serializes and appends them, so capture does not
slow a request down, and `close` drains the queue so that a clean shutdown loses nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

ENCODINGS = {"text/csv": "CSV", "application/json": "JSON"}  # anything else is captured as BASE64
_STOP = object()


def check_sampling_percentage(value: float) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"the capture's sampling percentage must be from 0 to 100, got {value:g}")


@dataclass(frozen=True)
class CaptureConfig:
    destination: Path
    endpoint: str
    variant: str
    sampling_percentage: float = 100.0

    def __post_init__(self) -> None:
        check_sampling_percentage(self.sampling_percentage)

    @property
    def root(self) -> Path:
        return self.destination / self.endpoint / self.variant


def capture_record(
    *,
    input_body: bytes,
    input_type: str,
    output_body: bytes,
    output_type: str,
    inference_time: datetime,
    inference_id: str | None,
    event_id: str,
) -> dict:
    """One captured request in SageMaker's format."""
    metadata = {"eventId": event_id, "inferenceTime": inference_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": _payload(input_body, input_type, "INPUT"),
            "endpointOutput": _payload(output_body, output_type, "OUTPUT"),
        },
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def _payload(body: bytes, content_type: str, mode: str) -> dict:
    encoding = ENCODINGS.get((content_type or "").split(";")[0].strip().lower(), "BASE64")
    if encoding != "BASE64":
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if encoding == "BASE64":
        data = base64.b64encode(body).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


class DataCapture:
    """Samples requests and appends them to the current hour's file from a background thread."""

    def __init__(self, config: CaptureConfig, *, seed: int | None = None) -> None:
        self.config = config
        self._sampler = random.Random(seed)  # noqa: S311  (sampling, not secrecy)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._file: IO[str] | None = None
        self._hour: str | None = None
        self._writer = threading.Thread(target=self._drain, name="data-capture", daemon=True)
        self._writer.start()
        self.captured = 0

    def offer(self, **request) -> bool:
        """Capture this request (the keyword arguments of `capture_record` but `event_id`) if it is sampled."""
        if self._sampler.random() * 100 >= self.config.sampling_percentage:
            return False
        self._queue.put(request)
        return True

    def close(self) -> None:
        """Write everything offered so far, then stop the writer."""
        self._queue.put(_STOP)
        self._writer.join()

    def _drain(self) -> None:
        try:
            while True:
                item = self._queue.get()
                batch = [item]
                while item is not _STOP and not self._queue.empty():  # write what has piled up in one go
                    item = self._queue.get()
                    batch.append(item)
                self._write([request for request in batch if request is not _STOP])
                if item is _STOP:
                    return
        finally:
            if self._file:
                self._file.close()

    def _write(self, requests: list[dict]) -> None:
        for request in requests:
            try:
                line = json.dumps(capture_record(event_id=str(uuid.uuid4()), **request), ensure_ascii=False)
                self._file_for(request["inference_time"]).write(line + "\n")
                self.captured += 1
            except (OSError, TypeError, ValueError) as error:  # one bad record must not stop capture
                logger.error("data capture could not write a record: %s", error)
        if self._file:
            self._file.flush()

    def _file_for(self, when: datetime) -> IO[str]:
        hour = when.astimezone(timezone.utc).strftime("%Y/%m/%d/%H")
        if hour != self._hour:
            if self._file:
                self._file.close()
            folder = self.config.root / hour
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{when.strftime('%M-%S-%f')[:-3]}-{uuid.uuid4().hex[:12]}.jsonl"
            self._file, self._hour = (folder / name).open("a", encoding="utf-8"), hour
        return self._file
