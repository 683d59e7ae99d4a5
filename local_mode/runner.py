"""`local_mode run`: the platform's pipeline definition, executed on this machine into the local registry.

The definition is the one the stack deploys (built for the run's contract, or read from an exported file);
the code package is built as the stack builds it; the data (a CSV file or a folder such as the ETL's
curated output) becomes the InputDataUri parameter. Exit codes: 0 registered, 3 gate failed, 1 error.
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Callable
from pathlib import Path

from local_mode.deployment import code_objects, deploy, substitute
from local_mode.executor import ExecutionResult, PipelineExecutor
from local_mode.experiments import log_local_execution, model_build_reports, tracked
from local_mode.jobs import ROOT, default_python
from ml_code import settings
from ml_code.contracts.contract import DatasetContract, contract_path, load_contract
from ml_code.evaluation.champion import metric_at
from tracking import MODEL_BUILD

EXIT_REGISTERED, EXIT_ERROR, EXIT_GATE_FAILED = 0, 1, 3
STAGED_INPUT_DIR = "input"


def exit_code(result: ExecutionResult) -> int:
    if result.status == "Succeeded":
        return EXIT_REGISTERED
    return EXIT_GATE_FAILED if result.gate_failed else EXIT_ERROR


def stage_input(data: Path, home: Path, columns: list[str] | None) -> str:
    """The InputDataUri for `data`: a folder read in place (its `*.csv` files, in every subfolder), a CSV file named
    `*.csv` read in place, a file with another name read through a link named `<name>.csv` (the steps read the
    `*.csv` files of their input), or a header-less CSV file copied with `columns` as its header."""
    if not data.exists():
        raise FileNotFoundError(f"no data file or folder at {data}")
    if data.is_dir():
        if columns:
            raise ValueError("--columns is for a single header-less CSV file, not a folder")
        if not any(path.suffix == ".csv" for path in data.rglob("*.csv")):
            raise FileNotFoundError(f"no CSV file under {data}")
        return str(data.resolve())
    if not columns:
        if data.suffix == ".csv":
            return str(data.resolve())
        link = home.resolve() / STAGED_INPUT_DIR / f"{data.name}.csv"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(data.resolve())
        return str(link)
    with data.open(newline="") as source:
        first = next(csv.reader(source), [])
    if len(first) != len(columns):  # say the counts only: the line may hold personal data
        raise ValueError(
            f"--columns names {len(columns)} columns, but the first line of {data} has {len(first)} fields"
        )
    staged = home.resolve() / STAGED_INPUT_DIR / (data.stem + ".csv")
    staged.parent.mkdir(parents=True, exist_ok=True)
    with staged.open("w") as out, data.open() as source:
        out.write(",".join(_csv_field(column) for column in columns) + "\n")
        for line in source:
            out.write(line)
    return str(staged)


def _csv_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n') else name


def git_commit() -> str:
    """The commit of this checkout (`-dirty` when it has changes), recorded on the package; `unknown` outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}-dirty" if changes else head


def run_pipeline(
    contract_source: str | Path,
    data: Path,
    home: Path,
    *,
    python: str | None = None,
    seed: int = settings.DEFAULT_SEED,
    columns: list[str] | None = None,
    hyperparameters: dict[str, str] | None = None,
    definition: tuple[str, dict] | None = None,
    parameters: dict | None = None,
    log: Callable[[str], None] = print,
) -> ExecutionResult:
    """Deploy locally (code objects, group) and run one execution of the pipeline on `data`."""
    contract = load_contract(contract_source)
    if definition is None:
        from local_mode.definition import build_local_definition

        definition = build_local_definition(contract)
    pipeline_name, body = definition
    built_for = _contracts_of(body)
    if built_for != {contract.name}:
        raise ValueError(
            f"the definition runs contract(s) {sorted(built_for)}, not {contract.name!r}: export it for that"
        )
    executor = deployed_executor(contract_source, (pipeline_name, body), home, python=python, log=log)
    values = {"InputDataUri": stage_input(data, home, columns), "Seed": seed, "GitCommit": git_commit()}
    result = executor.start({**values, **(parameters or {})}, hyperparameters=hyperparameters)
    tracked(
        f"execution {result.execution_id}",
        lambda: log_local_execution(home, result.arn, model_build_reports(pipeline_name), MODEL_BUILD),
    )
    return result


def deployed_executor(
    contract_source: str | Path,
    definition: tuple[str, dict],
    home: Path,
    *,
    python: str | None = None,
    log: Callable[[str], None] = print,
) -> PipelineExecutor:
    """Deploy locally (the code objects, with the contract if it is a file) and an executor of `definition`
    (pipeline name, body) with its placeholders filled."""
    contract = load_contract(contract_source)
    placeholders = deploy(home, code_objects(contract_path(contract_source), contract.name))
    pipeline_name, body = definition
    return PipelineExecutor(
        substitute(body, placeholders),
        pipeline_name=pipeline_name,
        home=home,
        python=python or default_python(),
        log=log,
    )


def _contracts_of(definition: dict) -> set[str]:
    """The contract names the definition's steps are given (`--contract <name>`)."""
    found = set()
    for step in definition.get("Steps", []):
        arguments = step.get("Arguments", {}).get("AppSpecification", {}).get("ContainerArguments", [])
        found |= {value for flag, value in zip(arguments, arguments[1:], strict=False) if flag == "--contract"}
    return found


def summary(result: ExecutionResult, contract: DatasetContract, home: Path) -> str:
    """What a data scientist reads after a run: the metrics, the gate's decision and what was registered."""
    lines = [f"execution {result.execution_id}: {result.status}"]
    report = result.property_files.get("Evaluate", {}).get("EvaluationReport")
    if report:
        lines.append("metrics on the test split (value ± bootstrap standard deviation):")
        for name, metric in report[f"{contract.problem_type}_metrics"].items():
            if isinstance(metric, dict) and "value" in metric:
                lines.append(f"  {name:<10} {metric['value']:.4f} ± {metric['standard_deviation']:.4f}")
        value = metric_at(report, contract.report_metric_path)
        comparison = ">=" if contract.metric.higher_is_better else "<="
        threshold = result.parameters.get("GateThreshold", contract.metric.threshold)
        lines.append(f"gate: {contract.metric.name} {value:.4f} {comparison} {threshold}")
    champion = result.property_files.get("CompareWithChampion", {}).get("ChampionDecision")
    if champion:
        lines.append(f"champion: {champion['reason']}")
    fairness = result.property_files.get("FairnessCheck", {}).get("FairnessDecision")
    if fairness:
        lines.append(f"fairness: {fairness['reason']}")
    if result.registered:
        package = result.registered
        lines.append(f"registered: {package.group} version {package.version} ({package.status})")
        lines.append(
            f"approve it: .venv/bin/python -m local_mode registry approve --workdir {home} "
            f"--group {package.group} --version {package.version}"
        )
    elif result.gate_failed:
        lines.append(f"not registered: {result.failure_reason}")
    else:
        lines.append(f"error: {result.failure_reason}")
    return "\n".join(lines)
