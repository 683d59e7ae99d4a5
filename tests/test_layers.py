r"""The layers hold: what each package may import (read from the sources: every import a module runs, at its top or
inside a function; those under `if TYPE_CHECKING:` are for annotations and never run), and no import cycle between
files or between packages.

    infra (the CDK app)       local_mode (this machine)
              \                /          \
        blueprint (config, names,       tracking (MLflow)
        pipeline definitions,                |
        alarm rules, packages)               |
                     \                       |
                          ml_code (the jobs)
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import networkx
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("ml_code", "tracking", "blueprint", "infra", "local_mode")
# What each top-level package may import of the others (itself aside).
MAY_IMPORT = {
    "ml_code": set(),
    "tracking": {"ml_code"},
    "blueprint": {"ml_code", "tracking"},
    "local_mode": {"ml_code", "tracking", "blueprint"},
    "infra": {"ml_code", "tracking", "blueprint"},
}
CDK = ("aws_cdk", "constructs", "cdk_nag")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for top in FIRST_PARTY
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def package_of(module: str) -> str:
    return module if modules()[module].name == "__init__.py" else module.rpartition(".")[0]


class _Imports(ast.NodeVisitor):
    """The names a module imports when it runs: every import statement but those under `if TYPE_CHECKING:`."""

    def __init__(self, package: str) -> None:
        self.package, self.names = package, []

    def visit_If(self, node: ast.If) -> None:  # noqa: N802 (ast's visitor names)
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.orelse:
                self.visit(statement)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        self.names.extend(alias.name for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        base = node.module or ""
        if node.level:
            parent = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            base = ".".join([*parent, base] if base else parent)
        self.names.extend([base, *(f"{base}.{alias.name}" for alias in node.names)])


@functools.cache
def imports(module: str) -> frozenset[str]:
    """Every name `module` imports when it runs."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    visitor = _Imports(package)
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return frozenset(visitor.names)


def resolve(name: str) -> str | None:
    """The first-party module an imported name is (or is in), or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules():
            return ".".join(parts[:end])
    return None


@functools.cache
def graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports."""
    edges = defaultdict(set)
    for module in modules():
        for name in imports(module):
            target = resolve(name)
            if target and target != module:
                edges[module].add(target)
    return edges


def cycles(nodes, edges) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one node (networkx's)."""
    graph = networkx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from((source, target) for source, targets in edges.items() for target in targets)
    return sorted(
        sorted(component) for component in networkx.strongly_connected_components(graph) if len(component) > 1
    )


def test_no_import_cycle_between_files():
    assert cycles(sorted(modules()), graph()) == []


def test_no_import_cycle_between_packages():
    edges = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            source, destination = package_of(module), package_of(target)
            nested = destination.startswith(source + ".") or source.startswith(destination + ".")
            if source != destination and not nested:
                edges[source].add(destination)
    assert cycles(sorted({package_of(m) for m in modules()}), edges) == []


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_no_package_imports_a_layer_above_it(package):
    reached = {
        (module, target)
        for module, targets in graph().items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in {package, *MAY_IMPORT[package]}
    }
    assert reached == set()


def cdk_free(module: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether `module` runs without the CDK: it imports none, nor does any first-party module it imports."""
    if any(name.split(".")[0] in CDK for name in imports(module)):
        return False
    return all(cdk_free(target, seen | {module}) for target in graph().get(module, ()) if target not in seen)


def test_the_blueprint_runs_without_the_cdk():
    """Local mode builds from it on a machine that needs no CDK; the CDK app deploys it."""
    assert [module for module in sorted(modules()) if module.startswith("blueprint") and not cdk_free(module)] == []


def test_the_checks_see_a_cycle_and_an_import_under_type_checking(tmp_path):
    assert cycles(["a", "b", "c"], {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert cycles(["a", "b"], {"a": {"b"}}) == []
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import aws_cdk\nelse:\n    import json\n"
    visitor = _Imports("pkg")
    visitor.visit(ast.parse(source))
    assert visitor.names == ["typing", "typing.TYPE_CHECKING", "json"]
