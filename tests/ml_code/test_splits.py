"""Splits the data scientist controls in the contract: by a column's values, or out of time; clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_code.contracts.contract import ContractError, contract_path, load_contract, parse_contract
from ml_code.processing.preprocess import check_target, read_input, split
from ml_code.transform.features import fit_transform

CHURN = "customer-churn"


def churn_json(**extra) -> dict:
    """The shipped churn contract's JSON with `extra` keys."""
    return {**json.loads(contract_path(CHURN).read_text()), **extra}


@pytest.fixture(scope="module")
def data(churn_csv) -> pd.DataFrame:
    frame = check_target(read_input(churn_csv.parent), load_contract(CHURN))
    marks = np.random.default_rng(3).choice(["train", " Train", "VALIDATION", "test"], size=len(frame))
    return frame.assign(fold=marks)


def test_split_by_column_puts_each_row_where_its_value_says(data):
    contract = parse_contract(churn_json(pass_through=["fold", "gender"], split={"column": "fold"}))
    splits = split(data, contract, seed=1)
    marks = data["fold"].str.strip().str.lower()
    for name in ("train", "validation", "test"):
        expected = data[marks == name]
        part = getattr(splits, name)
        assert len(part) == len(expected)
        assert sorted(part["customer_id"]) == sorted(expected["customer_id"])
    assert split(data, contract, seed=2).train.equals(splits.train)  # the column decides, not the seed
    assert "fold" not in fit_transform(splits.train, contract).input_columns  # pass_through: not a feature


def test_split_by_time_trains_on_the_oldest_and_tests_on_the_newest(data):
    contract = parse_contract(churn_json(split={"time_column": "account_created"}))
    splits = split(data, contract, seed=1)
    sizes = [len(splits.train), len(splits.validation), len(splits.test)]
    assert sum(sizes) == len(data) and sizes == [round(0.7 * len(data)), round(0.2 * len(data)), sizes[2]]
    times = {
        name: pd.to_datetime(getattr(splits, name)["account_created"], utc=True)
        for name in ("train", "validation", "test")
    }
    assert times["train"].max() <= times["validation"].min()
    assert times["validation"].max() <= times["test"].min()
    # a feature the contract names stays a feature (its age), and the split is the same whatever the seed
    assert "account_created" in fit_transform(splits.train, contract).input_columns
    assert split(data, contract, seed=9).test.equals(splits.test)


def test_the_default_split_is_still_seeded_and_stratified(data):
    contract = load_contract(CHURN)
    assert contract.split_column is None and contract.time_column is None
    one, other = split(data, contract, seed=1), split(data, contract, seed=2)
    assert not one.train.equals(other.train)
    rates = [getattr(one, name)["churned"].eq("yes").mean() for name in ("train", "validation", "test")]
    assert max(rates) - min(rates) < 0.02


@pytest.mark.parametrize(
    ("split_setting", "extra", "message"),
    [
        ({"column": "fold", "time_column": "account_created"}, {}, r"split must be an object with one key"),
        ({"by": "fold"}, {}, r"split must be an object with one key"),
        (
            {"column": "fold"},
            {},
            r"split\.column 'fold' must name a column the curated data keeps: list it in pass_through",
        ),
        ({"column": "customer_id"}, {}, r"split\.column 'customer_id' must name a column the curated data keeps"),
        ({"time_column": 3}, {}, r"split\.time_column 3 must name a column"),
    ],
)
def test_fails_when_the_contracts_split_is_wrong(split_setting, extra, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(churn_json(split=split_setting, **extra))


def test_fails_when_the_split_column_holds_other_values(data):
    contract = parse_contract(churn_json(pass_through=["fold", "gender"], split={"column": "fold"}))
    odd = data.assign(fold=data["fold"].where(data.index % 50 != 0, "holdout"))
    with pytest.raises(
        ContractError,
        match=r"the split column 'fold' holds values other than \['train', 'validation', 'test'\]: 'holdout'",
    ):
        split(odd, contract, seed=1)


def test_fails_when_a_split_would_be_empty(data):
    contract = parse_contract(churn_json(pass_through=["fold", "gender"], split={"column": "fold"}))
    no_test = data.assign(fold=data["fold"].replace({"test": "train"}))
    with pytest.raises(ContractError, match=r"no row of the split column 'fold' says 'test': every split needs rows"):
        split(no_test, contract, seed=1)
    timed = parse_contract(churn_json(split={"time_column": "account_created"}))
    with pytest.raises(ContractError, match=r"2 row\(s\) are too few for an out-of-time split"):
        split(data.head(2), timed, seed=1)


def test_fails_when_the_split_or_time_column_is_missing_or_unreadable(data):
    contract = parse_contract(churn_json(pass_through=["fold", "gender"], split={"column": "fold"}))
    with pytest.raises(ContractError, match=r"the split column 'fold' is not in the data"):
        split(data.drop(columns="fold"), contract, seed=1)
    timed = parse_contract(churn_json(split={"time_column": "account_created"}))
    dates = data["account_created"].astype(object)
    broken = data.assign(account_created=dates.where(data.index % 100 != 0, "not a date"))
    with pytest.raises(ContractError, match=r"row\(s\) have no readable time in the time column 'account_created'"):
        split(broken, timed, seed=1)
