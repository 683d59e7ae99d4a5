"""The feature transform: learned from the training split only, robust to what live data brings."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from ml_code.contracts.contract import ContractError, parse_contract
from ml_code.transform.features import FeatureTransform, correlations, fit_transform

# Column names a real export might have: spaces, an apostrophe, mixed case, a numeric-looking category.
RAW = {
    "name": "odd-names",
    "problem_type": "binary_classification",
    "target": "Churned?",
    "positive_label": "True.",
    "id_columns": ["Customer ID"],
    "pii": {"drop": ["Owner's Name"]},
    "categorical": ["Area Code", "plan"],
    "datetime_age": {"Signed Up": "days since signup"},
    "metric": {"name": "auc", "threshold": 0.7},
}
CONTRACT = parse_contract(RAW)


def frame(rows: int, *, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "Customer ID": [f"c{i}" for i in range(rows)],
            "Owner's Name": ["Ann O'Neil"] * rows,
            "Area Code": rng.choice(["415", "510", "408"], rows),
            "plan": rng.choice(["basic", "pro"], rows),
            "Monthly Charges": (rng.normal(50, 10, rows) + shift).round(2).astype(str),
            "Day Mins": rng.normal(180, 30, rows).round(1).astype(str),
            "Signed Up": pd.Timestamp("2025-01-01") - pd.to_timedelta(rng.integers(1, 900, rows), unit="D"),
            "Churned?": rng.choice(["True.", "False."], rows),
        }
    ).astype({"Signed Up": str})


def test_fit_learns_from_the_training_split_only():
    train, later = frame(500, seed=1), frame(500, seed=2, shift=1000.0)
    transform = fit_transform(train, CONTRACT)
    charges = pd.to_numeric(train["Monthly Charges"])
    assert transform.numeric["Monthly Charges"].median == pytest.approx(charges.median())
    assert transform.numeric["Monthly Charges"].mean == pytest.approx(charges.mean())
    # the shifted data is scaled with the training statistics, so it lands far from zero
    assert transform.apply(later)["Monthly Charges"].mean() > 50


def test_columns_with_arbitrary_names_become_features_and_pii_does_not():
    transform = fit_transform(frame(300, seed=1), CONTRACT)
    assert transform.input_columns == ["Area Code", "plan", "Monthly Charges", "Day Mins", "Signed Up"]
    assert "Area Code=415" in transform.features  # numeric-looking, but categorical as the contract says
    assert "days since signup" in transform.features
    assert not any("Customer ID" in f or "Owner's Name" in f or "Churned?" in f for f in transform.features)


def test_unseen_categories_map_to_all_zeros():
    transform = fit_transform(frame(300, seed=1), CONTRACT)
    live = frame(3, seed=5)
    live["Area Code"] = ["999", "415", None]
    encoded = transform.apply(live)
    area = [f for f in transform.features if f.startswith("Area Code=")]
    assert encoded.loc[0, area].sum() == 0.0
    assert encoded.loc[1, "Area Code=415"] == 1.0
    assert encoded.loc[2, area].sum() == 1.0  # missing -> the training mode


def test_missing_and_non_numeric_values_are_imputed_and_counted(caplog):
    train = frame(300, seed=1)
    transform = fit_transform(train, CONTRACT)
    live = frame(4, seed=3)
    live.loc[0, "Monthly Charges"] = None
    live.loc[1, "Monthly Charges"] = "n/a"
    with caplog.at_level(logging.WARNING):
        encoded = transform.apply(live)
    assert "'Monthly Charges': 1 non-numeric value(s) coerced to missing and imputed" in caplog.text
    stats = transform.numeric["Monthly Charges"]
    imputed = (stats.median - stats.mean) / stats.std
    assert encoded.loc[0, "Monthly Charges"] == pytest.approx(imputed)
    assert encoded.loc[1, "Monthly Charges"] == pytest.approx(imputed)
    assert not encoded.isna().any().any()


def test_the_transform_round_trips_through_json():
    transform = fit_transform(frame(300, seed=1), CONTRACT)
    again = FeatureTransform.from_json(transform.to_json())
    live = frame(20, seed=9)
    pd.testing.assert_frame_equal(transform.apply(live), again.apply(live))


def test_near_constant_and_redundant_features_are_dropped():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=2000)
    train = pd.DataFrame(
        {
            "weak twin": signal + rng.normal(scale=0.05, size=2000),
            "useful": signal,
            "noise": rng.normal(size=2000),
            "constant": np.r_[np.zeros(1999), 1.0],
            "mostly one": np.r_[np.full(1999, 7.5), np.nan],  # the missing value is imputed with the median
            "kind": ["a"] * 1999 + ["b"],
            "target": signal + rng.normal(scale=0.5, size=2000),
        }
    )
    contract = parse_contract(
        {
            "name": "selection",
            "problem_type": "regression",
            "target": "target",
            "categorical": ["kind"],
            "numeric": ["weak twin", "useful", "noise", "constant", "mostly one"],
            "metric": {"name": "rmse", "threshold": 1.0},
        }
    )
    # of the correlated pair the one closer to the target stays, whatever the column order
    assert fit_transform(train, contract).features == ["useful", "noise"]
    reordered = train[["useful", "weak twin", "noise", "constant", "mostly one", "kind", "target"]]
    assert fit_transform(reordered, contract).features == ["useful", "noise"]


def test_the_correlations_summed_in_chunks_are_pandas_correlations():
    rng = np.random.default_rng(1)
    encoded = pd.DataFrame(rng.normal(size=(1000, 4)) @ rng.normal(size=(4, 4)), columns=list("abcd"))
    encoded["onehot"] = (rng.random(1000) < 0.3).astype(float)
    target = encoded["a"] * 0.5 + rng.normal(size=1000)
    chunks = (encoded.iloc[start : start + 300].to_numpy() for start in range(0, 1000, 300))
    correlation, relevance = correlations(chunks, target.to_numpy(), encoded.shape[1])
    np.testing.assert_allclose(correlation, encoded.corr().abs().to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(relevance, encoded.corrwith(target).abs().to_numpy(), rtol=1e-9)


def test_fails_when_a_column_is_entirely_missing():
    train = frame(100, seed=1)
    train["Day Mins"] = None
    with pytest.raises(ContractError, match=r"column 'Day Mins' is entirely missing"):
        fit_transform(train, CONTRACT)


def test_fails_when_an_input_column_is_absent_at_apply_time():
    transform = fit_transform(frame(100, seed=1), CONTRACT)
    with pytest.raises(ContractError, match=r"missing input column\(s\) \['plan'\]"):
        transform.apply(frame(5, seed=2).drop(columns=["plan"]))


def test_feature_names_are_valid_unique_and_stable_whatever_the_raw_values(tmp_path):
    import xgboost as xgb

    contract = parse_contract(
        {
            "name": "housing",
            "problem_type": "regression",
            "target": "value",
            "categorical": ["ocean<proximity"],
            "numeric": ["rooms[2]", "a=b"],
            "metric": {"name": "rmse", "threshold": 10},
        }
    )
    rng = np.random.default_rng(3)
    rows = 400
    # categories xgboost forbids in feature names, and two that would collide if the forbidden ones were dropped
    categories = ["<1H OCEAN", "a[1]", "x<y", "a1", "a%5B1]", "b"]
    data = pd.DataFrame(
        {
            "ocean<proximity": rng.choice(categories, rows),
            "rooms[2]": rng.normal(5, 1, rows).astype(str),
            "a=b": rng.normal(0, 1, rows).astype(str),
            "value": rng.normal(100, 10, rows).astype(str),
        }
    )
    transform = fit_transform(data, contract)
    assert transform.features == fit_transform(data, contract).features  # stable
    assert len(set(transform.features)) == len(transform.features)  # unique
    assert not [f for f in transform.features if any(c in f for c in "[]<")]  # valid for xgboost
    matrix = transform.apply(data)
    booster = xgb.train(
        {"objective": "reg:squarederror"},
        xgb.DMatrix(matrix.to_numpy(float), label=data["value"].astype(float), feature_names=transform.features),
        num_boost_round=2,
    )
    assert booster.feature_names == transform.features


def test_a_binary_models_negative_label_is_the_datas_own_or_the_contracts():
    """`False.` where the data says `False.`, not `not True.`; the contract may name another; a transform from before
    the label was learned keeps answering `not <positive>`."""
    train = frame(400, seed=1)
    assert fit_transform(train, CONTRACT).negative_label == "False."
    named = parse_contract({**RAW, "negative_label": "stays"})
    assert fit_transform(train, named).negative_answer == "stays"
    learned = fit_transform(train, CONTRACT)
    older = FeatureTransform(**{**vars(learned), "negative_label": None})
    assert older.negative_answer == "not True."
    mixed = train.assign(**{"Churned?": ["True.", "False.", "false", "False."] * 100})
    assert fit_transform(mixed, CONTRACT).negative_label == "False."  # the most common spelling


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"negative_label": "True."}, r"negative_label 'True\.' must be one value other than positive_label 'True\.'"),
        ({"negative_label": ["a", "b"]}, r"negative_label \['a', 'b'\] must be one value other than positive_label"),
        (
            {
                "problem_type": "regression",
                "positive_label": None,
                "negative_label": "no",
                "metric": {"name": "rmse", "threshold": 1},
            },
            r"negative_label is only for binary_classification, not regression",
        ),
    ],
)
def test_fails_when_the_negative_label_cannot_be_one(changes, message):
    raw = {key: value for key, value in {**RAW, **changes}.items() if value is not None}
    with pytest.raises(ContractError, match=message):
        parse_contract(raw)
