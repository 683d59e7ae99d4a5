"""train.py's default hyperparameters beside a strong plain XGBoost configuration, on the same splits and features.

The reference is the configuration a careful data scientist would try first: depth 5, eta 0.05, subsample and
colsample 0.8, up to 2,000 rounds with early stopping at 50. For each dataset (generated churn at `--rows` rows, as
a binary task and as a regression of monthly charges; abalone, 4,177 rows, from ../shared/data when present) and
each split seed, both arms train on the same preprocessed splits; it prints the contract's metric on the test
split (which no choice saw), each arm's training wall time (train.py's whole process), and the defaults' ratios to
the reference and to the previous defaults (eta 0.1, 500 rounds, early stopping at 30), measured in the same run.

Usage: .venv/bin/python bench/defaults.py [--seeds 3] [--rows 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.quality import bench_datasets, summary, test_metric  # noqa: E402
from bench.report import record  # noqa: E402
from local_mode.runner import stage_input  # noqa: E402
from local_mode.tune import prepare_splits, train_trial, trial_model  # noqa: E402
from ml_code.contracts.contract import CONTRACTS_DIR, load_contract  # noqa: E402

REFERENCE = {
    "max_depth": 5,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "num_round": 2000,
    "early_stopping_rounds": 50,
}
PREVIOUS = {"eta": 0.1, "num_round": 500, "early_stopping_rounds": 30}  # the defaults until this bench
ARMS = {"defaults": {}, "reference": REFERENCE, "previous": PREVIOUS}


def charges_contract(folder: Path) -> Path:
    """The generated churn data as a regression: monthly charges from the rest."""
    raw = json.loads((CONTRACTS_DIR / "customer-churn.json").read_text())
    raw.update(
        name="churn-charges",
        problem_type="regression",
        target="monthly_charges",
        numeric=[c for c in raw["numeric"] if c != "monthly_charges"],
        metric={"name": "rmse", "threshold": 1000.0},
    )
    raw.pop("positive_label")
    raw.pop("fairness")
    raw["drop"] = [*raw["drop"], "churned"]
    path = folder / "churn-charges.json"
    path.write_text(json.dumps(raw))
    return path


def one_seed(contract_source, data: Path, columns, seed: int, work: Path) -> dict[str, tuple[float, float]]:
    contract = load_contract(contract_source)
    home = work / f"seed{seed}"
    splits = prepare_splits(contract_source, stage_input(data, home, columns), home / "arms", seed, None)
    figures = {}
    for number, (arm, hyperparameters) in enumerate(ARMS.items()):
        trials = home / "arms" / "trials"
        started = time.perf_counter()
        train_trial(number, hyperparameters, splits=splits, trials=trials, contract=contract, python=None, seed=seed)
        seconds = time.perf_counter() - started
        figures[arm] = (test_metric(contract, trial_model(trials, number), splits, home / arm), seconds)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000, help="generated churn rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for source, data, columns in bench_datasets(work, args.rows, str(charges_contract(work))):
            contract = load_contract(source)
            runs = [one_seed(source, data, columns, seed, work / contract.name) for seed in range(1, args.seeds + 1)]
            better = "higher" if contract.metric.higher_is_better else "lower"
            print(f"\n{contract.name}: test {contract.metric.name} ({better} is better), {args.seeds} split seeds")
            for arm in ARMS:
                seconds = statistics.mean(r[arm][1] for r in runs)
                print(f"  {arm:<10} {summary([r[arm][0] for r in runs])}  train {seconds:5.2f} s")
            for floor in ("reference", "previous"):
                gap = [r["defaults"][0] / r[floor][0] - 1 for r in runs]
                time_ratio = statistics.mean(r["defaults"][1] / r[floor][1] for r in runs)
                print(
                    f"  defaults vs {floor}: {100 * statistics.mean(gap):+.2f} % {contract.metric.name} per seed "
                    f"({', '.join(f'{100 * g:+.2f}' for g in gap)}), train time {time_ratio:.2f}x"
                )
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
