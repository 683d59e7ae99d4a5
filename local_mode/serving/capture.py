"""Data capture as SageMaker writes it: one JSON line per sampled request, in hourly folders.

`<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<id>.jsonl`, each line
`{"captureData": {"endpointInput": {...}, "endpointOutput": {...}}, "eventMetadata": {...}, "eventVersion": "0"}`.
A request's record is appended and flushed before its answer is sent (a lock keeps a worker's threads' lines
whole), so an answered request is on disk even if its worker is killed the next moment; it costs a request about
as much as serializing its record.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

ENCODINGS = {"text/csv": "CSV", "application/json": "JSON"}  # anything else is captured as BASE64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # AWS's inferenceTime: UTC, whole seconds


def check_sampling_percentage(value: float) -> None:
    if not 0 <= value <= 100:
        raise ValueError(f"the capture's sampling percentage must be from 0 to 100, got {value:g}")


@dataclass(frozen=True)
class CaptureConfig:
    destination: Path
    endpoint: str
    variant: str
    sampling_percentage: float = 100.0
    model_package_arn: str | None = None  # the package served, recorded with each request

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
    model_package_arn: str | None = None,
) -> dict:
    """One captured request in SageMaker's format (its time in whole seconds, as AWS writes it); with the package
    that answered as `eventMetadata.modelPackageArn`, a key readers of AWS's format pass over."""
    metadata = {"eventId": event_id, "inferenceTime": inference_time.astimezone(timezone.utc).strftime(TIME_FORMAT)}
    if inference_id:
        metadata["inferenceId"] = inference_id
    if model_package_arn:
        metadata["modelPackageArn"] = model_package_arn
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
    """Samples requests and appends them to the current hour's file, flushed, before the request is answered."""

    def __init__(self, config: CaptureConfig, *, seed: int | None = None) -> None:
        self.config = config
        self._sampler = random.Random(seed)  # noqa: S311  (sampling, not secrecy)
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._hour: str | None = None
        self.captured = 0

    def offer(self, **request) -> bool:
        """Capture this request (the keyword arguments of `capture_record` but `event_id`) if it is sampled; True
        when it was written. A record that cannot be written is logged, never the request's failure."""
        with self._lock:
            if self._sampler.random() * 100 >= self.config.sampling_percentage:
                return False
            try:
                record = capture_record(
                    event_id=str(uuid.uuid4()), model_package_arn=self.config.model_package_arn, **request
                )
                line = json.dumps(record, ensure_ascii=False)
                handle = self._file_for(request["inference_time"])
                handle.write(line + "\n")
                handle.flush()
            except (OSError, TypeError, ValueError) as error:  # one bad record must not stop capture
                logger.error("data capture could not write a record: %s", error)
                return False
            self.captured += 1
            return True

    def close(self) -> None:
        with self._lock:
            if self._file:
                self._file.close()
                self._file, self._hour = None, None

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
