"""What a right answer looks like, per problem type: the rules the deploy pipeline's smoke test applies."""

from __future__ import annotations

import pytest

from ml_code.inference.responses import response_problems


def problems(predictions, problem_type: str, records: int | None = None) -> list[str]:
    body = {"predictions": predictions}
    count = len(predictions) if records is None else records
    return response_problems(body, problem_type=problem_type, positive_label="yes", records=count)


def test_right_answers_have_no_problems():
    assert (
        problems(
            [{"probability": 0.7, "label": "yes"}, {"probability": 0.1, "label": "not yes"}], "binary_classification"
        )
        == []
    )
    assert problems([{"probabilities": {"a": 0.2, "b": 0.8}, "label": "b"}], "multiclass_classification") == []
    assert problems([{"value": -3.5}], "regression") == []


@pytest.mark.parametrize(
    ("prediction", "problem"),
    [
        ({"probability": 0.7, "label": "not yes"}, "label 'not yes' for probability 0.7, expected 'yes'"),
        ({"probability": 1.5, "label": "yes"}, "probability 1.5 is not in [0, 1]"),
        ({"probability": True, "label": "yes"}, "probability True is not in [0, 1]"),
        ({"score": 0.7}, "expected an object with keys ['label', 'probability']"),
    ],
)
def test_binary_answers_need_a_probability_and_its_label(prediction, problem):
    (found,) = problems([prediction], "binary_classification")
    assert found.startswith(f"prediction 0: {problem}")


@pytest.mark.parametrize(
    ("prediction", "problem"),
    [
        ({"probabilities": {"a": 0.2, "b": 0.8}, "label": "a"}, "label 'a' is not the most probable class"),
        ({"probabilities": {"a": 0.2, "b": 0.5}, "label": "b"}, "probabilities sum to 0.7, not 1"),
        ({"probabilities": {"a": 1.0}, "label": "a"}, "are not an object of two or more classes"),
        ({"probabilities": {"a": -0.5, "b": 1.5}, "label": "b"}, "are not all in [0, 1]"),
    ],
)
def test_multiclass_answers_need_probabilities_that_sum_to_one_and_the_likeliest_label(prediction, problem):
    (found,) = problems([prediction], "multiclass_classification")
    assert problem in found


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "3.1", None])
def test_regression_answers_need_a_finite_number(value):
    (found,) = problems([{"value": value}], "regression")
    assert "is not a finite number" in found


def test_an_answer_must_have_one_prediction_per_record():
    assert problems([{"value": 1.0}], "regression", records=5) == ["1 predictions for 5 records"]
    assert response_problems([], problem_type="regression", positive_label=None, records=1) == [
        'the answer is not a JSON object with a "predictions" list'
    ]
