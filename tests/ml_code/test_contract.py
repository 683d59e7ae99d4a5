"""Dataset contracts: the shipped ones load, and every malformed contract fails with a clear message."""

from __future__ import annotations

import copy
import json

import pytest

from ml_code.contracts.contract import CONTRACTS_DIR, REPORT_METRICS, ContractError, load_contract, parse_contract

CHURN = json.loads((CONTRACTS_DIR / "customer-churn.json").read_text())


def churn(**changes) -> dict:
    raw = copy.deepcopy(CHURN)
    raw.update(changes)
    return raw


def test_shipped_contracts_load():
    churn_contract = load_contract("customer-churn")
    assert churn_contract.problem_type == "binary_classification"
    assert churn_contract.report_metric_path == "binary_classification_metrics.auc.value"
    assert churn_contract.passes(0.8) and not churn_contract.passes(0.7)
    abalone = load_contract(CONTRACTS_DIR / "abalone.json")
    assert (abalone.problem_type, abalone.target) == ("regression", "rings")
    assert abalone.passes(2.0) and not abalone.passes(3.0)  # rmse: lower is better


def test_numeric_means_every_column_not_named_elsewhere():
    abalone = load_contract("abalone")
    columns = ["sex", "length", "rings", "shell weight"]
    assert abalone.numeric_features(columns) == ("length", "shell weight")
    assert abalone.feature_columns(columns) == ("sex", "length", "shell weight")


def test_positive_label_compares_as_text():
    contract = parse_contract(churn(positive_label=1))
    assert contract.is_positive("1") and contract.is_positive(1.0) and not contract.is_positive("0")


def test_an_id_may_also_be_hashed_pii():
    contract = load_contract("customer-churn")
    assert contract.id_columns == ("customer_id",) and contract.pii_hash == ("customer_id",)
    assert contract.removed_columns.count("customer_id") == 1


def test_fails_when_a_hashed_column_is_also_dropped():
    with pytest.raises(ContractError, match=r"column 'name' is listed twice, in pii.drop and in pii.hash"):
        parse_contract(churn(pii={"drop": ["name"], "hash": ["name"]}))


def test_fails_when_a_key_is_unknown():
    with pytest.raises(ContractError, match=r"unknown key\(s\) \['targets'\]"):
        parse_contract(churn(targets="x"))


def test_fails_when_the_target_is_missing():
    raw = churn()
    del raw["target"]
    with pytest.raises(ContractError, match=r"missing key\(s\) \['target'\]"):
        parse_contract(raw)


def test_fails_when_a_column_has_two_roles():
    with pytest.raises(ContractError, match=r"column 'plan' is listed twice, in categorical and in numeric"):
        parse_contract(churn(numeric=["plan"]))


def test_fails_when_the_target_is_also_a_feature():
    with pytest.raises(ContractError, match=r"column 'churned' is listed twice, in target and in categorical"):
        parse_contract(churn(categorical=["churned"]))


def test_fails_when_the_problem_type_is_unsupported():
    with pytest.raises(ContractError, match=r"problem_type 'ranking' is not supported"):
        parse_contract(churn(problem_type="ranking"))


def test_fails_when_a_binary_contract_has_no_positive_label():
    raw = churn()
    del raw["positive_label"]
    with pytest.raises(ContractError, match=r"needs positive_label"):
        parse_contract(raw)


def test_fails_when_the_metric_is_not_reported_for_the_problem_type():
    with pytest.raises(ContractError, match=r"metric 'rmse' is not reported for binary_classification"):
        parse_contract(churn(metric={"name": "rmse", "threshold": 1}))


def test_fails_when_the_threshold_is_not_a_number():
    with pytest.raises(ContractError, match=r"metric.threshold must be a number"):
        parse_contract(churn(metric={"name": "auc", "threshold": "high"}))


def test_fails_when_the_contract_file_is_not_there(tmp_path):
    with pytest.raises(ContractError, match=r"no contract at .*shipped contracts: \['abalone', 'customer-churn'\]"):
        load_contract(tmp_path / "nope.json")


def test_every_metric_direction_is_declared():
    for metrics in REPORT_METRICS.values():
        assert all(isinstance(higher, bool) for higher in metrics.values())


@pytest.mark.parametrize("name", ["../../x", "Churn", "churn_v2", "a--b", "-a", "x" * 41])
def test_fails_when_the_name_cannot_name_a_prefix_a_file_and_a_group(name):
    with pytest.raises(ContractError, match="lowercase letters and digits, joined by single hyphens"):
        parse_contract(churn(name=name))


