"""`local_mode tune`: real trials of train.py on real preprocessed splits, searched with a seeded TPE sampler."""

from __future__ import annotations

import csv
import json

import pytest

from local_mode.records import DamagedRecord
from local_mode.tune import MAX_PARALLEL, TuningError, best_file, tune, tuned_hyperparameters
from ml_code.training.search_space import Range
from tests.cli import local_mode

SPACE = [
    Range("max_depth", "integer", 2, 8),
    Range("eta", "continuous", 0.02, 0.3, "log"),
    Range("num_round", "integer", 30, 120),
]


@pytest.fixture(scope="module")
def tuned_twice(tmp_path_factory, churn_csv):
    runs = []
    for _ in range(2):
        home = tmp_path_factory.mktemp("tune")
        runs.append(
            (
                home,
                tune(
                    "customer-churn",
                    churn_csv,
                    home,
                    trials=3,
                    parallel=min(3, MAX_PARALLEL),
                    seed=5,
                    space=SPACE,
                    log=lambda _l: None,
                ),
            )
        )
    return runs


def test_a_fixed_seed_gives_the_same_trials_and_the_same_best_trial_twice(tuned_twice):
    (_, first), (_, second) = tuned_twice
    assert [t.hyperparameters for t in first.trials] == [t.hyperparameters for t in second.trials]
    assert [round(t.value, 6) for t in first.trials] == [round(t.value, 6) for t in second.trials]
    assert first.best.number == second.best.number
    assert first.best.value == max(t.value for t in first.trials)  # auc: higher is better
    assert len({json.dumps(t.hyperparameters, sort_keys=True) for t in first.trials}) == 3  # it searched


def test_trials_are_recorded_and_the_best_feeds_run_tuned(tuned_twice):
    home, result = tuned_twice[0]
    with (result.run / "trials.csv").open() as rows:
        table = list(csv.DictReader(rows))
    assert [int(row["trial"]) for row in table] == [1, 2, 3]
    assert {"auc", "max_depth", "eta", "num_round"} <= set(table[0])
    best = json.loads(best_file(home, "customer-churn").read_text())
    assert best["hyperparameters"] == result.best.hyperparameters and best["metric"] == "auc"
    flags = tuned_hyperparameters(home, "customer-churn")
    assert flags == {name: str(value) for name, value in result.best.hyperparameters.items()}


def test_run_tuned_fails_clearly_without_a_tuning_run(tmp_path, churn_csv):
    completed = local_mode("run", "--contract", "customer-churn", "--data", churn_csv, "--workdir", tmp_path, "--tuned")
    assert completed.returncode == 1
    assert "no tuning run of 'customer-churn'" in completed.stderr and "run `local_mode tune` first" in completed.stderr


def test_fails_when_asked_for_no_trials(tmp_path, churn_csv):
    with pytest.raises(ValueError, match=r"trials must be at least 1, got 0"):
        tune("customer-churn", churn_csv, tmp_path, trials=0, space=SPACE)


def test_a_damaged_tuning_result_is_named_with_the_way_out(tmp_path):
    path = best_file(tmp_path, "customer-churn")
    path.parent.mkdir(parents=True)
    for damaged in ('{"contract": "customer-churn", "hyperpa', '{"contract": "customer-churn"}', "[1]"):
        path.write_text(damaged)
        with pytest.raises(DamagedRecord, match=rf"{path} holds no tuning result \(.*\): copy a run's best.json over"):
            tuned_hyperparameters(tmp_path, "customer-churn")


def test_an_interrupted_tuning_keeps_every_finished_trial(tmp_path, churn_csv):
    said = []

    def log(line: str) -> None:  # Ctrl-C arrives after the second trial has ended
        said.append(line)
        if len(said) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune("customer-churn", churn_csv, tmp_path, trials=4, parallel=1, seed=5, space=SPACE, log=log)
    (table,) = (tmp_path / "tuning" / "customer-churn").glob("*/trials.csv")
    with table.open() as rows:
        assert [int(row["trial"]) for row in csv.DictReader(rows)] == [1, 2]
    assert said[-1] == f"interrupted after 2 of 4 trials; the finished ones are in {table}"
    assert not best_file(tmp_path, "customer-churn").exists()  # an unfinished search names no best


def test_parallel_trials_are_capped_at_the_machines_cpus(tmp_path, churn_csv):
    with pytest.raises(ValueError, match=rf"parallel must be from 1 to {MAX_PARALLEL} \(this machine's CPUs\), got"):
        tune("customer-churn", churn_csv, tmp_path, trials=2, parallel=MAX_PARALLEL + 1, space=SPACE)
    assert not (tmp_path / "tuning").exists()


def test_ctrl_c_ends_a_command_with_130_and_no_traceback(monkeypatch, tmp_path, capsys):
    import local_mode.__main__ as cli

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_tune", interrupted)
    code = cli.main(["tune", "--contract", "customer-churn", "--data", str(tmp_path), "--workdir", str(tmp_path)])
    assert code == 130 and capsys.readouterr().err == "interrupted\n"


def test_a_search_whose_trials_learn_nothing_names_no_best(tmp_path, churn_csv):
    degenerate = [Range("subsample", "continuous", 0.0001, 0.0002), Range("num_round", "integer", 5, 10)]
    with pytest.raises(TuningError, match=r"no trial did better than chance \(best validation auc 0\.5000; trials in"):
        tune("customer-churn", churn_csv, tmp_path, trials=2, parallel=1, seed=5, space=degenerate, log=lambda _l: None)
    assert not best_file(tmp_path, "customer-churn").exists()
    (table,) = (tmp_path / "tuning" / "customer-churn").glob("*/trials.csv")  # the trials are kept, to look at
    with table.open() as rows:
        assert len(list(csv.DictReader(rows))) == 2
