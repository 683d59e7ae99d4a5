"""Training in SageMaker script mode: XGBoost on the preprocessed splits, early stopping on validation.

On several hosts (`TrainingInstanceCount` > 1) they train one model together over XGBoost's collective
(ml_code/cluster.py): each host learns from its share of the train split (its files when the channel is
sharded by S3 key, else its block of the rows) and evaluates on the whole validation split, so every host logs the
same metrics and stops at the same round; the first host writes the model and the checkpoints.

Channels: `train` and `validation` (CSV, target first, no header) and `transform` (the fitted feature
transform). Writes the booster in XGBoost's JSON format and the transform to `SM_MODEL_DIR`. Logs
`train-<metric>: <value>` and `validation-<metric>: <value>` per round for SageMaker metric definitions, and at the
end `validation-final-<metric>: <value>` for every metric of the evaluation report (what tuning optimises).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, as SageMaker does: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import xgboost as xgb  # noqa: E402

from ml_code.bootstrap import exit_now  # noqa: E402
from ml_code.cluster import SHARDED, Cluster, channel_distribution, collective, gather  # noqa: E402
from ml_code.metrics import METRIC_FUNCTIONS  # noqa: E402
from ml_code.paths import (  # noqa: E402
    CHECKPOINT_DIR,
    HYPERPARAMETERS_FILE,
    MODEL_FILE,
    SERVING_CODE_DIR,
    SERVING_PROGRAM,
    TRAINING_FAILURE_FILE,
    TRANSFORM_FILE,
)
from ml_code.runtime import configure_logging, parse_known, run_step  # noqa: E402
from ml_code.training.hyperparameters import Hyperparameters  # noqa: E402
from ml_code.training.objectives import FINAL_PREFIX, OBJECTIVES  # noqa: E402
from ml_code.transform.features import FeatureTransform  # noqa: E402

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint_(\d+)\.(ubj|json)$")


def read_split(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """A split written by preprocessing (target first, no header): the features as one float32 matrix, the
    precision XGBoost trains at, and the target as float64. pyarrow parses on every core, straight into
    those types, and each file's columns are copied once, into the matrix."""
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no CSV file in channel {directory}")
    features, targets = [], []
    for path in files:
        with path.open() as handle:
            width = len(handle.readline().split(","))
        if width < 2:
            raise ValueError(f"channel {directory} has no usable rows: {path.name} has {width} column(s)")
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(column_names=[str(i) for i in range(width)]),
            convert_options=pa_csv.ConvertOptions(
                column_types={str(i): pa.float32() if i else pa.float64() for i in range(width)}
            ),  # noqa: E501
        )
        matrix = np.empty((table.num_rows, width - 1), dtype=np.float32)
        for column in range(1, width):
            matrix[:, column - 1] = table.column(column).to_numpy()
        targets.append(table.column(0).to_numpy())
        features.append(matrix)
        del table
    x = features[0] if len(features) == 1 else np.concatenate(features)
    y = targets[0] if len(targets) == 1 else np.concatenate(targets)
    if x.shape[0] == 0:
        raise ValueError(f"channel {directory} has no usable rows (shape {x.shape})")
    return x, y


def host_share(directory: Path, cluster: Cluster, distribution: str) -> tuple[np.ndarray, np.ndarray]:
    """The train split's rows this host learns from: the files SageMaker gave it (a sharded channel), or its block
    of the rows every host got (a replicated one)."""
    if cluster.size > 1 and distribution == SHARDED and not any(directory.glob("*.csv")):
        raise ValueError(
            f"host {cluster.current} got none of the train split's files: SageMaker shards a channel by file, and "
            f"the split has fewer files than the job's {cluster.size} hosts (preprocessing writes one per host)"
        )
    x, y = read_split(directory)
    if cluster.size > 1 and distribution != SHARDED:
        block = cluster.row_block(len(y))
        x, y = x[block], y[block]
    logger.info("host %s (%d of %d) trains on %d rows", cluster.current, cluster.rank + 1, cluster.size, len(y))
    return x, y


