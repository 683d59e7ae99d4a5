"""The expression language of a SageMaker pipeline definition, evaluated locally.

`Get` (parameters, execution variables, step properties, property files), `Std:Join` and `Std:JsonGet`.
Anything else that looks like a function (a one-key object whose key has a `Std:` prefix) is an error that
names it; a reference to a property a step did not produce is an error that names the step and the path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
_TOKEN = re.compile(r"\.?([A-Za-z0-9_:]+)|\['([^']*)'\]|\[(\d+)\]")
# How a list of named things (outputs, channels, metrics) is indexed by name: `Outputs['train']`.
_NAME_KEYS = ("OutputName", "InputName", "ChannelName", "MetricName", "PropertyFileName", "Name")


class ExpressionError(ValueError):
    """A reference or function the executor cannot resolve; the message names what and where."""


@dataclass
class Scope:
    """What expressions can refer to while a pipeline runs."""

    parameters: dict[str, Any]
    execution: dict[str, Any]
    steps: dict[str, dict] = field(default_factory=dict)  # step name -> its properties (the Describe* shape)
    property_files: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> file name -> JSON

    def get(self, reference: str) -> Any:
        kind, _, rest = reference.partition(".")
        if kind == "Parameters":
            if rest not in self.parameters:
                raise ExpressionError(f"{reference}: the pipeline has no parameter {rest!r}")
            return self.parameters[rest]
        if kind == "Execution":
            if rest not in self.execution:
                raise ExpressionError(f"{reference}: unknown execution variable (known: {sorted(self.execution)})")
            return self.execution[rest]
        if kind == "Steps":
            step, _, path = rest.partition(".")
            if step not in self.steps:
                raise ExpressionError(f"{reference}: step {step!r} has not run (or does not exist)")
            if path.startswith("PropertyFiles."):
                name = path.removeprefix("PropertyFiles.")
                files = self.property_files.get(step, {})
                if name not in files:
                    raise ExpressionError(f"{reference}: step {step!r} has no property file {name!r}")
                return files[name]
            return follow(self.steps[step], path, where=f"{reference} (step {step})")
        raise ExpressionError(f"{reference}: unknown reference kind {kind!r}")


def tokens(path: str) -> Iterator[str | int]:
    position = 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise ExpressionError(f"cannot parse the property path {path!r} at {path[position:]!r}")
        name, key, index = match.groups()
        yield int(index) if index is not None else (name if name is not None else key)
        position = match.end()


def follow(node: Any, path: str, *, where: str) -> Any:
    """Walk a property path (`Outputs['train'].S3Output.S3Uri`, `a.b[0]`) through dicts and lists."""
    for token in tokens(path):
        if isinstance(node, dict) and isinstance(token, str) and token in node:
            node = node[token]
        elif isinstance(node, list) and isinstance(token, int) and token < len(node):
            node = node[token]
        elif isinstance(node, list) and isinstance(token, str):
            named = [item for item in node if isinstance(item, dict) and token in _names(item)]
            if not named:
                known = sorted({name for item in node if isinstance(item, dict) for name in _names(item)})
                raise ExpressionError(f"{where}: no {token!r} (there are: {known})")
            node = named[0]
        else:
            known = sorted(node) if isinstance(node, dict) else type(node).__name__
            raise ExpressionError(f"{where}: no {token!r} (there are: {known})")
    return node


def _names(item: dict) -> set:
    return {item[key] for key in _NAME_KEYS if isinstance(item.get(key), str)}


def resolve(value: Any, scope: Scope) -> Any:
    """The value with every expression in it evaluated."""
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Get":
            return scope.get(argument)
        if key == "Std:Join":
            return str(argument["On"]).join(_text(resolve(item, scope)) for item in argument["Values"])
        if key == "Std:JsonGet":
            document = resolve(argument["PropertyFile"], scope)
            return follow(document, argument["Path"], where=f"Std:JsonGet {argument['Path']!r}")
        if key.startswith("Std:"):
            raise ExpressionError(f"function {key} is not supported locally (supported: {list(FUNCTIONS)})")
    return {key: resolve(item, scope) for key, item in value.items()}


def _text(value: Any) -> str:
    """How Std:Join prints a value: JSON's spelling for booleans, Python's for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def step_references(value: Any) -> set[str]:
    """The names of the steps an expression (or a step's whole body) reads from."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= step_references(item)
    elif isinstance(value, dict):
        reference = value.get("Get") if len(value) == 1 else None
        if isinstance(reference, str) and reference.startswith("Steps."):
            found.add(reference.split(".")[1])
        else:
            for item in value.values():
                found |= step_references(item)
    return found
