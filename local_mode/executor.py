"""Runs a SageMaker pipeline definition on this machine: the very JSON `build_definition` makes.

Steps run in dependency order (the references between them, and DependsOn), those whose inputs are ready at the
same time in parallel, as SageMaker runs them, and each as SageMaker would run it:
Processing steps as processing jobs, Training as a script-mode training job (jobs.py),
Condition, Fail and RegisterModel by the executor itself (RegisterModel into the local registry). Every value
is resolved from the definition's own expressions (expressions.py), so a broken wire fails here, naming the
step, exactly as it would fail on AWS. Step caching follows SageMaker's cache keys (the attributes it
compares per step type); locally the content of the inputs is part of the key too, since reading local
files is cheap and a changed file must not reuse stale outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from local_mode.expressions import ExpressionError, Scope, resolve, step_references
from local_mode.jobs import JobFailed, JobRunner
from local_mode.local_s3 import LocalS3
from local_mode.records import DamagedRecord, read_json
from local_mode.registry import ModelPackage, Registry
from ml_code.runtime import atomic_write_text

PARALLEL_STEPS = 4  # steps running at once at most (SageMaker starts every ready step)
SUPPORTED_STEPS = ("Processing", "Training", "Condition", "Fail", "RegisterModel")
# The arguments SageMaker compares to decide whether a step's earlier run can be reused (its cache key).
CACHE_KEY_ARGUMENTS = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
}
EXECUTIONS_DIR, CACHE_DIR, RECORD_FILE = "executions", "cache", "execution.json"
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


class StepError(RuntimeError):
    """A step failed or could not run; the message starts with the step's name."""


@dataclass
class StepRecord:
    name: str
    type: str
    status: str = "NotRun"  # Succeeded | Failed | NotRun
    seconds: float = 0.0
    cached_from: str | None = None
    failure_reason: str | None = None
    conditions: list[dict] = field(default_factory=list)  # Condition steps: each test with its values


@dataclass
class ExecutionResult:
    execution_id: str
    pipeline_name: str
    status: str  # Succeeded | Failed
    steps: list[StepRecord]
    parameters: dict[str, Any]
    failure_reason: str | None = None
    gate_failed: bool = False  # a Fail step ended the run
    registered: ModelPackage | None = None
    property_files: dict[str, dict] = field(default_factory=dict)

    def step(self, name: str) -> StepRecord:
        return next(record for record in self.steps if record.name == name)

    @property
    def arn(self) -> str:
        return execution_arn(self.pipeline_name, self.execution_id)


def execution_arn(pipeline_name: str, execution_id: str) -> str:
    """A local execution's ARN, shaped as SageMaker's (`...:pipeline/<name>/execution/<id>`)."""
    return f"arn:aws:sagemaker:local:000000000000:pipeline/{pipeline_name}/execution/{execution_id}"


@dataclass(frozen=True)
class _Node:
    name: str
    body: dict
    needs: frozenset[str]
    branch_of: tuple[str, bool] | None = None  # (condition step, taken when the condition is true)