def booster_params(transform: FeatureTransform, hp: Hyperparameters) -> dict:
    objective, metric = OBJECTIVES[transform.problem_type]
    params = {
        "objective": objective,
        "eval_metric": metric,
        "max_depth": hp.max_depth,
        "eta": hp.eta,
        "subsample": hp.subsample,
        "colsample_bytree": hp.colsample_bytree,
        "min_child_weight": hp.min_child_weight,
        "lambda": hp.reg_lambda,
        "alpha": hp.reg_alpha,
        "seed": hp.seed,
        "nthread": int(os.environ.get("SM_NUM_CPUS") or os.cpu_count() or 1),  # the host's (SageMaker sets it)
        "tree_method": "hist",
    }
    if transform.problem_type == "multiclass_classification":
        params["num_class"] = len(transform.classes)
    return params


class MetricLogger(xgb.callback.TrainingCallback):
    """Logs `<channel>-<metric>: <value>` after every round."""

    def after_iteration(self, model, epoch, evals_log) -> bool:
        for channel, metrics in evals_log.items():
            for metric, values in metrics.items():
                logger.info("round %d %s", epoch, f"{channel}-{metric}: {values[-1]:.6f}")
        return False


def latest_checkpoint(directory: Path | None) -> xgb.Booster | None:
    """The newest checkpoint, for resuming an interrupted (spot) job; None when there is none."""
    if directory is None or not directory.is_dir():
        return None
    found = [(int(m.group(1)), path) for path in directory.iterdir() if (m := CHECKPOINT_PATTERN.match(path.name))]
    if not found:
        return None
    _, path = max(found)
    logger.info("resuming from checkpoint %s", path)
    return xgb.Booster(model_file=str(path))


def train(
    train_dir: Path,
    validation_dir: Path,
    transform_dir: Path,
    model_dir: Path,
    hp: Hyperparameters,
    checkpoint_dir: Path | None = None,
    cluster: Cluster | None = None,
    train_distribution: str = SHARDED,
) -> xgb.Booster:
    """Fit with early stopping on validation; save the best rounds and the transform to `model_dir`. On a
    `cluster` of several hosts, with the others (`train_distribution`: how the train channel reached them)."""
    cluster = cluster or Cluster(hosts=("algo-1",), current="algo-1")
    with collective(cluster):
        return _train(
            train_dir, validation_dir, transform_dir, model_dir, hp, checkpoint_dir, cluster, train_distribution
        )


