"""How ground truth is written for the model-quality monitor, on AWS and locally: Model Monitor's JSON lines, one per
request, keyed by the inference id the caller sent, with one label per record of the request (CSV lines).

A binary model's label is `1` (the contract's positive label) or `0`: Model Monitor compares it with the predicted
probability cut at 0.5. Other problem types take the label as the data has it (a class, a number). Standard library
only.
"""

from __future__ import annotations

import json
from typing import Any

POSITIVE, NEGATIVE = "1", "0"


def ground_truth_label(value: Any, *, problem_type: str, is_positive) -> str:
    """The label to upload for a record whose true target is `value` (`is_positive`: the contract's test)."""
    if problem_type == "binary_classification":
        return POSITIVE if is_positive(value) else NEGATIVE
    return str(value)


def ground_truth_line(inference_id: str, labels: list[str], facets: list[dict[str, str]] | None = None) -> str:
    """One request's line: `{"groundTruthData": {"data": "<a label per line>", "encoding": "CSV"}, "eventMetadata":
    {"eventId": "<inference id>"}, "eventVersion": "0"}`; with `facets` (one object per label, e.g. `{"gender":
    "female"}`: what the bias-drift check groups by when the endpoint never sees it) a `"facets"` list beside them,
    which readers of Model Monitor's format ignore."""
    if facets is not None and len(facets) != len(labels):
        raise ValueError(f"{len(facets)} facet objects for {len(labels)} labels: give one per record")
    line = {
        "groundTruthData": {"data": "\n".join(labels), "encoding": "CSV"},
        "eventMetadata": {"eventId": inference_id},
        "eventVersion": "0",
    }
    return json.dumps({**line, "facets": facets} if facets is not None else line)
