"""`local_mode tune`: the search space of ml_code/training/search_space.json, searched on this machine with Optuna's
TPE sampler (Bayesian, as SageMaker's tuning step), each trial a real train.py run in the ML environment on the
same preprocessed splits; the objective is the contract's metric on the validation split.

Trials run `parallel` at a time, asked for in batches and told back in order, so a seed gives the same trials and the
same best trial whatever the machine's timing. Every trial is written to `<home>/tuning/<contract>/<run>/trials.csv`;
the best one's hyperparameters to `best.json` there and to `<home>/tuning/<contract>/best.json`, which
`local_mode run --tuned` trains with.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from local_mode import ml_processes
from local_mode.experiments import tracked, tracking_client
from local_mode.jobs import default_python, python_path
from local_mode.records import DamagedRecord, read_json
from local_mode.runner import stage_input
from ml_code import paths, settings
from ml_code.contracts.contract import DatasetContract, contract_path, load_contract
from ml_code.runtime import atomic_write_text
from ml_code.training.objectives import FINAL_PREFIX
from ml_code.training.search_space import Range, load_search_space

TUNING_DIR = "tuning"
BEST_FILE = "best.json"
CHANCE = {"auc": 0.5}  # a metric's value for a model that learned nothing: no best trial at or below it
MAX_PARALLEL = os.cpu_count() or 1  # trials at once beyond this machine's CPUs only slow each other down
DEFAULT_PARALLEL = min(2, MAX_PARALLEL)
TRIALS_FILE = "trials.csv"
SPLITS_DIR = "processing"  # a run's preprocessed splits, its metadata beside them


class TuningError(RuntimeError):
    """A trial or the preprocessing it needs failed; the message says which and why."""


@dataclass(frozen=True)
class Trial:
    number: int
    hyperparameters: dict[str, float | int]
    value: float


@dataclass(frozen=True)
class TuningResult:
    run: Path
    trials: list[Trial]
    best: Trial
    metric: str
    higher_is_better: bool


def best_file(home: Path, contract_name: str) -> Path:
    """Where the newest tuning run of a contract keeps its best hyperparameters."""
    return home / TUNING_DIR / contract_name / BEST_FILE


def tuned_hyperparameters(home: Path, contract_name: str) -> dict[str, str]:
    """The best hyperparameters of the contract's newest tuning run, as train.py flags; an error says how to get
    them when there is none."""
    path = best_file(home, contract_name)
    if not path.is_file():
        raise FileNotFoundError(f"no tuning run of {contract_name!r} under {home}: run `local_mode tune` first")
    try:
        return {name: str(value) for name, value in read_json(path)["hyperparameters"].items()}
    except (DamagedRecord, KeyError, AttributeError) as error:
        raise DamagedRecord(
            f"{path} holds no tuning result ({error}): copy a run's {BEST_FILE} over it, or run `local_mode tune` again"
        ) from None


def tune(
    contract_source: str | Path,
    data: Path,
    home: Path,
    *,
    trials: int = 20,
    parallel: int = DEFAULT_PARALLEL,
    seed: int = settings.DEFAULT_SEED,
    columns: list[str] | None = None,
    python: str | None = None,
    space: list[Range] | None = None,
    splits: Path | None = None,
    log: Callable[[str], None] = print,
) -> TuningResult:
    """Preprocess `data` once (or take the `splits` prepare_splits made of it), then run `trials` trials
    `parallel` at a time; returns every trial and the best."""
    import optuna  # the CDK app's environment has it; the ML environment runs the trials

    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if not 1 <= parallel <= MAX_PARALLEL:
        raise ValueError(f"parallel must be from 1 to {MAX_PARALLEL} (this machine's CPUs), got {parallel}")
    contract = load_contract(contract_source)
    space = space if space is not None else load_search_space()
    run = home / TUNING_DIR / contract.name / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    if splits is None:
        splits = prepare_splits(contract_source, stage_input(data, home, columns), run, seed, python)
    direction = "maximize" if contract.metric.higher_is_better else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    done: list[Trial] = []
    try:
        _run_trials(
            study,
            space,
            trials,
            parallel,
            done,
            splits=splits,
            run=run,
            contract=contract,
            python=python,
            seed=seed,
            log=log,
        )
    except KeyboardInterrupt:
        log(f"interrupted after {len(done)} of {trials} trials; the finished ones are in {run / TRIALS_FILE}")
        raise
    best = next(t for t in done if t.number == study.best_trial.number)
    chance = CHANCE.get(contract.metric.name)
    failed = chance is not None and best.value <= chance
    if not failed:
        _write_best(run, home, contract, best)
    tracked(
        f"tuning run {run.name}",
        lambda: log_tuning(home, contract.name, run, done, best, metric=contract.metric.name, failed=failed, seed=seed),
    )
    if failed:
        raise TuningError(
            f"no trial did better than chance (best validation {contract.metric.name} {best.value:.4f}; trials in "
            f"{run / TRIALS_FILE}): the ranges make models that learn nothing (a subsample or colsample_bytree near "
            "0, for one); narrow them"
        )
    return TuningResult(
        run=run, trials=done, best=best, metric=contract.metric.name, higher_is_better=contract.metric.higher_is_better
    )


def _run_trials(study, space, trials, parallel, done, *, splits, run, contract, python, seed, log) -> None:
    """Ask, train and tell `parallel` trials at a time until `trials` are done; each is added to `done` and to the
    run's trials table as it ends, so an interrupted run keeps every finished trial."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while len(done) < trials:
            batch = [study.ask() for _ in range(min(parallel, trials - len(done)))]
            suggested = [{r.name: _suggest(trial, r) for r in space} for trial in batch]
            values = list(
                pool.map(
                    lambda job: train_trial(
                        *job, splits=splits, trials=run / "trials", contract=contract, python=python, seed=seed
                    ),
                    [(trial.number, hp) for trial, hp in zip(batch, suggested, strict=True)],
                )
            )
            for trial, hyperparameters, value in zip(batch, suggested, values, strict=True):
                study.tell(trial, value)
                done.append(Trial(trial.number, hyperparameters, value))
                _write_trials(run, contract, done)
                best = study.best_trial
                log(
                    f"trial {trial.number + 1:>3}/{trials}  validation {contract.metric.name} {value:.4f}  "
                    f"(best {best.value:.4f}, trial {best.number + 1})  "
                    + " ".join(f"{k}={_shown(v)}" for k, v in hyperparameters.items())
                )


