"""Ground truth as the model-quality monitor takes it, on AWS and locally."""

from __future__ import annotations

import json

from ml_code.contracts.contract import load_contract
from ml_code.monitoring.ground_truth import ground_truth_label, ground_truth_line


def test_a_binary_label_is_one_for_the_positive_class_and_zero_otherwise():
    churn = load_contract("customer-churn")  # positive label "yes"
    encode = lambda value: ground_truth_label(value, problem_type=churn.problem_type, is_positive=churn.is_positive)  # noqa: E731
    assert [encode(value) for value in ("yes", "no", " yes", "maybe")] == ["1", "0", "1", "0"]


def test_other_labels_are_written_as_the_data_has_them():
    never = lambda _value: False  # noqa: E731
    assert ground_truth_label("gold", problem_type="multiclass_classification", is_positive=never) == "gold"
    assert ground_truth_label(12.5, problem_type="regression", is_positive=never) == "12.5"


def test_a_line_per_request_keyed_by_its_inference_id_with_a_label_per_record():
    line = json.loads(ground_truth_line("3f2a", ["1", "0", "1"]))
    assert line == {
        "groundTruthData": {"data": "1\n0\n1", "encoding": "CSV"},
        "eventMetadata": {"eventId": "3f2a"},
        "eventVersion": "0",
    }
