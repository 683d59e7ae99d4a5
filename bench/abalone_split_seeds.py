"""Abalone test RMSE across splits: the platform's pipeline against a plain XGBoost on the very same rows.

The test split holds 418 rows, so which rows land in it moves the RMSE more than any modelling choice.
For each split seed the bench runs the pipeline's own steps in process (preprocess's split and fitted
transform, train.py's training with its default hyperparameters, evaluate.py's metrics) and, on identical
rows, the reference model of shared/data/abalone/README.md: XGBoost with its default parameters on the raw
features (sex one-hot), early stopping on the validation split. It prints both and their paired difference.

`--recipe permutation` splits 70/20/10 by a plain seeded permutation, `numpy.random.RandomState(seed)` (what
`DataFrame.sample(frac=1, random_state=seed)` does), instead of preprocess's stratified split.
With the default recipe, the run for the default seed also goes through `local_mode run` end to end (the
pipeline definition executed locally), to show that the in-process figure is the one local mode reports.

Usage: .venv-ml/bin/python bench/abalone_split_seeds.py [--seeds 30] [--recipe stratified|permutation]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xgboost as xgb  # noqa: E402

from bench.report import record  # noqa: E402
from ml_code.contracts.contract import DatasetContract, load_contract  # noqa: E402
from ml_code.metrics import regression_metrics  # noqa: E402
from ml_code.paths import TRANSFORM_FILE  # noqa: E402
from ml_code.processing.preprocess import FRACTIONS, Splits, check_target, split, write_model_matrix  # noqa: E402
from ml_code.settings import DEFAULT_SEED  # noqa: E402
from ml_code.training.train import Hyperparameters, train  # noqa: E402
from ml_code.transform.features import fit_transform  # noqa: E402

CONTRACT = ROOT / "ml_code/contracts/abalone.json"
COLUMNS = "sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings".split(",")
REFERENCE_EARLY_STOPPING_ROUNDS = 10


def permutation_split(data: pd.DataFrame, *, seed: int) -> Splits:
    order = np.random.RandomState(seed).permutation(len(data))
    cuts = np.cumsum([round(len(data) * fraction) for fraction in FRACTIONS[:-1]])
    train_rows, validation_rows, test_rows = np.split(order, cuts)
    return Splits(*(data.iloc[rows].reset_index(drop=True) for rows in (train_rows, validation_rows, test_rows)))


def pipeline_rmse(splits: Splits, contract: DatasetContract, *, seed: int, workdir: Path) -> float:
    """preprocess -> train -> evaluate, through the scripts' own functions."""
    transform = fit_transform(splits.train, contract)
    for name in ("train", "validation"):
        (workdir / name).mkdir()
        with (workdir / name / f"{name}.csv").open("wb") as handle:
            write_model_matrix(handle, getattr(splits, name), transform, contract.target)
    (workdir / "transform").mkdir()
    (workdir / "transform" / TRANSFORM_FILE).write_text(transform.to_json())
    booster = train(
        workdir / "train", workdir / "validation", workdir / "transform", workdir / "model", Hyperparameters(seed=seed)
    )
    test = xgb.DMatrix(transform.apply(splits.test).to_numpy(float), feature_names=transform.features)
    return regression_metrics(target(splits.test, contract), booster.predict(test))["rmse"]


def reference_rmse(splits: Splits, contract: DatasetContract, *, seed: int) -> float:
    """Default XGBoost on the raw features, early stopping on validation."""
    categories = {column: sorted(splits.train[column].dropna().unique()) for column in contract.categorical}
    train_set, validation_set, test_set = (
        xgb.DMatrix(raw_features(frame, contract, categories), label=target(frame, contract))
        for frame in (splits.train, splits.validation, splits.test)
    )
    booster = xgb.train(
        {"seed": seed},
        train_set,
        num_boost_round=1000,
        evals=[(validation_set, "validation")],
        early_stopping_rounds=REFERENCE_EARLY_STOPPING_ROUNDS,
        verbose_eval=False,
    )
    predicted = booster[: booster.best_iteration + 1].predict(test_set)
    return regression_metrics(target(splits.test, contract), predicted)["rmse"]


def raw_features(frame: pd.DataFrame, contract: DatasetContract, categories: dict[str, list[str]]) -> np.ndarray:
    """The numeric columns as they are, and each categorical one-hot over the training split's categories."""
    numeric = frame.drop(columns=[contract.target, *categories]).apply(pd.to_numeric)
    dummies = [
        pd.get_dummies(frame[column].astype(pd.CategoricalDtype(levels)), dtype=float)
        for column, levels in categories.items()
    ]
    return pd.concat([numeric, *dummies], axis=1).to_numpy(float)


def target(frame: pd.DataFrame, contract: DatasetContract) -> np.ndarray:
    return pd.to_numeric(frame[contract.target]).to_numpy(float)


def local_mode_rmse(data: Path) -> float:
    """The test RMSE of `local_mode run` (the pipeline definition, executed), from the CDK app's environment."""
    with tempfile.TemporaryDirectory() as home:
        command = [str(ROOT / ".venv/bin/python"), "-m", "local_mode", "run", "--contract", str(CONTRACT)]
        command += ["--data", str(data), "--columns", ",".join(COLUMNS), "--workdir", home]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        (report,) = Path(home, "s3").rglob("evaluation.json")
        return json.loads(report.read_text())["regression_metrics"]["rmse"]["value"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=30, help="split seeds 0 .. N-1, plus the default seed")
    parser.add_argument("--recipe", choices=("stratified", "permutation"), default="stratified")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/abalone/abalone.data")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the steps log every round; the figures below are the output
    contract = load_contract(CONTRACT)
    data = check_target(pd.read_csv(args.data, header=None, names=COLUMNS, dtype=str), contract)
    seeds = [DEFAULT_SEED, *(seed for seed in range(args.seeds) if seed != DEFAULT_SEED)]
    pipeline, reference = [], []
    print(f"abalone, {args.recipe} 70/20/10 split; test RMSE in rings")
    print("seed  pipeline  plain XGBoost  difference")
    for seed in seeds:
        splits = split(data, contract, seed=seed) if args.recipe == "stratified" else permutation_split(data, seed=seed)
        with tempfile.TemporaryDirectory() as workdir:
            pipeline.append(pipeline_rmse(splits, contract, seed=seed, workdir=Path(workdir)))
        reference.append(reference_rmse(splits, contract, seed=seed))
        print(f"{seed:4d}  {pipeline[-1]:8.3f}  {reference[-1]:13.3f}  {pipeline[-1] - reference[-1]:+10.3f}")
    if args.recipe == "stratified":
        rmse = local_mode_rmse(args.data)
        print(f"local_mode run, seed {DEFAULT_SEED}: test rmse {rmse:.3f} (in process: {pipeline[0]:.3f})")
    differences = np.subtract(pipeline, reference)
    for name, values in (("pipeline", pipeline), ("plain XGBoost", reference)):
        print(
            f"{name:>13} over {len(values)} splits: mean {statistics.mean(values):.3f}, "
            f"stdev {statistics.stdev(values):.3f}, min {min(values):.3f}, max {max(values):.3f}"
        )
    print(
        f"pipeline - plain: mean {differences.mean():+.3f} "
        f"(standard error {differences.std(ddof=1) / np.sqrt(len(differences)):.3f}); "
        f"pipeline lower on {np.mean(differences < 0):.0%} of splits"
    )
    return 0


if __name__ == "__main__":
    sys.exit(record(__file__, main))
