"""train.py: script mode, early stopping, metric log lines, determinism, checkpoints."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from ml_code import paths
from ml_code.training.objectives import metric_log_regex
from ml_code.training.train import Hyperparameters, latest_checkpoint, main, read_split, train


def channel_args(base) -> list[str]:
    return [f"--{channel}={base / channel}" for channel in paths.TRAINING_CHANNELS]


def test_saves_the_booster_and_the_transform(churn_model_dir, churn_prepared):
    booster = xgb.Booster()
    booster.load_model(str(churn_model_dir / paths.MODEL_FILE))
    transform_file = churn_prepared.base / paths.TRANSFORM_OUTPUT / paths.TRANSFORM_FILE
    assert (churn_model_dir / paths.TRANSFORM_FILE).read_text() == transform_file.read_text()
    assert 1 <= booster.num_boosted_rounds() <= 120  # early stopping keeps the best rounds only


def test_the_model_carries_its_serving_code(churn_model_dir, churn_prepared, tmp_path):
    code_dir = churn_model_dir / paths.SERVING_CODE_DIR
    assert (code_dir / paths.SERVING_PROGRAM).is_file()
    assert (code_dir / "ml_code" / "inference" / "inference.py").is_file()
    # as the container does: import SERVING_PROGRAM from the code folder, elsewhere than the repository
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import inference; "
        "model = inference.model_fn(sys.argv[2]); "
        "response = inference.transform_fn(model, open(sys.argv[3]).read(), 'text/csv', 'application/json'); "
        "print(response.status_code, response.get_data(as_text=True))"
    )
    sample = tmp_path / "sample.csv"
    sample.write_text("".join(churn_prepared.raw_csv.read_text().splitlines(keepends=True)[:4]))
    result = subprocess.run(
        [sys.executable, "-c", script, str(code_dir), str(churn_model_dir), str(sample)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    status, body = result.stdout.split(" ", 1)
    assert status == "200" and len(json.loads(body)["predictions"]) == 3


def test_logs_metric_lines_that_a_metric_definition_reads(tmp_path, churn_prepared, capfd):
    code = main(
        [
            *channel_args(churn_prepared.base),
            f"--model-dir={tmp_path / 'model'}",
            "--num_round=5",
            f"--checkpoint-dir={tmp_path / 'absent'}",
            f"--failure-file={tmp_path / 'failure'}",
        ]
    )
    assert code == 0
    log = capfd.readouterr().err
    train_values = re.findall(metric_log_regex("train", "auc"), log)
    validation_values = re.findall(metric_log_regex("validation", "auc"), log)
    assert len(validation_values) == 5  # every round
    assert all(0.5 < float(value) <= 1.0 for value in validation_values)
    # once, for the model as kept: its AUC on the train split
    (train_value,) = train_values
    x_train, y_train = read_split(churn_prepared.base / "train")
    model = xgb.Booster(model_file=str(tmp_path / "model" / paths.MODEL_FILE))
    expected = roc_auc_score(y_train, model.predict(xgb.DMatrix(x_train, feature_names=model.feature_names)))
    assert float(train_value) == pytest.approx(expected, abs=1e-5)


def test_two_runs_with_one_seed_give_identical_models(tmp_path, churn_prepared):
    base = churn_prepared.base
    for name in ("a", "b"):
        train(base / "train", base / "validation", base / "transform", tmp_path / name, Hyperparameters(num_round=30))
    model_a, model_b = ((tmp_path / name / paths.MODEL_FILE).read_bytes() for name in ("a", "b"))
    assert model_a == model_b


def test_checkpoints_when_the_directory_exists_and_resumes_from_them(tmp_path, churn_prepared, caplog):
    base = churn_prepared.base
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    hp = Hyperparameters(num_round=25, early_stopping_rounds=100)
    train(base / "train", base / "validation", base / "transform", tmp_path / "first", hp, checkpoints)
    checkpoint = latest_checkpoint(checkpoints)
    assert checkpoint is not None and checkpoint.num_boosted_rounds() >= 10
    done = checkpoint.num_boosted_rounds()
    # a restarted (spot) job continues from the checkpoint: it trains only the rounds still missing
    shutil.rmtree(tmp_path / "first")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ml_code.training.train"):
        train(
            base / "train",
            base / "validation",
            base / "transform",
            tmp_path / "second",
            Hyperparameters(num_round=30, early_stopping_rounds=100),
            checkpoints,
        )
    rounds_trained = [r for r in caplog.records if "validation-auc:" in r.getMessage()]
    assert len(rounds_trained) == 30 - done
    assert any("resuming from checkpoint" in r.getMessage() for r in caplog.records)


def test_fails_when_a_channel_is_empty(tmp_path, churn_prepared):
    empty = tmp_path / "empty"
    empty.mkdir()
    failure = tmp_path / "failure"
    args = channel_args(churn_prepared.base)
    args[0] = f"--train={empty}"
    code = main([*args, f"--model-dir={tmp_path / 'model'}", f"--failure-file={failure}"])
    assert code == 1
    assert "no CSV file in channel" in failure.read_text()
    assert not (tmp_path / "model").exists()


def test_a_failed_run_ends_at_once_even_when_a_thread_would_keep_the_process_alive(tmp_path):
    """Run as the training job runs it: a run that fails after a library left a non-daemon thread running (pyarrow's
    pool after a read that failed early) exits with code 1, its failure written, instead of waiting for the thread
    until the job's time limit."""
    train_script = Path(paths.__file__).parent / "training" / "train.py"
    failing_run = (
        "import runpy, sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,)).start()\n"
        f"sys.argv = ['train.py', '--train={tmp_path}', '--failure-file={tmp_path / 'failure'}']\n"
        f"runpy.run_path({str(train_script)!r}, run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", failing_run], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "transform.json" in (tmp_path / "failure").read_text()


def test_hyperparameters_are_checked_by_name_and_type():
    from ml_code.training.hyperparameters import check_hyperparameters

    assert check_hyperparameters({"max_depth": "4", "eta": "0.05"}) == {"max_depth": "4", "eta": "0.05"}
    with pytest.raises(ValueError, match=r"'no_such' is not a hyperparameter; the hyperparameters are max_depth"):
        check_hyperparameters({"no_such": "1"})
    with pytest.raises(ValueError, match=r"num_round='1.5' is not an integer"):
        check_hyperparameters({"num_round": "1.5"})