class PipelineExecutor:
    """Executes one pipeline definition against a local home (buckets, registry, cache, job folders)."""

    def __init__(
        self,
        definition: dict,
        *,
        pipeline_name: str,
        home: Path,
        python: str,
        log: Callable[[str], None] = print,
    ) -> None:
        self.definition = definition
        self.pipeline_name = pipeline_name
        self.home = Path(home).resolve()  # jobs run in other working directories
        self.s3 = LocalS3(self.home)
        self.registry = Registry(self.home)
        self.jobs = JobRunner(self.home, python)
        self._log, self._log_lock = log, threading.Lock()  # steps report from the threads they run in
        self.nodes = step_graph(definition.get("Steps", []))

    def log_line(self, line: str) -> None:
        with self._log_lock:
            self._log(line)

    def start(self, overrides: dict[str, Any] | None = None, *, hyperparameters: dict[str, str] | None = None):
        """Run the pipeline to its end; returns what happened (never raises for a step's failure)."""
        parameters = self._parameters(overrides or {})
        execution_id = datetime.now(timezone.utc).strftime("%Y%m%dt%H%M%S") + "-" + secrets.token_hex(3)
        started = datetime.now(timezone.utc)
        scope = Scope(
            parameters=parameters,
            execution={
                "PipelineExecutionId": execution_id,
                "PipelineName": self.pipeline_name,
                "PipelineExecutionArn": execution_arn(self.pipeline_name, execution_id),
                "StartDateTime": started.isoformat(),
                "CurrentDateTime": started.isoformat(),
            },
        )
        self._create_groups()
        records = {node.name: StepRecord(node.name, node.body["Type"]) for node in self.nodes}
        result = ExecutionResult(execution_id, self.pipeline_name, "Succeeded", list(records.values()), parameters)
        hps = hyperparameters or {}
        self._save(result, status="Executing")  # the retrain guard sees a running execution
        self.log_line(f"pipeline {self.pipeline_name}: execution {execution_id}")
        # As SageMaker does, every step whose inputs are ready runs at once (jobs are processes of their own);
        # after a failure (or a Fail step) no step starts, and the ones running finish.
        pending, finished, skipped = list(self.nodes), set(), set()
        with ThreadPoolExecutor(max_workers=PARALLEL_STEPS) as pool:
            running: dict = {}
            while pending or running:
                for node in list(pending) if result.status == "Succeeded" and not result.gate_failed else []:
                    if not node.needs <= finished:
                        continue
                    pending.remove(node)
                    if node.branch_of and _branch_not_taken(node.branch_of, records) or node.needs & skipped:
                        skipped.add(node.name)
                        finished.add(node.name)
                    else:
                        running[pool.submit(self._attempt, node, records[node.name], scope, result, hps)] = node
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    node = running.pop(future)
                    reason = future.result()
                    if reason is None:
                        finished.add(node.name)
                    elif result.status == "Succeeded":  # the first failure is the execution's
                        result.status, result.failure_reason = "Failed", reason
        result.property_files = scope.property_files
        self._save(result)
        return result

    def _attempt(self, node: _Node, record: StepRecord, scope: Scope, result: ExecutionResult, hps: dict) -> str | None:
        """Run one step; None when it succeeded, else why it failed (recorded on the step)."""
        try:
            self._run(node, record, scope, result, hps)
        except (StepError, JobFailed, ExpressionError, OSError, ValueError, KeyError) as error:
            reason = str(error) if str(error).startswith(node.name) else f"{node.name}: {error}"
            record.status, record.failure_reason = "Failed", reason
            self.log_line(f"  {node.name:<22} FAILED: {reason}")
            return reason
        return None

    def _run(self, node: _Node, record: StepRecord, scope: Scope, result: ExecutionResult, hps: dict) -> None:
        kind, name = node.body["Type"], node.name
        if kind not in SUPPORTED_STEPS:
            raise StepError(f"{name}: step type {kind!r} is not supported locally (supported: {list(SUPPORTED_STEPS)})")
        self.log_line(f"  {name:<22} started")
        clock = time.monotonic()
        scope.execution["CurrentDateTime"] = datetime.now(timezone.utc).isoformat()
        if kind == "Condition":
            outcome = self._condition(node, record, scope)
            record.status = "Succeeded"
            record.seconds = time.monotonic() - clock
            self.log_line(f"  {name:<22} {'true' if outcome else 'false'} in {record.seconds:.1f} s")
            return
        if kind == "Fail":
            message = str(resolve(node.body.get("Arguments", {}).get("ErrorMessage", ""), scope))
            record.status, record.failure_reason = "Failed", message
            result.status, result.failure_reason, result.gate_failed = "Failed", message, True
            self.log_line(f"  {name:<22} {message}")
            return
        arguments = resolve(node.body.get("Arguments", {}), scope)
        if kind == "RegisterModel":
            result.registered = self._register(name, arguments, result.execution_id)
            scope.steps[name] = {
                "ModelPackageArn": result.registered.arn,
                "ModelPackageVersion": result.registered.version,
            }
        else:
            if kind == "Training" and hps:
                arguments["HyperParameters"] = {**arguments.get("HyperParameters", {}), **hps}
            properties, files, cached_from = self._job(node, arguments, scope, result.execution_id)
            scope.steps[name], scope.property_files[name] = properties, files
            record.cached_from = cached_from
        record.status = "Succeeded"
        record.seconds = time.monotonic() - clock
        how = f"cached (from execution {record.cached_from})" if record.cached_from else "succeeded"
        self.log_line(f"  {name:<22} {how} in {record.seconds:.1f} s")

    def _job(self, node: _Node, arguments: dict, scope: Scope, execution_id: str) -> tuple[dict, dict, str | None]:
        kind, name = node.body["Type"], node.name
        cache = node.body.get("CacheConfig", {})
        key = self._cache_key(node, arguments) if cache.get("Enabled") else None
        if key:
            hit = self._cache_lookup(name, key, cache.get("ExpireAfter"))
            if hit:
                return hit["properties"], hit["property_files"], hit["execution"]
        root = self.home / EXECUTIONS_DIR / execution_id / name
        job_name = f"pipelines-{execution_id}-{name}"
        try:
            if kind == "Training":
                properties = self.jobs.training(root, job_name, arguments)
            else:
                properties = self.jobs.processing(root, job_name, arguments)
        except JobFailed as error:
            raise StepError(f"{name}: {error}") from error
        files = self._property_files(node, properties)
        if key:
            self._cache_store(name, key, {"execution": execution_id, "properties": properties, "property_files": files})
        return properties, files, None

    def _property_files(self, node: _Node, properties: dict) -> dict:
        files = {}
        outputs = {
            output["OutputName"]: output["S3Output"]["S3Uri"]
            for output in properties.get("ProcessingOutputConfig", {}).get("Outputs", [])
        }
        for spec in node.body.get("PropertyFiles", []):
            if spec["OutputName"] not in outputs:
                raise StepError(
                    f"{node.name}: property file {spec['PropertyFileName']} reads output {spec['OutputName']!r}, "
                    f"which the step does not have (outputs: {sorted(outputs)})"
                )
            path = self.s3.path(outputs[spec["OutputName"]].rstrip("/") + "/" + spec["FilePath"])
            if not path.is_file():
                name = spec["PropertyFileName"]
                raise StepError(f"{node.name}: property file {name}: no {spec['FilePath']} at {path}")
            try:
                files[spec["PropertyFileName"]] = json.loads(path.read_text())
            except ValueError as error:
                raise StepError(f"{node.name}: property file {spec['FilePath']} is not JSON: {error}") from error
        return files

    def _condition(self, node: _Node, record: StepRecord, scope: Scope) -> bool:
        outcome = True
        for condition in node.body["Arguments"]["Conditions"]:
            value = _evaluate(condition, scope, node.name)
            record.conditions.append(
                {
                    "type": condition["Type"],
                    "left": resolve(condition.get("LeftValue"), scope),
                    "right": resolve(condition.get("RightValue"), scope),
                    "outcome": value,
                }
            )
            outcome = outcome and value
        record.conditions.append({"type": "All", "outcome": outcome})
        return outcome

    def _register(self, name: str, arguments: dict, execution_id: str) -> ModelPackage:
        for where, uri in _s3_uris(arguments):
            if not self.s3.path(uri).exists():
                raise StepError(f"{name}: {where} names nothing: {uri}")
        package = self.registry.register(
            arguments["ModelPackageGroupName"],
            status=arguments.get("ModelApprovalStatus", "PendingManualApproval"),
            description=arguments.get("ModelPackageDescription", ""),
            inference_specification=arguments["InferenceSpecification"],
            model_metrics=arguments.get("ModelMetrics", {}),
            drift_check_baselines=arguments.get("DriftCheckBaselines", {}),
            customer_metadata=arguments.get("CustomerMetadataProperties", {}),
            pipeline_execution=execution_id,
            sample_payload_url=arguments.get("SamplePayloadUrl"),
        )
        return package

    def _parameters(self, overrides: dict[str, Any]) -> dict[str, Any]:
        declared = {parameter["Name"]: parameter for parameter in self.definition.get("Parameters", [])}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise ValueError(f"the pipeline has no parameter(s) {unknown} (it has: {sorted(declared)})")
        values = {}
        for name, parameter in declared.items():
            if name not in overrides and "DefaultValue" not in parameter:
                raise ValueError(f"parameter {name} has no default: give it a value")
            value = overrides.get(name, parameter.get("DefaultValue"))
            cast = {"Integer": int, "Float": float, "String": str, "Boolean": _boolean}[parameter["Type"]]
            try:
                values[name] = cast(value)
            except (TypeError, ValueError) as error:
                raise ValueError(f"parameter {name} is {parameter['Type']}: {value!r} is not one") from error
        return values

    def _create_groups(self) -> None:
        """The model package groups the definition registers into, as the stack creates them at deploy."""
        for node in self.nodes:
            if node.body["Type"] == "RegisterModel":
                self.registry.create_group(node.body["Arguments"]["ModelPackageGroupName"])

    def _cache_key(self, node: _Node, arguments: dict) -> str:
        kind = node.body["Type"]
        compared = {name: arguments.get(name) for name in CACHE_KEY_ARGUMENTS[kind]}
        # Beyond SageMaker's key: what the step's properties are made of (output names and container
        # paths, property files), so that a cached run never answers for a step whose wiring has changed.
        outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])
        compared["outputs"] = [(output["OutputName"], output["S3Output"]["LocalPath"]) for output in outputs]
        compared["property_files"] = node.body.get("PropertyFiles", [])
        digest = hashlib.sha256(json.dumps([kind, compared], sort_keys=True).encode())
        for _, uri in sorted(_s3_uris(compared)):
            _hash_tree(digest, self.s3.path(uri))
        return digest.hexdigest()

    def _cache_file(self, name: str, key: str) -> Path:
        return self.home / CACHE_DIR / self.pipeline_name / name / f"{key}.json"

    def _cache_lookup(self, name: str, key: str, expire_after: str | None) -> dict | None:
        """The entry of an earlier run with the same key, if it is whole, not expired and its outputs are still
        what that run wrote (else the step runs again, and its entry is written anew)."""
        path = self._cache_file(name, key)
        if not path.is_file():
            return None
        try:
            entry = read_json(path)
            stored = datetime.fromisoformat(entry["stored"])
            properties, files, execution, outputs_sha256 = (
                entry["properties"],
                entry["property_files"],
                entry["execution"],
                entry["outputs_sha256"],
            )
        except DamagedRecord as error:
            self.log_line(f"  {name:<22} cache entry {error}: running the step again")
            return None
        except (KeyError, TypeError, ValueError) as error:
            self.log_line(f"  {name:<22} cache entry {path} is damaged ({error!r}): running the step again")
            return None
        if expire_after and datetime.now(timezone.utc) - stored > _duration(expire_after):
            return None
        if not all(self.s3.path(uri).exists() for uri in _output_uris(properties)):
            return None  # the cached outputs were deleted: run again
        if self._outputs_sha256(properties) != outputs_sha256:
            self.log_line(
                f"  {name:<22} the outputs of execution {execution} changed since they were cached: "
                "running the step again"
            )
            return None
        return {"properties": properties, "property_files": files, "execution": execution}

    def _outputs_sha256(self, properties: dict) -> str:
        """A digest of every file the step wrote (what it read is in its cache key already)."""
        digest = hashlib.sha256()
        for uri in _output_uris(properties):
            digest.update(uri.encode())
            _hash_tree(digest, self.s3.path(uri))
        return digest.hexdigest()

    def _cache_store(self, name: str, key: str, entry: dict) -> None:
        stored = {
            **entry,
            "outputs_sha256": self._outputs_sha256(entry["properties"]),
            "stored": datetime.now(timezone.utc).isoformat(),
        }
        atomic_write_text(self._cache_file(name, key), json.dumps(stored, sort_keys=True))

    def _save(self, result: ExecutionResult, *, status: str | None = None) -> None:
        folder = self.home / EXECUTIONS_DIR / result.execution_id
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "execution_id": result.execution_id,
            "pipeline_name": result.pipeline_name,
            "status": status or result.status,
            "pid": os.getpid(),
            "process_started": process_started(os.getpid()),
            "failure_reason": result.failure_reason,
            "parameters": result.parameters,
            "steps": [asdict(step) for step in result.steps],
            "registered": result.registered.arn if result.registered else None,
        }
        atomic_write_text(folder / RECORD_FILE, json.dumps(record, indent=2, sort_keys=True, default=str))


