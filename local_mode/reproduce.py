"""`local_mode reproduce`: would training again give the same model? The package's execution runs again from its
lineage, in a scratch workdir, and every file it writes is compared with the original run's.

The run gets what the original got: the contract, the data (the execution's `InputDataUri`), the seed and the
hyperparameters the model records (`hyperparameters.json` in its archive). Before it runs, the data and the code are
checked against the package's record: the training data's hash (preprocessing's, of the files it reads) and the
checkout's commit. The comparison is by content (SHA-256), the execution id aside; model.tar.gz is deterministic, so
the same model files give the same archive. A step whose inputs differ by design is named for what it is: the
champion comparison reads the registry, which the scratch workdir starts without.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from blueprint.naming import MODEL_BUILD_PREFIX, PREPROCESS_STEP
from local_mode.deployment import BUCKETS
from local_mode.lineage import execution_record
from local_mode.local_s3 import LocalS3
from local_mode.registry import Registry
from local_mode.runner import git_commit, run_pipeline
from ml_code.paths import HYPERPARAMETERS_FILE, METADATA_FILE, METADATA_OUTPUT

REGISTRY_DEPENDENT = ("champion/",)  # outputs that read the registry: they differ in a fresh workdir by design


@dataclass(frozen=True)
class Reproduction:
    package: str
    code: str  # what the checkout's commit says against the package's
    data: str  # what the data's hash says against the package's
    identical: list[str]
    different: list[str]  # files whose bytes differ (or that only one run wrote)

    @property
    def reproduced(self) -> bool:
        return not [path for path in self.different if not path.startswith(REGISTRY_DEPENDENT)]


def reproduce(home: Path, group: str, version: int, *, python: str | None = None) -> Reproduction:
    home = Path(home).resolve()
    package = Registry(home).package(group, version)
    execution = execution_record(home, package.pipeline_execution)
    parameters = execution["parameters"]
    recorded_commit = package.customer_metadata.get("git_commit", "unknown")
    commit = git_commit()
    code = (
        f"the checkout is at {recorded_commit}, as recorded"
        if commit == recorded_commit
        else f"the checkout is at {commit}; the package was built at {recorded_commit}"
    )
    data = Path(parameters["InputDataUri"])
    hyperparameters = _hyperparameters(LocalS3(home).path(package.model_data_url))
    with tempfile.TemporaryDirectory(prefix="reproduce-") as scratch:
        again = run_pipeline(
            package.customer_metadata["contract"],
            data,
            Path(scratch),
            python=python,
            seed=int(parameters["Seed"]),
            hyperparameters=hyperparameters,
            parameters={"GateThreshold": parameters["GateThreshold"]},
            log=lambda _line: None,
        )
        if again.status != "Succeeded" and not again.gate_failed:
            raise RuntimeError(f"running the execution again failed: {again.failure_reason}")
        original = _outputs(home, execution["pipeline_name"], execution["execution_id"])
        repeated = _outputs(Path(scratch), again.pipeline_name, again.execution_id)
        new_hash = json.loads(
            _folder(Path(scratch), again.pipeline_name, again.execution_id)
            .joinpath(PREPROCESS_STEP, METADATA_OUTPUT, METADATA_FILE)
            .read_text()
        )["data_sha256"]
    recorded_hash = package.customer_metadata.get("data_sha256")
    data_check = (
        f"the data's hash is {recorded_hash}, as recorded"
        if new_hash == recorded_hash
        else f"the data changed: its hash is {new_hash}, the package recorded {recorded_hash}"
    )
    names = sorted(set(original) | set(repeated))
    return Reproduction(
        package=f"{group} version {version}",
        code=code,
        data=data_check,
        identical=[name for name in names if original.get(name) == repeated.get(name)],
        different=[name for name in names if original.get(name) != repeated.get(name)],
    )


def _hyperparameters(model_archive: Path) -> dict[str, str]:
    with tarfile.open(model_archive) as archive:
        recorded = json.loads(archive.extractfile(HYPERPARAMETERS_FILE).read())
    return {name: str(value) for name, value in recorded.items()}


def _folder(home: Path, pipeline: str, execution_id: str) -> Path:
    """Where an execution's steps wrote, in the local artifacts bucket."""
    return LocalS3(home).path(f"s3://{BUCKETS['ArtifactsBucket']}/{MODEL_BUILD_PREFIX}/{pipeline}/{execution_id}")


def _outputs(home: Path, pipeline: str, execution_id: str) -> dict[str, str]:
    """Relative path (the execution id as `<execution>`) -> SHA-256, of every file the execution wrote."""
    root = _folder(home, pipeline, execution_id)
    return {
        path.relative_to(root).as_posix().replace(execution_id, "<execution>"): hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def describe(result: Reproduction) -> str:
    lines = [f"{result.package}: {result.code}; {result.data}"]
    total = len(result.identical) + len(result.different)
    if result.reproduced:
        lines.append(f"identical: {len(result.identical)} of the {total} files the execution wrote")
    else:
        lines.append("different:")
        lines += [f"  {name}" for name in result.different]
    lines += [
        f"  (by design: {name} reads the registry)" for name in result.different if name.startswith(REGISTRY_DEPENDENT)
    ]
    return "\n".join(lines)
