"""Contract tests between the steps: what one writes is what the next reads, by the names in ml_code/paths.py."""

from __future__ import annotations

import numpy as np
import pytest

from ml_code import paths
from ml_code.contracts.contract import CONTRACTS_DIR, load_contract
from ml_code.evaluation.champion import metric_at
from ml_code.metrics import build_report
from ml_code.training.objectives import OBJECTIVES


def test_preprocessing_writes_exactly_its_declared_outputs(churn_prepared):
    written = sorted(p.name for p in churn_prepared.base.iterdir() if p.is_dir() and p.name != "input")
    assert written == sorted((*paths.PREPROCESS_OUTPUTS, paths.FAIRNESS_DATA_OUTPUT))  # churn has a fairness section


def test_every_training_channel_is_fed_by_a_preprocessing_output():
    assert set(paths.TRAINING_CHANNELS) <= set(paths.PREPROCESS_OUTPUTS)


def test_every_problem_type_has_a_training_objective():
    from ml_code.contracts.contract import PROBLEM_TYPES

    assert set(OBJECTIVES) == set(PROBLEM_TYPES)


@pytest.mark.parametrize("contract_file", sorted(CONTRACTS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_the_gate_reads_a_key_that_evaluate_really_writes(contract_file):
    contract = load_contract(contract_file)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200).astype(float)
    report = build_report(contract.problem_type, y, np.clip(y * 0.4 + rng.random(200) * 0.6, 0, 1), seed=1)
    value = metric_at(report, contract.report_metric_path)
    assert value == report[f"{contract.problem_type}_metrics"][contract.metric.name]["value"]
