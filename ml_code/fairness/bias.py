"""SageMaker Clarify's bias metrics, with Clarify's names and definitions (smclarify), for a binary label.

A facet splits the rows in two: facet d, the group the contract names (its values, or above its threshold),
and facet a, everyone else. Pre-training metrics compare the labels of the two groups; post-training metrics
compare the model's predicted labels (and how right they are) between them. A group's rate that divides by
zero is infinite, as in Clarify, and two infinite rates differ by zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_code.contracts.contract import BIAS_SECTIONS, ContractError, Facet
from ml_code.processing.features import as_category_text, coerce_numeric

DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "AD": "Accuracy Difference (AD)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
}


@dataclass(frozen=True)
class Counts:
    """One group's confusion counts: label (true) against predicted label (hat)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, label: np.ndarray, predicted: np.ndarray) -> Counts:
        return cls(
            tp=int(np.sum(label & predicted)),
            fp=int(np.sum(~label & predicted)),
            fn=int(np.sum(label & ~predicted)),
            tn=int(np.sum(~label & ~predicted)),
        )

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def facet_group(values: pd.Series, facet: Facet) -> np.ndarray:
    """Which rows are in facet d: a value among the facet's values (compared as text), or above its threshold."""
    if facet.threshold is not None:
        numbers = coerce_numeric(values, facet.column, report=False).to_numpy(dtype=float)
        return np.nan_to_num(numbers, nan=-np.inf) > facet.threshold
    texts = as_category_text(values)
    return texts.isin([str(as_category_text(pd.Series([value])).iloc[0]) for value in facet.values]).to_numpy()


def group_name(values: pd.Series, facet: Facet) -> str:
    """Facet d as Clarify's report names it (`value_or_threshold`): its values, or the interval above the threshold."""
    if facet.threshold is None:
        return ",".join(str(value) for value in facet.values)
    highest = coerce_numeric(values, facet.column, report=False).max()
    return f"({float(facet.threshold)}, {float(highest)}]"


def pre_training(label: np.ndarray, group: np.ndarray) -> dict[str, float]:
    """CI, DPL, KL and JS of the labels (booleans: positive) between facet d (`group`) and facet a."""
    _check_groups(group)
    n_d, n_a = int(group.sum()), int((~group).sum())
    q_d, q_a = label[group].mean(), label[~group].mean()
    p_a, p_d = _aligned_nonzero(np.array([1 - q_a, q_a]), np.array([1 - q_d, q_d]))
    middle = (p_a + p_d) / 2
    return {
        "CI": (n_a - n_d) / (n_a + n_d),
        "DPL": float(q_a - q_d),
        "KL": float(np.sum(p_a * np.log(p_a / p_d))),
        "JS": float(0.5 * (np.sum(p_a * np.log(p_a / middle)) + np.sum(p_d * np.log(p_d / middle)))),
    }


def post_training(label: np.ndarray, predicted: np.ndarray, group: np.ndarray) -> dict[str, float]:
    """DPPL, DI, AD, RD, SD, DAR and DRR of the predicted labels between facet d (`group`) and facet a."""
    _check_groups(group)
    a, d = Counts.of(label[~group], predicted[~group]), Counts.of(label[group], predicted[group])
    positive_a, positive_d = (a.tp + a.fp) / a.n, (d.tp + d.fp) / d.n
    return {
        "DPPL": positive_a - positive_d,
        "DI": _divide(positive_d, positive_a),
        "AD": _difference(_divide(a.tp + a.tn, a.n), _divide(d.tp + d.tn, d.n)),
        "RD": _difference(_divide(a.tp, a.tp + a.fn), _divide(d.tp, d.tp + d.fn)),
        "SD": _difference(_divide(d.tn, d.tn + d.fp), _divide(a.tn, a.tn + a.fp)),
        "DAR": _difference(_divide(a.tp, a.tp + a.fp), _divide(d.tp, d.tp + d.fp)),
        "DRR": _difference(_divide(d.tn, d.tn + d.fn), _divide(a.tn, a.tn + a.fn)),
    }


# Each section of Clarify's report: its metrics and what computes them.
STAGES: dict[str, tuple[tuple[str, ...], Callable]] = {
    section: (names, compute)
    for (section, names), compute in zip(BIAS_SECTIONS.items(), (pre_training, post_training), strict=True)
}


def _check_groups(group: np.ndarray) -> None:
    if not group.any() or group.all():
        side = "no row" if not group.any() else "every row"
        raise ContractError(f"the facet's group holds {side} of the data: there is nothing to compare it with")


def _aligned_nonzero(p_a: np.ndarray, p_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The label distributions over the label values both groups have (as Clarify aligns them)."""
    both = (p_a > 0) & (p_d > 0)
    return p_a[both], p_d[both]


def _divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return 0.0 if numerator == 0 else float(np.copysign(np.inf, numerator))
    return numerator / denominator


def _difference(first: float, second: float) -> float:
    return 0.0 if first == second == np.inf else float(first - second)