def process_started(pid: int) -> str | None:
    """When the process `pid` started, as the kernel counts it (`/proc/<pid>/stat`, field 22): what tells a process
    from a later one that got its id again. None where there is no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def read_execution(home: Path, execution_id: str) -> dict | None:
    """An execution's record (steps, statuses, gate conditions), as `start` saved it; None if it has none."""
    path = Path(home) / EXECUTIONS_DIR / execution_id / RECORD_FILE
    return read_json(path) if path.is_file() else None


def step_graph(steps: list[dict]) -> list[_Node]:
    """Every step (branches of conditions included) in an order that respects what each one reads."""
    nodes: list[_Node] = []

    def add(step: dict, branch_of: tuple[str, bool] | None) -> None:
        if "Name" not in step or "Type" not in step:
            raise StepError(f"a step of the definition has no Name or Type: {sorted(step)}")
        body = {key: value for key, value in step.items() if key != "Arguments"}
        arguments = step.get("Arguments", {})
        if step["Type"] == "Condition":
            arguments = {key: value for key, value in arguments.items() if key not in ("IfSteps", "ElseSteps")}
        needs = step_references(arguments) | step_references(body) | set(step.get("DependsOn", []))
        if branch_of:
            needs.add(branch_of[0])
        nodes.append(_Node(step["Name"], step, frozenset(needs), branch_of))
        if step["Type"] == "Condition":
            for child in step.get("Arguments", {}).get("IfSteps", []):
                add(child, (step["Name"], True))
            for child in step.get("Arguments", {}).get("ElseSteps", []):
                add(child, (step["Name"], False))

    for step in steps:
        add(step, None)
    names = [node.name for node in nodes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise StepError(f"step names must be unique; repeated: {duplicates}")
    for node in nodes:
        unknown = sorted(node.needs - set(names))
        if unknown:
            raise StepError(f"{node.name}: reads from step(s) {unknown}, which the definition does not have")
    ordered: list[_Node] = []
    placed: set[str] = set()
    pending = list(nodes)
    while pending:
        ready = next((node for node in pending if node.needs <= placed), None)
        if ready is None:
            raise StepError(f"the steps {[node.name for node in pending]} depend on each other in a cycle")
        ordered.append(ready)
        placed.add(ready.name)
        pending.remove(ready)
    return ordered


def _branch_not_taken(branch_of: tuple[str, bool], records: dict[str, StepRecord]) -> bool:
    condition, when = branch_of
    outcome = next((c["outcome"] for c in records[condition].conditions if c["type"] == "All"), None)
    return outcome is not when


def _evaluate(condition: dict, scope: Scope, step: str) -> bool:
    kind = condition.get("Type")
    if kind == "Not":
        return not _evaluate(condition["Expression"], scope, step)
    if kind == "Or":
        return any(_evaluate(inner, scope, step) for inner in condition["Conditions"])
    if kind == "In":
        return resolve(condition["QueryValue"], scope) in resolve(condition["Values"], scope)
    left, right = resolve(condition.get("LeftValue"), scope), resolve(condition.get("RightValue"), scope)
    comparisons = {
        "Equals": lambda: left == right,
        "GreaterThan": lambda: float(left) > float(right),
        "GreaterThanOrEqualTo": lambda: float(left) >= float(right),
        "LessThan": lambda: float(left) < float(right),
        "LessThanOrEqualTo": lambda: float(left) <= float(right),
    }
    if kind not in comparisons:
        raise StepError(f"{step}: condition type {kind!r} is not supported locally")
    return comparisons[kind]()


def _s3_uris(value: Any, where: str = "") -> list[tuple[str, str]]:
    """(where, uri) of every S3 URI in a resolved argument tree."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _s3_uris(item, f"{where}.{key}".lstrip("."))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _s3_uris(item, f"{where}[{index}]")]
    if (
        isinstance(value, str)
        and (value.startswith("s3://") or value.startswith("/"))
        and where.endswith(("S3Uri", "ModelDataUrl", "S3ModelArtifacts"))
    ):
        return [(where, value)]
    return []


def _output_uris(properties: dict) -> list[str]:
    """Where a job's properties say it wrote: its processing outputs, or its model artifacts."""
    written = ("ProcessingOutputConfig", "ModelArtifacts")
    return sorted(uri for where, uri in _s3_uris(properties) if where.startswith(written))


def _hash_tree(digest, path: Path) -> None:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise ValueError(f"ExpireAfter {text!r} is not an ISO 8601 duration such as P30D")
    years, months, weeks, days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=years * 365 + months * 30 + weeks * 7 + days, hours=hours, minutes=minutes, seconds=seconds)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ValueError(value)
