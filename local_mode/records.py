"""The JSON records local mode writes and reads back (execution records, cache entries, tuning results): written
whole or not at all, and one found damaged is named, with the file."""

from __future__ import annotations

import json
from pathlib import Path


class DamagedRecord(ValueError):
    """A record cannot be read back (cut short by a crash before records were written atomically, or edited)."""


def read_json(path: Path) -> dict:
    """A JSON object local mode wrote; one that is not is a DamagedRecord naming the file."""
    try:
        value = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedRecord(f"{path} is damaged ({error})") from None
    if not isinstance(value, dict):
        raise DamagedRecord(f"{path} is damaged (a JSON {type(value).__name__}, not an object)")
    return value
