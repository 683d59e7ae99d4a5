"""Validates pipeline step arguments against the SageMaker API's input shapes (botocore's service model).

Pipeline expressions (`{"Get": ...}`, `{"Std:Join": ...}`, `{"Std:JsonGet": ...}`) stand where the API wants
a value; they are replaced by a value of the type the shape asks for, then botocore's own validator runs.
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.validate import ParamValidator

EXPRESSIONS = ("Get", "Std:Join", "Std:JsonGet")
_STAND_INS = {"string": "x", "integer": 1, "long": 1, "boolean": True, "float": 1.0, "double": 1.0}
_MODEL = botocore.session.get_session().get_service_model("sagemaker")


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSIONS


def concrete(value: Any, shape: Shape) -> Any:
    """`value` with every pipeline expression replaced by a stand-in of the shape's type."""
    if is_expression(value):
        if shape.type_name not in _STAND_INS:
            raise TypeError(f"a pipeline expression stands for a {shape.type_name} ({shape.name})")
        return _STAND_INS[shape.type_name]
    if shape.type_name == "structure" and isinstance(value, dict):
        return {
            key: concrete(item, shape.members[key]) if key in shape.members else item for key, item in value.items()
        }
    if shape.type_name == "list" and isinstance(value, list):
        return [concrete(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: concrete(item, shape.value) for key, item in value.items()}
    return value


def validation_errors(operation: str, arguments: dict) -> str:
    """botocore's report for `arguments` as the input of `operation` ('' when valid)."""
    shape = _MODEL.operation_model(operation).input_shape
    report = ParamValidator().validate(concrete(arguments, shape), shape)
    return report.generate_report() if report.has_errors() else ""
