"""Model quality with and without tuning, over several split seeds, beside a plain XGBoost on the same splits.

For each dataset it can reach (the generated churn data always; abalone from ../shared/data when present) and each
split seed, on the same preprocessed splits: the pipeline untuned (train.py's defaults), the pipeline tuned
(`local_mode tune`'s best trial: Optuna's TPE over ml_code/training/search_space.json), and a plain XGBoost
(XGBoost's own defaults: depth 6, eta 0.3, no subsampling, 100 rounds). It prints the contract's metric on the
validation split (what tuning optimises) and on the test split (which no choice saw), their mean and spread per
arm, and the tuned arm's paired difference with the untuned one.

Usage: .venv/bin/python bench/quality.py [--seeds 3] [--trials 16] [--parallel 2] [--rows 4000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from local_mode.churn_data import generate, write  # noqa: E402
from local_mode.runner import stage_input  # noqa: E402
from local_mode.tune import prepare_splits, run_ml_module, train_trial, trial_model, tune  # noqa: E402
from ml_code import paths  # noqa: E402
from ml_code.contracts.contract import DatasetContract, load_contract  # noqa: E402

ABALONE = ROOT.parent / "shared" / "data" / "abalone" / "abalone.data"
ABALONE_COLUMNS = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings".split(",")
PLAIN_XGBOOST = {
    "max_depth": 6,
    "eta": 0.3,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "reg_alpha": 0.0,
    "num_round": 100,
}
ARMS = ("untuned", "tuned", "plain XGBoost")


def test_metric(contract: DatasetContract, model_dir: Path, splits: Path, work: Path) -> float:
    """The contract's metric on the test split, by evaluate.py, for the model in `model_dir`."""
    base = work / "evaluation"
    (base / paths.EVALUATION_MODEL_INPUT).mkdir(parents=True, exist_ok=True)
    with tarfile.open(base / paths.EVALUATION_MODEL_INPUT / paths.MODEL_ARCHIVE, "w:gz") as archive:
        for item in model_dir.iterdir():
            archive.add(item, arcname=item.name)
    (base / paths.EVALUATION_TEST_INPUT).symlink_to(splits / "test")
    run_ml_module(
        None,
        "ml_code.evaluation.evaluate",
        ["--base-dir", str(base), "--failure-file", str(work / "failure")],
        work / "evaluate.log",
        "evaluation",
    )
    report = json.loads((base / paths.EVALUATION_OUTPUT / paths.REPORT_FILE).read_text())
    block, metric, _ = contract.report_metric_path.split(".")
    return report[block][metric]["value"]


def one_seed(contract_source: str, data: Path, columns: list[str] | None, seed: int, args, work: Path) -> dict:
    contract = load_contract(contract_source)
    home = work / f"seed{seed}"
    splits = prepare_splits(contract_source, stage_input(data, home, columns), home / "arms", seed, None)
    figures = {}
    for number, (arm, hyperparameters) in enumerate((("untuned", {}), ("plain XGBoost", PLAIN_XGBOOST))):
        arms = home / "arms" / "trials"
        value = train_trial(
            number, hyperparameters, splits=splits, trials=arms, contract=contract, python=None, seed=seed
        )
        figures[arm] = (value, test_metric(contract, trial_model(arms, number), splits, home / arm.replace(" ", "-")))
    result = tune(
        contract_source,
        data,
        home,
        trials=args.trials,
        parallel=args.parallel,
        seed=seed,
        columns=columns,
        log=lambda _line: None,
    )
    best_model = result.run / "trials" / f"{result.best.number + 1:04d}" / "model"
    figures["tuned"] = (result.best.value, test_metric(contract, best_model, result.run / "processing", home / "tuned"))
    return figures


def bench_datasets(work: Path, rows: int, *churn_contracts: str) -> list[tuple[str, Path, list[str] | None]]:
    """(contract, data, columns to name a header-less file by): generated churn data of `rows` rows under
    customer-churn and each of `churn_contracts`, then abalone when ../shared/data holds it."""
    churn = work / "churn.csv"
    write(churn, generate(rows, seed=11), fmt="csv")
    datasets = [(contract, churn, None) for contract in ("customer-churn", *churn_contracts)]
    if ABALONE.is_file():
        datasets.append(("abalone", ABALONE, ABALONE_COLUMNS))
    else:
        print(f"abalone: not found at {ABALONE}, skipped")
    return datasets


def summary(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--rows", type=int, default=4000, help="generated churn rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for name, data, columns in bench_datasets(work, args.rows):
            contract = load_contract(name)
            runs = [one_seed(name, data, columns, seed, args, work / name) for seed in range(1, args.seeds + 1)]
            better = "higher" if contract.metric.higher_is_better else "lower"
            print(
                f"\n{name}: {contract.metric.name} ({better} is better), {args.seeds} split seeds, {args.trials} trials"
            )
            print(f"  {'arm':<14} {'validation':>18} {'test':>18}")
            for arm in ARMS:
                print(f"  {arm:<14} {summary([r[arm][0] for r in runs]):>18} {summary([r[arm][1] for r in runs]):>18}")
            for index, where in enumerate(("validation", "test")):
                gains = [r["tuned"][index] - r["untuned"][index] for r in runs]
                wins = sum((g > 0) == contract.metric.higher_is_better and g != 0 for g in gains)
                print(f"  tuned - untuned on {where}: {summary(gains)} (better on {wins} of {len(gains)} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
