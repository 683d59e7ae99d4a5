"""The search space beside train.py: every range names a flag of train.py and is one XGBoost accepts."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ml_code.training.search_space import BOUNDS, SearchSpaceError, load_search_space, parse_search_space
from ml_code.training.train import Hyperparameters, parse_args


def test_the_shipped_space_names_train_py_flags_only():
    space = load_search_space()
    fields = {field.name for field in dataclasses.fields(Hyperparameters)}
    assert {r.name for r in space} <= fields
    assert set(BOUNDS) <= fields
    assert {r.name for r in space} >= {"max_depth", "eta", "min_child_weight", "subsample", "colsample_bytree"}
    # every flag the space sets is one train.py parses
    flags = [f"--{r.name}={int(r.min) if r.is_integer else r.min}" for r in space]
    hp, _ = parse_args(flags)
    assert hp.reg_lambda == next(r.min for r in space if r.name == "reg_lambda")


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"eta": {"type": "continuous", "min": 0.3, "max": 0.1}}, r"eta: min 0.3 must be below max 0.1"),
        ({"eta": {"type": "continuous", "min": 0.0, "max": 0.3, "scaling": "log"}}, r"log-scaled range must start"),
        ({"depth": {"type": "integer", "min": 3, "max": 9}}, r"depth: not a hyperparameter of train.py"),
        ({"max_depth": {"type": "integer", "min": 3.5, "max": 9}}, r"must be finite integer numbers"),
        ({"reg_lambda": {"type": "continuous", "min": 0, "max": float("inf")}}, r"reg_lambda: .* finite .* 0, inf"),
        ({"reg_alpha": {"type": "continuous", "min": float("nan"), "max": 1}}, r"reg_alpha: .* finite .*, got nan, 1"),
        ({"subsample": {"type": "continuous", "min": 0.5, "max": 1.5}}, r"subsample: \[0.5, 1.5\] leaves XGBoost"),
        ({"subsample": {"type": "continuous", "min": 0, "max": 1}}, r"\[0, 1\] leaves XGBoost's range \(0.0, 1.0\]"),
        ({"eta": {"type": "categorical", "min": 0.1, "max": 0.2}}, r"type 'categorical' is not one of"),
        ({"eta": {"min": 0.1, "max": 0.2}}, r"eta: expected \{'type', 'min', 'max'"),
        ({}, r"expected a non-empty object"),
    ],
)  # fmt: skip
def test_fails_when_a_range_is_wrong(space, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse_search_space(space, hyperparameters=tuple(BOUNDS))


def test_fails_when_the_file_is_not_json(tmp_path):
    broken = tmp_path / "space.json"
    broken.write_text("{not json")
    with pytest.raises(SearchSpaceError, match=r"not valid JSON"):
        load_search_space(broken)
    broken.write_text(json.dumps({"eta": {"type": "continuous", "min": 0.1, "max": 0.2}}))
    assert load_search_space(broken)[0].name == "eta"