@pytest.mark.parametrize(("metric", "threshold"), [("auc", 7), ("f1", -0.1)])
def test_fails_when_the_threshold_is_outside_the_metrics_range(metric, threshold):
    with pytest.raises(ContractError, match=rf"metric.threshold {threshold} is outside {metric}'s range \["):
        parse_contract(churn(metric={"name": metric, "threshold": threshold}))


def test_every_reported_metric_has_a_range():
    from ml_code.contracts.contract import METRIC_RANGES

    assert {name for metrics in REPORT_METRICS.values() for name in metrics} == set(METRIC_RANGES)


def fair(**changes) -> dict:
    return churn(fairness={**CHURN["fairness"], **changes})


def test_the_shipped_churn_contract_measures_gender_without_training_on_it():
    contract = parse_contract(CHURN)
    assert contract.facet_columns == ("gender",) and contract.measured_only == ("gender",)
    assert "gender" not in contract.feature_columns(["gender", "plan", "monthly_charges"])
    assert "gender" in contract.required_columns(["gender"])
    assert contract.fairness.limits == {"DPL": (-0.1, 0.1), "DPPL": (-0.15, 0.15)}


def test_a_facet_may_be_a_feature_and_a_numeric_facet_has_a_threshold():
    contract = parse_contract(
        fair(facets=[{"column": "plan", "values": ["basic"]}, {"column": "late_payments", "threshold": 2}])
    )
    assert [(f.column, f.values, f.threshold) for f in contract.fairness.facets] == [
        ("plan", ("basic",), None),
        ("late_payments", (), 2.0),
    ]
    assert contract.measured_only == ()


def test_a_group_variable_is_read_with_the_facets_and_measured_without_training_when_passed_through():
    contract = parse_contract(
        churn(pass_through=["gender", "segment"], fairness={**CHURN["fairness"], "group_variable": "segment"})
    )
    assert contract.fairness.group_variable == "segment"
    assert contract.bias_columns == ("gender", "segment") and contract.measured_only == ("gender", "segment")
    assert "segment" in contract.required_columns(["gender", "segment"])
    assert parse_contract(fair(group_variable="plan")).measured_only == ("gender",)  # a feature stays one


@pytest.mark.parametrize(
    ("group_variable", "message"),
    [
        ("email", r"fairness.group_variable 'email' is PII \(pii.drop\)"),
        ("region_code", r"fairness.group_variable 'region_code' is not a column of the contract"),
        ("gender", r"fairness.group_variable 'gender' is also a facet"),
        (3, r"fairness.group_variable column must be a column name"),
    ],
)
def test_fails_when_the_group_variable_is_pii_unknown_a_facet_or_no_name(group_variable, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(fair(group_variable=group_variable))


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("email", r"fairness facet 'email' is PII \(pii.drop\)"),
        ("customer_id", r"fairness facet 'customer_id' is PII \(pii.hash\)"),
        ("export_ts", r"fairness facet 'export_ts' is listed in drop"),
        ("age", r"fairness facet 'age' is not a column of the contract: list it in pass_through"),
    ],
)
def test_fails_when_a_facet_is_pii_dropped_or_unknown(column, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(fair(facets=[{"column": column, "values": ["x"]}]))


@pytest.mark.parametrize(
    ("fairness", "message"),
    [
        ({"facets": []}, "fairness.facets must be a non-empty list"),
        ({"facets": [{"column": "gender"}]}, "a fairness facet is"),
        ({"facets": [{"column": "gender", "values": []}]}, "values must be a non-empty list"),
        ({"facets": [{"column": "plan", "threshold": 2}]}, "a threshold \\(a number\\) needs a numeric column"),
        ({"facets": [{"column": "gender", "values": ["f"]}] * 2}, "names a column twice"),
        ({"facets": [{"column": "gender", "values": ["f"]}], "limits": {"XYZ": [0, 1]}}, "'XYZ' is not a bias metric"),
        ({"facets": [{"column": "gender", "values": ["f"]}], "limits": {"DI": [1.25, 0.8]}}, "low <= high"),
        ({"facets": [{"column": "gender", "values": ["f"]}], "limits": {"DI": 0.8}}, "must be \\[low, high\\]"),
        ({"facets": [{"column": "gender", "values": ["f"]}], "extra": 1}, "fairness must be"),
    ],
)
def test_fails_when_the_fairness_section_is_malformed(fairness, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(churn(fairness=fairness))


def test_fails_when_a_fairness_section_is_not_for_a_binary_model():
    abalone = json.loads((CONTRACTS_DIR / "abalone.json").read_text())
    facet = {"column": next(iter(abalone.get("categorical", ["sex"]))), "values": ["F"]}
    with pytest.raises(ContractError, match="fairness needs a binary_classification contract"):
        parse_contract({**abalone, "fairness": {"facets": [facet]}})
