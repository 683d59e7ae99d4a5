"""The pipeline definitions of the whole CDK app, built by the SageMaker SDK in a child process while the app
builds its stacks.

Importing the SDK and building the definitions is about 3 s of Python, and the SDK's objects slow down the
process's exit; meanwhile the CDK work of the stacks happens in jsii's node process. A child process of the same
interpreter overlaps the two and keeps the SDK out of the app's process. It returns exactly what
`build_definition`, `build_batch_definition` and `build_monitoring_definition` return in-process, with the region
mapping of image URIs.
A process that has imported the SDK already (a test session, a notebook) builds in-process instead: the import
was most of a build's cost, and there is nothing left to keep out. `start_builder` starts the child before the
app imports the CDK, so that the SDK's import and the CDK's overlap too; the child reads its request when it
comes.

Definitions are a pure function of the request, the sources of blueprint/ and ml_code/ and the SDK's version:
a build's result is kept in build/definitions/ under the digest of all three, and a synth that asks again reads it
and starts no build (a builder started ahead is stopped).

    echo '<request JSON>' | python -m blueprint.pipeline.builds > definitions.json   (what DefinitionBuilds runs)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path

from blueprint.pipeline.settings import BatchScoringSettings, MonitoringSettings, PipelineSettings

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / "build" / "definitions"
# What a definition is built from besides its request: the builders, the contracts, the search space, the paths.
SOURCES = (ROOT / "blueprint", ROOT / "ml_code")
_LOG = logging.getLogger(__name__)
_STARTED: list[subprocess.Popen] = []  # a builder started ahead of its request (start_builder)


def cache_key(request: dict, sources: Iterable[Path] = SOURCES) -> str:
    """The digest of what the definitions of `request` depend on: the request, every file under `sources` (by its
    path and bytes) and the SageMaker SDK's version."""
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode())
    digest.update(metadata.version("sagemaker").encode())
    for root in sources:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"\0{path.relative_to(root.parent)}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def start_builder() -> None:
    """Start the child that will build the definitions now: it imports the SDK while this process goes on, then
    waits for its request (the next DefinitionBuilds that builds in a child sends it). Nothing to start in a process
    that has imported the SDK."""
    if "sagemaker" not in sys.modules and not _STARTED:
        _STARTED.append(_builder())