def trial_table(result: TuningResult) -> str:
    """The trials, best first: what a data scientist compares."""
    names = list(result.trials[0].hyperparameters)
    ordered = sorted(result.trials, key=lambda t: t.value, reverse=result.higher_is_better)
    lines = [" ".join([f"{'trial':>5}", f"{result.metric:>10}", *(f"{n:>16}" for n in names)])]
    for trial in ordered:
        lines.append(
            " ".join(
                [
                    f"{trial.number + 1:>5}",
                    f"{trial.value:>10.4f}",
                    *(f"{_shown(trial.hyperparameters[n]):>16}" for n in names),
                ]
            )
        )
    return "\n".join(lines)


def _suggest(trial, spec: Range):
    log = spec.scaling == "log"
    if spec.is_integer:
        return trial.suggest_int(spec.name, int(spec.min), int(spec.max), log=log)
    return trial.suggest_float(spec.name, float(spec.min), float(spec.max), log=log)


def prepare_splits(contract_source, staged: str, run: Path, seed: int, python: str | None) -> Path:
    """The splits every trial trains on, under `run/processing`: preprocess.py once, in the ML environment, on the
    staged data (`stage_input`)."""
    source = Path(staged)
    input_dir = source if source.is_dir() else run / "input"
    if not source.is_dir():
        input_dir.mkdir(parents=True, exist_ok=True)
        (input_dir / source.name).symlink_to(source)
    base = run / SPLITS_DIR
    run_ml_module(
        python,
        "ml_code.processing.preprocess",
        [
            "--contract",
            str(contract_path(contract_source)),
            "--base-dir",
            str(base),
            "--input-dir",
            str(input_dir),
            "--seed",
            str(seed),
            "--failure-file",
            str(run / "preprocess-failure"),
        ],
        run / "preprocess.log",
        "preprocessing",
    )
    return base


def trial_model(trials: Path, number: int) -> Path:
    """Where trial `number` of a run keeps its model (`<run>/trials/0001/model` for the first)."""
    return trials / f"{number + 1:04d}" / "model"