def _train(
    train_dir: Path,
    validation_dir: Path,
    transform_dir: Path,
    model_dir: Path,
    hp: Hyperparameters,
    checkpoint_dir: Path | None,
    cluster: Cluster,
    train_distribution: str,
) -> xgb.Booster:
    transform_path = transform_dir / TRANSFORM_FILE
    transform = FeatureTransform.from_json(transform_path.read_text())
    x_train, y_train = host_share(train_dir, cluster, train_distribution)
    x_validation, y_validation = read_split(validation_dir)
    if x_train.shape[1] != len(transform.features):
        raise ValueError(f"train has {x_train.shape[1]} features, the transform {len(transform.features)}")
    # quantized once, as the hist method trains on them: a byte per value instead of the float matrices
    dtrain = xgb.QuantileDMatrix(x_train, label=y_train, feature_names=transform.features)
    dvalidation = xgb.QuantileDMatrix(x_validation, label=y_validation, feature_names=transform.features, ref=dtrain)
    del x_train, x_validation

    callbacks: list[xgb.callback.TrainingCallback] = [MetricLogger()]
    # every host resumes from the first host's newest checkpoint (it alone writes them): one model, one round
    resume_from = latest_checkpoint(checkpoint_dir) if cluster.leader else None
    if cluster.size > 1:
        raw = gather(cluster, resume_from.save_raw() if resume_from is not None else b"")[0]
        resume_from = xgb.Booster(model_file=bytearray(raw)) if raw else None
        if resume_from is not None and not cluster.leader:
            logger.info("resuming from the first host's checkpoint (%d rounds)", resume_from.num_boosted_rounds())
    done_rounds = resume_from.num_boosted_rounds() if resume_from is not None else 0
    if checkpoint_dir is not None and checkpoint_dir.is_dir():
        callbacks.append(xgb.callback.TrainingCheckPoint(directory=str(checkpoint_dir), name="checkpoint", interval=10))
    booster = xgb.train(
        booster_params(transform, hp),
        dtrain,
        num_boost_round=max(hp.num_round - done_rounds, 1),
        evals=[(dvalidation, "validation")],  # the train split's metric every round would cost 40 % of the time
        early_stopping_rounds=hp.early_stopping_rounds,
        callbacks=callbacks,
        xgb_model=resume_from,
        verbose_eval=False,
    )
    best = booster[: booster.best_iteration + 1]  # keep the rounds early stopping chose, nothing after
    logger.info("best round %d, %s", booster.best_iteration, f"validation-best: {booster.best_score:.6f}")
    for name, value in re.findall(r"train-(\S+):(\S+)", best.eval(dtrain, "train")):  # once, for the model as kept
        logger.info("%s", f"train-{name}: {float(value):.6f}")
    for name, value in validation_metrics(best, dvalidation, y_validation, transform.problem_type).items():
        logger.info("%s", f"{FINAL_PREFIX}{name}: {value:.6f}")  # what tuning reads: the contract's metric among them
    if not cluster.leader:  # every host holds the same model: the first one writes it
        return best
    model_dir.mkdir(parents=True, exist_ok=True)
    best.save_model(str(model_dir / MODEL_FILE))
    (model_dir / HYPERPARAMETERS_FILE).write_text(json.dumps(dataclasses.asdict(hp), indent=2, sort_keys=True) + "\n")
    shutil.copyfile(transform_path, model_dir / TRANSFORM_FILE)
    package_serving_code(model_dir)
    return best


def validation_metrics(booster: xgb.Booster, dvalidation: xgb.DMatrix, y: np.ndarray, problem_type: str) -> dict:
    """Every metric the evaluation reports, on the validation split, for the model as kept."""
    return METRIC_FUNCTIONS[problem_type](y, booster.predict(dvalidation))


def package_serving_code(model_dir: Path) -> None:
    """Put the serving code into the model (`code/`): the endpoint runs it without downloading anything."""
    package = Path(__file__).resolve().parents[1]
    code_dir = model_dir / SERVING_CODE_DIR
    for source in sorted(package.rglob("*")):
        if source.is_file() and source.suffix in (".py", ".json") and "__pycache__" not in source.parts:
            target = code_dir / package.name / source.relative_to(package)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copyfile(package / "inference" / "serving_entry.py", code_dir / SERVING_PROGRAM)


def parse_args(argv: list[str] | None) -> tuple[Hyperparameters, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__)
    for name, default in Hyperparameters.__dataclass_fields__.items():
        parser.add_argument(f"--{name}", type=type(default.default), default=default.default)
    env = os.environ.get
    parser.add_argument("--train", type=Path, default=Path(env("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")))
    parser.add_argument(
        "--validation", type=Path, default=Path(env("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    )
    parser.add_argument(
        "--transform", type=Path, default=Path(env("SM_CHANNEL_TRANSFORM", "/opt/ml/input/data/transform"))
    )
    parser.add_argument("--model-dir", type=Path, default=Path(env("SM_MODEL_DIR", "/opt/ml/model")))
    parser.add_argument("--checkpoint-dir", type=Path, default=Path(CHECKPOINT_DIR))
    parser.add_argument("--failure-file", default=TRAINING_FAILURE_FILE)
    args = parse_known(parser, argv)
    hp = Hyperparameters(**{name: getattr(args, name) for name in Hyperparameters.__dataclass_fields__})
    return hp, args


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    hp, args = parse_args(argv)
    return run_step(
        lambda: train(
            args.train,
            args.validation,
            args.transform,
            args.model_dir,
            hp,
            args.checkpoint_dir,
            Cluster.from_environment(),
            channel_distribution("train"),
        ),
        args.failure_file,
    )


if __name__ == "__main__":  # as the processing jobs end (ml_code/bootstrap.py): no wait on a library's threads
    exit_now(main())
