"""The hyperparameter search space, declared once in `search_space.json` beside train.py: what SageMaker's tuning
step and `local_mode tune` search alike. Each entry names a flag of train.py (a Hyperparameters field) and its range;
`num_round` is the ceiling early stopping works under. The objective is the contract's metric on the validation
split, which train.py logs as `validation-final-<metric>`. Standard library only: the pipeline definition reads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEARCH_SPACE_FILE = Path(__file__).resolve().parent / "search_space.json"
TYPES = ("integer", "continuous")
SCALINGS = ("linear", "log")
# What a value may be for XGBoost, whatever the range says.
BOUNDS = {
    "max_depth": (1, 32),
    "eta": (0.0, 1.0),
    "min_child_weight": (0.0, math.inf),
    "subsample": (0.0, 1.0),
    "colsample_bytree": (0.0, 1.0),
    "reg_lambda": (0.0, math.inf),
    "reg_alpha": (0.0, math.inf),
    "num_round": (1, 100_000),
}


# Whose floor XGBoost refuses: a step or a share of rows or columns must be above 0.
ABOVE_FLOOR = ("eta", "subsample", "colsample_bytree")


class SearchSpaceError(ValueError):
    """The search space is malformed; the message names the hyperparameter and the fix."""


@dataclass(frozen=True)
class Range:
    """One hyperparameter's range."""

    name: str
    type: str
    min: float
    max: float
    scaling: str = "linear"

    @property
    def is_integer(self) -> bool:
        return self.type == "integer"


def load_search_space(path: Path = SEARCH_SPACE_FILE, *, hyperparameters: tuple[str, ...] | None = None) -> list[Range]:
    """The validated ranges of `path`; `hyperparameters` (default: every name BOUNDS knows) are the flags allowed."""
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SearchSpaceError(f"search space {path}: not valid JSON: {error}") from error
    return parse_search_space(raw, where=str(path), hyperparameters=hyperparameters or tuple(BOUNDS))


def parse_search_space(raw: Any, *, where: str = "search space", hyperparameters: tuple[str, ...]) -> list[Range]:
    """Validate a search space object: every error names the hyperparameter."""
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(f"{where}: expected a non-empty object of hyperparameter ranges")
    ranges = []
    for name, spec in raw.items():
        at = f"{where}: {name}"
        if name not in hyperparameters:
            raise SearchSpaceError(f"{at}: not a hyperparameter of train.py; known: {sorted(hyperparameters)}")
        if (
            not isinstance(spec, dict)
            or set(spec) - {"type", "min", "max", "scaling"}
            or not {"type", "min", "max"} <= set(spec)
        ):
            raise SearchSpaceError(f"{at}: expected {{'type', 'min', 'max'[, 'scaling']}}, got {spec!r}")
        kind, low, high, scaling = spec["type"], spec["min"], spec["max"], spec.get("scaling", "linear")
        if kind not in TYPES:
            raise SearchSpaceError(f"{at}: type {kind!r} is not one of {list(TYPES)}")
        if scaling not in SCALINGS:
            raise SearchSpaceError(f"{at}: scaling {scaling!r} is not one of {list(SCALINGS)}")
        numbers = (int,) if kind == "integer" else (int, float)
        if not all(isinstance(v, numbers) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
            raise SearchSpaceError(
                f"{at}: min and max of an {kind} range must be finite {kind} numbers, got {low!r}, {high!r}"
            )
        if not low < high:
            raise SearchSpaceError(f"{at}: min {low} must be below max {high}")
        if scaling == "log" and low <= 0:
            raise SearchSpaceError(f"{at}: a log-scaled range must start above 0, got min {low}")
        floor, ceiling = BOUNDS.get(name, (-math.inf, math.inf))
        if low < floor or high > ceiling or (name in ABOVE_FLOOR and low <= floor):
            opening = "(" if name in ABOVE_FLOOR else "["
            raise SearchSpaceError(f"{at}: [{low}, {high}] leaves XGBoost's range {opening}{floor}, {ceiling}]")
        ranges.append(Range(name=name, type=kind, min=low, max=high, scaling=scaling))
    return ranges