def train_trial(
    number: int,
    hyperparameters: dict,
    *,
    splits: Path,
    trials: Path,
    contract: DatasetContract,
    python: str | None,
    seed: int,
) -> float:
    """Trial `number`: train.py with `hyperparameters` on the splits; its validation value of the contract's
    metric (the model is under `trial_model(trials, number)`)."""
    folder = trial_model(trials, number).parent
    flags = [f"--{name}={value}" for name, value in hyperparameters.items()]
    output = run_ml_module(
        python,
        "ml_code.training.train",
        [
            *flags,
            f"--seed={seed}",
            "--train",
            str(splits / "train"),
            "--validation",
            str(splits / "validation"),
            "--transform",
            str(splits / "transform"),
            "--model-dir",
            str(folder / "model"),
            "--checkpoint-dir",
            str(folder / "no-checkpoints"),
            "--failure-file",
            str(folder / "failure"),
        ],
        folder / "train.log",
        "a trial",
    )
    found = re.findall(rf"{re.escape(FINAL_PREFIX)}{re.escape(contract.metric.name)}: ([0-9.eE+-]+|nan)", output)
    if not found or math.isnan(float(found[-1])):
        raise TuningError(f"a trial logged no validation {contract.metric.name}: see {folder / 'train.log'}")
    return float(found[-1])


def run_ml_module(python: str | None, module: str, arguments: list[str], log: Path, what: str) -> str:
    """`python -m <module> <arguments>` in the ML environment, its output kept in `log`; TuningError on failure."""
    returncode = ml_processes.run(
        [python or default_python(), "-m", module, *arguments],
        env={**os.environ, "PYTHONPATH": python_path()},
        cwd=Path.cwd(),
        log=log,
        timeout=3600,
    )
    if returncode != 0:
        raise TuningError(f"{what} failed (exit {returncode}): see {log}")
    return log.read_text(errors="replace")


def _write_trials(run: Path, contract: DatasetContract, trials: list[Trial]) -> None:
    names = list(trials[0].hyperparameters)
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["trial", contract.metric.name, *names])
    for trial in trials:
        writer.writerow([trial.number + 1, trial.value, *(trial.hyperparameters[n] for n in names)])
    atomic_write_text(run / TRIALS_FILE, table.getvalue())


def _write_best(run: Path, home: Path, contract: DatasetContract, best: Trial) -> None:
    best_json = (
        json.dumps(
            {
                "contract": contract.name,
                "metric": contract.metric.name,
                "value": best.value,
                "trial": best.number + 1,
                "run": str(run),
                "hyperparameters": best.hyperparameters,
            },
            indent=2,
        )
        + "\n"
    )
    atomic_write_text(run / BEST_FILE, best_json)
    atomic_write_text(best_file(home, contract.name), best_json)


def _shown(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def tuning_experiment(contract_name: str) -> str:
    """The MLflow experiment of a contract's tuning runs."""
    return f"{contract_name}-tuning"


def log_tuning(
    home: Path, contract_name: str, run: Path, trials: list[Trial], best: Trial, *, metric: str, failed: bool, seed: int
) -> str:
    """Log a `local_mode tune` run (its folder `run`): the search as one run, each trial a child run of it; the run's
    id."""
    from tracking import TRIAL, TUNING
    from tracking.executions import objective_metric
    from tracking.reports import report_values
    from tracking.runs import RunRecord, log_run

    key = f"tuning:{contract_name}/{run.name}"
    metadata = run / SPLITS_DIR / paths.METADATA_OUTPUT / paths.METADATA_FILE
    files = {path.name: path for path in (run / TRIALS_FILE, run / BEST_FILE, metadata) if path.is_file()}
    objective = objective_metric(f"{FINAL_PREFIX}{metric}")
    rows, params, tags = (
        report_values(paths.METADATA_FILE, json.loads(metadata.read_text())) if metadata.is_file() else ({}, {}, {})
    )
    record = RunRecord(
        key=key,
        kind=TUNING,
        name=f"tuning {run.name}",
        status="FAILED" if failed else "FINISHED",
        params={**params, "seed": str(seed), "trials": str(len(trials))},
        metrics={**rows, objective: best.value},
        tags={**tags, "best_trial": str(best.number + 1), "tuning_folder": str(run)},
        artifacts=files,
        children=tuple(
            RunRecord(
                key=f"{key}/trial-{trial.number + 1}",
                kind=TRIAL,
                name=f"trial {trial.number + 1}",
                params={name: str(value) for name, value in trial.hyperparameters.items()},
                metrics={objective: trial.value},
            )
            for trial in trials
        ),
    )
    client, artifact_root = tracking_client(home)
    return log_run(client, tuning_experiment(contract_name), record, artifact_root=artifact_root)
