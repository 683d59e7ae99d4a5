"""Evaluation (a SageMaker processing job): score the test split and write evaluation.json and plots.

Reads `<base>/model/model.tar.gz` and `<base>/test/*.csv`; writes `<base>/evaluation/evaluation.json` in
SageMaker's model-quality schema (`{"regression_metrics": {"rmse": {"value": ..., "standard_deviation":
...}}}`), with standard deviations from a seeded bootstrap, PNG plots beside it, and in `answers/` the
data-quality baseline of what the endpoint answers for the test split (Model Monitor's two files).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, as SageMaker does: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import tarfile  # noqa: E402

import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402

from ml_code.inference.inference import answers  # noqa: E402
from ml_code.metrics import build_report, confusion, roc_auc  # noqa: E402
from ml_code.monitoring.data_quality import answer_frame, write_baseline  # noqa: E402
from ml_code.paths import (  # noqa: E402
    ANSWERS_BASELINE,
    EVALUATION_MODEL_INPUT,
    EVALUATION_OUTPUT,
    EVALUATION_TEST_INPUT,
    HYPERPARAMETERS_FILE,
    MODEL_ARCHIVE,
    MODEL_FILE,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
    REPORT_FILE,
    TRANSFORM_FILE,
)
from ml_code.runtime import atomic_write_text, configure_logging, parse_known, run_step  # noqa: E402
from ml_code.settings import DEFAULT_SEED
from ml_code.training.train import read_split  # noqa: E402
from ml_code.transform.features import FeatureTransform  # noqa: E402

logger = logging.getLogger(__name__)


def load_model(model_tar: Path) -> tuple[xgb.Booster, FeatureTransform]:
    """Read the booster and the feature transform out of model.tar.gz (nothing is extracted to disk)."""

    def member(name: str) -> bytes:
        found = model_member(model_tar, name)
        if found is None:
            raise FileNotFoundError(f"{model_tar} has no file {name!r}: is it a model this platform trained?")
        return found

    model_bytes, transform_text = member(MODEL_FILE), member(TRANSFORM_FILE).decode()
    booster = xgb.Booster()
    booster.load_model(bytearray(model_bytes))
    return booster, FeatureTransform.from_json(transform_text)


def model_member(model_tar: Path, name: str) -> bytes | None:
    """A file of model.tar.gz, or None when the model has none."""
    with tarfile.open(model_tar) as archive:
        handle = archive.extractfile(name) if name in archive.getnames() else None
        return handle.read() if handle is not None else None


def roc_points(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve's (false positive rate, true positive rate) at every distinct score, from the highest
    threshold down: one sort and two running counts."""
    order = np.argsort(-score, kind="mergesort")
    ranked, positive = score[order], y[order] == 1
    last_of_each_score = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]
    true_positives, false_positives = np.cumsum(positive)[last_of_each_score], np.cumsum(~positive)[last_of_each_score]
    fpr = np.r_[0.0, false_positives / max(int((~positive).sum()), 1)]
    tpr = np.r_[0.0, true_positives / max(int(positive.sum()), 1)]
    return fpr, tpr


def save_plots(
    problem_type: str, y: np.ndarray, prediction: np.ndarray, booster: xgb.Booster, output_dir: Path
) -> list[Path]:
    """ROC curve and confusion matrix (binary), residuals (regression), and feature importance."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written = []

    def save(figure, name: str) -> None:
        path = output_dir / name
        figure.tight_layout()
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)

    if problem_type == "binary_classification":
        fpr, tpr = roc_points(y, prediction)
        figure, axes = plt.subplots(figsize=(5, 5))
        axes.plot(fpr, tpr, label=f"AUC {roc_auc(y, prediction):.3f}")
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        axes.legend(loc="lower right")
        save(figure, "roc_curve.png")
        tn, fp, fn, tp = confusion(y, (prediction >= 0.5).astype(int))
        figure, axes = plt.subplots(figsize=(4, 4))
        axes.imshow([[tn, fp], [fn, tp]], cmap="Blues")
        for (row, column), count in np.ndenumerate(np.array([[tn, fp], [fn, tp]])):
            axes.text(column, row, str(count), ha="center", va="center")
        axes.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title="Confusion matrix")
        save(figure, "confusion_matrix.png")
    elif problem_type == "regression":
        figure, axes = plt.subplots(figsize=(5, 4))
        axes.scatter(prediction, prediction - y, s=6, alpha=0.5)
        axes.axhline(0, color="grey", linestyle="--")
        axes.set(xlabel="predicted", ylabel="residual", title="Residuals")
        save(figure, "residuals.png")

    gain = booster.get_score(importance_type="gain")
    top = sorted(gain.items(), key=lambda item: item[1])[-20:]
    figure, axes = plt.subplots(figsize=(6, 0.3 * len(top) + 1.5))
    axes.barh([name for name, _ in top], [value for _, value in top])
    axes.set(xlabel="gain", title="Feature importance")
    save(figure, "feature_importance.png")
    return written


def evaluate(model_tar: Path, test_dir: Path, output_dir: Path, *, seed: int) -> dict:
    """Score the test split; write the report last, so that a failure leaves no report behind."""
    booster, transform = load_model(model_tar)
    x_test, y_test = read_split(test_dir)
    if x_test.shape[1] != len(transform.features):
        raise ValueError(f"test has {x_test.shape[1]} features, the model expects {len(transform.features)}")
    prediction = booster.predict(xgb.DMatrix(x_test, feature_names=transform.features))
    report = build_report(transform.problem_type, y_test, prediction, seed=seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_plots(transform.problem_type, y_test, prediction, booster, output_dir)
    # what the endpoint answers for the test split: the baseline a captured answer is compared with
    write_baseline(answer_frame(answers(prediction, transform)), output_dir / ANSWERS_BASELINE)
    hyperparameters = model_member(model_tar, HYPERPARAMETERS_FILE)
    if hyperparameters is not None:  # beside the report: what the registered model was trained with (tuning's pick)
        atomic_write_text(output_dir / HYPERPARAMETERS_FILE, hyperparameters.decode())
    atomic_write_text(output_dir / REPORT_FILE, json.dumps(report, indent=2, sort_keys=True, allow_nan=False))
    logger.info("evaluation: %s", json.dumps(report))
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    return parse_known(parser, argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    base = args.base_dir
    return run_step(
        lambda: evaluate(
            base / EVALUATION_MODEL_INPUT / MODEL_ARCHIVE,
            base / EVALUATION_TEST_INPUT,
            base / EVALUATION_OUTPUT,
            seed=args.seed,
        ),
        args.failure_file,
    )


if __name__ == "__main__":
    sys.exit(main())
