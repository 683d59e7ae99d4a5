"""The SageMaker API model that ml_code's registry clients load (ml_code/aws_models/): the operations ml_code
calls and the shapes they reach, from this environment's (locked) botocore, without their documentation.

The container's botocore (1.20.52) predates fields those calls read (DescribeModelPackage's DriftCheckBaselines,
CustomerMetadataProperties) and drops them from the answer; botocore looks in a client's data path before its own
models, so the registry clients find this one first.

    .venv-ml/bin/python -m tests.ml_code.sagemaker_api   # rewrite it after the lock moves botocore
"""

from __future__ import annotations

import json
import sys

import botocore.loaders

from ml_code.model_registry import API_MODELS

OPERATIONS = (
    "DescribeEndpoint",
    "DescribeEndpointConfig",
    "DescribeModel",
    "DescribeModelPackage",
    "ListModelPackages",
)
MODEL_FILE = API_MODELS / "sagemaker" / "2017-07-24" / "service-2.json"


def trimmed() -> dict:
    model = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")
    operations = {name: _undocumented(model["operations"][name]) for name in OPERATIONS}
    wanted, pending = (
        set(),
        [
            reference["shape"]
            for operation in operations.values()
            for reference in (operation.get("input"), operation.get("output"), *operation.get("errors", []))
            if reference
        ],
    )
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        shape = model["shapes"][name]
        references = [*shape.get("members", {}).values(), shape.get("member"), shape.get("key"), shape.get("value")]
        pending += [reference["shape"] for reference in references if reference]
    return {
        "version": model["version"],
        "metadata": model["metadata"],
        "operations": operations,
        "shapes": {name: _undocumented(model["shapes"][name]) for name in sorted(wanted)},
    }


def _undocumented(value):
    if isinstance(value, dict):
        return {key: _undocumented(item) for key, item in value.items() if key != "documentation"}
    if isinstance(value, list):
        return [_undocumented(item) for item in value]
    return value


def text() -> str:
    return json.dumps(trimmed(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    MODEL_FILE.write_text(text())
    sys.stdout.write(f"wrote {MODEL_FILE}\n")
