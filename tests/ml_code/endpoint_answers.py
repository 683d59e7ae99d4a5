"""The endpoint's answer to a few plain JSON records, checked to be the table path's answer too."""

from __future__ import annotations

import json

from ml_code.inference import inference
from ml_code.inference.record_encoder import RecordEncoder


def same_answer_either_way(model, body: str, accept: str, monkeypatch) -> tuple:
    """The endpoint's answer to `body`, which the record encoder answers and the table path answers the same."""
    assert model.records.encode(json.loads(body)) is not None
    fast = inference.transform(model, body, "application/json", accept)
    monkeypatch.setattr(RecordEncoder, "encode", lambda self, records: None)  # the same request, the table's way
    assert inference.transform(model, body, "application/json", accept) == fast
    monkeypatch.undo()
    return fast
