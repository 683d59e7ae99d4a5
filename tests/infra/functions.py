"""The Lambda functions' code as Lambda runs it, for the tests that call their handlers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FUNCTIONS = Path(__file__).resolve().parents[2] / "infra" / "functions"


def load_function(name: str) -> ModuleType:
    """`infra/functions/<name>/index.py` as a module, its folder on the path while it loads (as in Lambda, where
    index.py imports the modules beside it)."""
    folder = FUNCTIONS / name
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_function_index", folder / "index.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(folder))
