"""train.py's hyperparameters, their defaults and types: standard library only, so that local mode checks what a
data scientist asks for before any step runs, and train.py reads its flags from the same fields."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields

from ml_code.settings import DEFAULT_SEED


@dataclass(frozen=True)
class Hyperparameters:
    """The defaults are a strong plain XGBoost: small steps, as many rounds as validation keeps improving
    (bench/defaults.py compares them with it on three datasets)."""

    max_depth: int = 5
    eta: float = 0.05
    num_round: int = 2000
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0  # XGBoost's `lambda` (L2), at its default
    reg_alpha: float = 0.0  # XGBoost's `alpha` (L1), at its default
    early_stopping_rounds: int = 50
    seed: int = DEFAULT_SEED


def check_hyperparameters(values: Mapping[str, str]) -> dict[str, str]:
    """`values` (name -> text, as flags carry them) when every name is a hyperparameter and every value reads as its
    type; else a ValueError naming each mistake, the closest names and every valid one."""
    types = {field.name: field.type for field in fields(Hyperparameters)}
    problems = []
    for name, value in values.items():
        if name not in types:
            close = difflib.get_close_matches(name, types, n=1)
            problems.append(f"{name!r} is not a hyperparameter" + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        try:
            {"int": int, "float": float}[types[name]](value)
        except ValueError:
            problems.append(f"{name}={value!r} is not {'an integer' if types[name] == 'int' else 'a number'}")
    if problems:
        raise ValueError(f"{'; '.join(problems)}; the hyperparameters are {', '.join(types)}")
    return dict(values)