def _builder() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", __name__],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class DefinitionBuilds:
    """The definitions of `training`, `batch_scoring` and `monitoring` pipelines of contract `contract_name`: those
    an earlier build kept in `cache` (None: none kept, none read), else built. `in_child` (default: unless this
    process has imported the SDK) starts their build at once in a child process, which each accessor waits for;
    else they are built here at the first access. A failed build raises with the build's error."""

    def __init__(
        self,
        contract_name: str,
        *,
        training: Sequence[PipelineSettings] = (),
        batch_scoring: Sequence[BatchScoringSettings] = (),
        monitoring: Sequence[MonitoringSettings] = (),
        in_child: bool | None = None,
        cache: Path | None = CACHE_DIR,
    ) -> None:
        self._training, self._batch_scoring, self._monitoring = list(training), list(batch_scoring), list(monitoring)
        self._request = {
            "contract": contract_name,
            "training": [dataclasses.asdict(settings) for settings in self._training],
            "batch_scoring": [dataclasses.asdict(settings) for settings in self._batch_scoring],
            "monitoring": [dataclasses.asdict(settings) for settings in self._monitoring],
        }
        self._kept = None if cache is None else cache / f"{cache_key(self._request)}.json"
        self._result: dict | None = self._read_kept()
        if in_child is None:
            in_child = "sagemaker" not in sys.modules
        self._process = None
        if self._result is not None:
            while _STARTED:  # nothing to build: a builder started ahead stops
                builder = _STARTED.pop()
                builder.kill()
                builder.wait()
        elif in_child:
            self._process = _STARTED.pop() if _STARTED else _builder()
            # one line, far below a pipe's buffer: the write does not wait for the child (communicate closes stdin)
            self._process.stdin.write(json.dumps(self._request).encode() + b"\n")
            self._process.stdin.flush()

    def training(self, settings: PipelineSettings) -> dict:
        index = self._index(self._training, settings)  # an unrequested definition fails without waiting
        return self._built()["training"][index]

    def batch_scoring(self, settings: BatchScoringSettings) -> dict:
        index = self._index(self._batch_scoring, settings)
        return self._built()["batch_scoring"][index]

    def monitoring(self, settings: MonitoringSettings) -> dict:
        index = self._index(self._monitoring, settings)
        return self._built()["monitoring"][index]

    def images(self) -> dict[str, dict[str, str]]:
        """Region -> {image placeholder -> URI}, for every region that has all the images."""
        return self._built()["images"]

    @staticmethod
    def _index(requested: list, settings) -> int:
        try:
            return requested.index(settings)
        except ValueError:
            raise KeyError(f"no definition was requested for {settings}") from None

    def _built(self) -> dict:
        if self._result is None:
            self._result = self._build_here() if self._process is None else self._childs_answer()
            self._keep(self._result)
        return self._result

    def _read_kept(self) -> dict | None:
        """What an earlier build kept for this request; None when there is none or it cannot be read."""
        try:
            return json.loads(self._kept.read_text()) if self._kept is not None else None
        except (OSError, ValueError):
            return None  # none yet, or damaged: built again and kept anew

    def _keep(self, result: dict) -> None:
        """Keep `result` for the next build of this request: written whole, then renamed (builds run side by side)."""
        if self._kept is None:
            return
        try:
            self._kept.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self._kept.parent, suffix=".tmp", delete=False) as staged:
                json.dump(result, staged)
            os.replace(staged.name, self._kept)
        except OSError as error:  # a read-only checkout: this synth goes on, the next one builds again
            _LOG.warning("pipeline definitions not kept in %s: %s", self._kept.parent, error)

    def _build_here(self) -> dict:
        try:
            return json.loads(json.dumps(build_all(self._request)))  # as the child's answer reads
        except Exception as error:
            raise RuntimeError(f"building the pipeline definitions failed:\n{error}") from error

    def _childs_answer(self) -> dict:
        output, errors = self._process.communicate()
        if self._process.returncode != 0:
            raise RuntimeError(f"building the pipeline definitions failed:\n{errors.decode()[-4000:]}")
        return json.loads(output)


def build_all(request: dict) -> dict:
    """What a build computes, in the child or here (the SDK is imported here only, after the contract has loaded:
    a bad one fails at once)."""
    from ml_code.contracts.contract import load_contract

    contract = load_contract(request["contract"])
    from blueprint.pipeline.batch_definition import build_batch_definition
    from blueprint.pipeline.definition import build_definition, image_mapping
    from blueprint.pipeline.monitoring_definition import build_monitoring_definition

    return {
        "training": [build_definition(PipelineSettings(**s), contract) for s in request["training"]],
        "batch_scoring": [
            build_batch_definition(BatchScoringSettings(**s), contract) for s in request["batch_scoring"]
        ],
        "monitoring": [build_monitoring_definition(MonitoringSettings(**s), contract) for s in request["monitoring"]],
        "images": image_mapping(),
    }


def main() -> int:
    result, sys.stdout = sys.stdout, sys.stderr  # the SDK prints notices to stdout: only the result goes there
    import blueprint.pipeline.batch_definition  # noqa: F401  the SDK's import, before the request comes
    import blueprint.pipeline.definition  # noqa: F401
    import blueprint.pipeline.monitoring_definition  # noqa: F401

    request = sys.stdin.readline()
    if not request:  # the app ended (or failed) before it asked for anything
        return 0
    json.dump(build_all(json.loads(request)), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
