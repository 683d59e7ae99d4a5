"""SageMaker Clarify's tabular bias metrics, with Clarify's names and definitions, for a binary label.

The definitions are those of the developer guide's pre- and post-training metric pages, as AWS's open-source
library behind Clarify (smclarify) computes them; tests/ml_code/test_bias_oracle.py holds every metric to that
library on real data. A facet splits the rows in two: facet d, the group the contract names (its values, or above
its threshold), and facet a, everyone else. Pre-training metrics compare the labels of the two groups;
post-training metrics compare the model's predicted labels (and how right they are) between them. A rate that
divides by zero is infinite, as in Clarify, and two infinite rates differ by zero.

Two metrics need more than labels: CDDL and CDDPL average the disparity within the groups of a `group_variable`,
and FT (the flip test) compares the model's labels for facet d with those of their nearest neighbours in facet a,
so it needs the records' features. Without them these metrics are unavailable, and the report says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_code.contracts.contract import POST_TRAINING_METRICS, PRE_TRAINING_METRICS, ContractError, Facet
from ml_code.transform.features import as_category_text, coerce_numeric

DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "KL": "Kullback-Liebler Divergence (KL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "CDDL": "Conditional Demographic Disparity in Labels (CDDL)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DI": "Disparate Impact (DI)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "AD": "Accuracy Difference (AD)",
    "CDDPL": "Conditional Demographic Disparity in Predicted Labels (CDDPL)",
    "TE": "Treatment Equality (TE)",
    "FT": "Flip Test (FT)",
    "GE": "Generalized Entropy (GE)",
}
# The flip test's nearest neighbours: five, or one when facet a has fewer than ten rows (Clarify's settings)
FLIP_TEST_NEIGHBOURS, FLIP_TEST_FEW_NEIGHBOURS, FLIP_TEST_FEW_ROWS = 5, 1, 9
GENERALIZED_ENTROPY_ALPHA = 2
DISTANCE_CHUNK_ROWS = 1024  # facet d rows whose distances to facet a are held at once (the flip test)


class MetricUnavailable(ValueError):
    """A metric cannot be computed from what the analysis has (no group variable, no features)."""


@dataclass(frozen=True)
class BiasData:
    """What the metrics of one facet read, row-aligned: the label (true: positive), facet d's rows, and where the
    analysis has them, the predicted label, the group variable's values and the model's features."""

    label: np.ndarray
    group: np.ndarray
    predicted: np.ndarray | None = None
    group_variable: np.ndarray | None = None
    features: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.group.any() or self.group.all():
            side = "no row" if not self.group.any() else "every row"
            raise ContractError(f"the facet's group holds {side} of the data: there is nothing to compare it with")


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
    """Which rows are in facet d: above the facet's threshold, or a value among its values. Values compare as
    numbers where the facet's values and the column's are all numbers (`1` matches `1.0`), else as text."""
    if facet.threshold is not None:
        return np.nan_to_num(_numbers(values, facet.column), nan=-np.inf) > facet.threshold
    if all(_is_number(value) for value in facet.values):
        numbers = _numbers(values, facet.column)
        if not np.isnan(numbers[values.notna().to_numpy()]).any():
            return np.isin(numbers, np.array(facet.values, dtype=float))
    texts = as_category_text(values)
    return texts.isin([str(as_category_text(pd.Series([value])).iloc[0]) for value in facet.values]).to_numpy()


def group_name(values: pd.Series, facet: Facet) -> str:
    """Facet d as Clarify's report names it (`value_or_threshold`): its values, or the interval above the threshold."""
    if facet.threshold is None:
        return ",".join(str(value) for value in facet.values)
    return f"({float(facet.threshold)}, {float(np.nanmax(_numbers(values, facet.column)))}]"


def _numbers(values: pd.Series, column: str) -> np.ndarray:
    return coerce_numeric(values, column, report=False).to_numpy(dtype=float)


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


# Pre-training: the labels of facet d against facet a's.


def class_imbalance(data: BiasData) -> float:
    n_d, n_a = int(data.group.sum()), int((~data.group).sum())
    return (n_a - n_d) / (n_a + n_d)


def positive_proportion_difference(data: BiasData) -> float:
    return _positive_share(data.label, ~data.group) - _positive_share(data.label, data.group)


def kl_divergence(data: BiasData) -> float:
    p_a, p_d = _label_distributions(data)
    return float(np.sum(p_a * np.log(p_a / p_d)))


def js_divergence(data: BiasData) -> float:
    p_a, p_d = _label_distributions(data)
    middle = (p_a + p_d) / 2
    return float(0.5 * (np.sum(p_a * np.log(p_a / middle)) + np.sum(p_d * np.log(p_d / middle))))


def lp_norm(data: BiasData, order: float = 2) -> float:
    p_a, p_d = _label_distributions(data)
    return float(np.linalg.norm(p_a - p_d, order))


def total_variation_distance(data: BiasData) -> float:
    return 0.5 * lp_norm(data, 1)


def kolmogorov_smirnov(data: BiasData) -> float:
    return lp_norm(data, np.inf)


def conditional_label_disparity(data: BiasData) -> float:
    return _conditional_disparity(data, data.label)


# Post-training: the model's predicted labels, and how right they are, for facet d against facet a.


def predicted_proportion_difference(data: BiasData) -> float:
    predicted = _predicted(data)
    return _positive_share(predicted, ~data.group) - _positive_share(predicted, data.group)


def disparate_impact(data: BiasData) -> float:
    predicted = _predicted(data)
    return _divide(_positive_share(predicted, data.group), _positive_share(predicted, ~data.group))


def conditional_acceptance_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(a.tp + a.fn, a.tp + a.fp), _divide(d.tp + d.fn, d.tp + d.fp))


def conditional_rejection_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(d.tn + d.fp, d.tn + d.fn), _divide(a.tn + a.fp, a.tn + a.fn))


def recall_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(a.tp, a.tp + a.fn), _divide(d.tp, d.tp + d.fn))


def specificity_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(d.tn, d.tn + d.fp), _divide(a.tn, a.tn + a.fp))


def acceptance_rate_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(a.tp, a.tp + a.fp), _divide(d.tp, d.tp + d.fp))


def rejection_rate_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(d.tn, d.tn + d.fn), _divide(a.tn, a.tn + a.fn))


def accuracy_difference(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(a.tp + a.tn, a.n), _divide(d.tp + d.tn, d.n))


def conditional_prediction_disparity(data: BiasData) -> float:
    return _conditional_disparity(data, _predicted(data))


def treatment_equality(data: BiasData) -> float:
    a, d = _confusion(data)
    return _difference(_divide(d.fn, d.fp), _divide(a.fn, a.fp))


def flip_test(data: BiasData) -> float:
    """Facet d's predicted labels against the labels its rows would get as facet a (a majority vote of their five
    nearest neighbours among facet a's rows, by Euclidean distance over the features): (positive where the vote is
    negative - negative where the vote is positive) / n_d, Clarify's sign."""
    predicted = _predicted(data)
    if data.features is None:
        raise MetricUnavailable("FT needs the records' features; the analysis has none")
    features = np.asarray(data.features, dtype=float)
    if np.isnan(features).any():
        raise MetricUnavailable("FT needs features without missing values")
    neighbours_of, votes = features[~data.group], predicted[~data.group]
    k = FLIP_TEST_NEIGHBOURS if len(neighbours_of) > FLIP_TEST_FEW_ROWS else FLIP_TEST_FEW_NEIGHBOURS
    own = predicted[data.group]
    as_if_a = _nearest_vote(neighbours_of, votes, features[data.group], k)
    flips = int(np.sum(own & ~as_if_a)) - int(np.sum(~own & as_if_a))
    return flips / len(own)


def generalized_entropy(data: BiasData) -> float:
    """GE with alpha 2 over each record's benefit (predicted - label + 1): half the squared coefficient of variation."""
    benefit = _predicted(data).astype(float) - data.label.astype(float) + 1
    mean = benefit.mean()
    if mean == 0:
        raise MetricUnavailable("GE is undefined when every prediction is a false negative")
    alpha = GENERALIZED_ENTROPY_ALPHA
    return float(((benefit / mean) ** alpha - 1).sum() / (len(benefit) * alpha * (alpha - 1)))


METRICS: dict[str, Callable[[BiasData], float]] = {
    "CI": class_imbalance,
    "DPL": positive_proportion_difference,
    "KL": kl_divergence,
    "JS": js_divergence,
    "LP": lp_norm,
    "TVD": total_variation_distance,
    "KS": kolmogorov_smirnov,
    "CDDL": conditional_label_disparity,
    "DPPL": predicted_proportion_difference,
    "DI": disparate_impact,
    "DCA": conditional_acceptance_difference,
    "DCR": conditional_rejection_difference,
    "RD": recall_difference,
    "SD": specificity_difference,
    "DAR": acceptance_rate_difference,
    "DRR": rejection_rate_difference,
    "AD": accuracy_difference,
    "CDDPL": conditional_prediction_disparity,
    "TE": treatment_equality,
    "FT": flip_test,
    "GE": generalized_entropy,
}
assert set(METRICS) == {*PRE_TRAINING_METRICS, *POST_TRAINING_METRICS} == set(DESCRIPTIONS)


def compute(names: tuple[str, ...] | list[str], data: BiasData) -> dict[str, float | MetricUnavailable]:
    """Each named metric's value, or why it is unavailable."""
    found: dict[str, float | MetricUnavailable] = {}
    for name in names:
        try:
            found[name] = float(METRICS[name](data))
        except MetricUnavailable as reason:
            found[name] = reason
    return found


def pre_training(label: np.ndarray, group: np.ndarray, *, group_variable=None) -> dict:
    """Every pre-training metric of the labels between facet d (`group`) and facet a."""
    return compute(PRE_TRAINING_METRICS, BiasData(label, group, group_variable=_array(group_variable)))


def post_training(label: np.ndarray, predicted: np.ndarray, group: np.ndarray, *, group_variable=None, features=None):
    """Every post-training metric of the predicted labels between facet d (`group`) and facet a."""
    data = BiasData(label, group, predicted=predicted, group_variable=_array(group_variable), features=features)
    return compute(POST_TRAINING_METRICS, data)


def _array(values) -> np.ndarray | None:
    return None if values is None else np.asarray(values)


def _predicted(data: BiasData) -> np.ndarray:
    if data.predicted is None:
        raise MetricUnavailable("post-training metrics need the model's predicted labels")
    return data.predicted


def _positive_share(label: np.ndarray, rows: np.ndarray) -> float:
    return int(np.sum(label & rows)) / int(rows.sum())


def _confusion(data: BiasData) -> tuple[Counts, Counts]:
    predicted = _predicted(data)
    group = data.group
    return Counts.of(data.label[~group], predicted[~group]), Counts.of(data.label[group], predicted[group])


def _label_distributions(data: BiasData) -> tuple[np.ndarray, np.ndarray]:
    """Each group's (negative, positive) label shares, over the label values both groups have (as Clarify aligns
    them)."""
    shares = []
    for rows in (~data.group, data.group):
        positive, total = int(np.sum(data.label & rows)), int(rows.sum())
        shares.append(np.array([(total - positive) / total, positive / total]))
    p_a, p_d = shares
    both = (p_a > 0) & (p_d > 0)
    return p_a[both], p_d[both]


def _conditional_disparity(data: BiasData, outcome: np.ndarray) -> float:
    """CDD: per group of the group variable, facet d's share of the rejected minus its share of the accepted,
    averaged with the groups' sizes as weights."""
    if data.group_variable is None:
        raise MetricUnavailable("conditional demographic disparity needs a group_variable")
    if not outcome.any() or outcome.all():
        raise MetricUnavailable(f"every {'outcome is negative' if not outcome.any() else 'outcome is positive'}")
    groups, codes = np.unique(data.group_variable, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(groups)).astype(float)
    disparities = np.empty(len(groups))
    for index in range(len(groups)):
        rows = codes == index
        accepted, rejected = rows & outcome, rows & ~outcome
        share_accepted = _share(accepted & data.group, accepted)
        share_rejected = _share(rejected & data.group, rejected)
        disparities[index] = share_rejected - share_accepted
    return _divide(float(np.sum(sizes * disparities)), float(np.sum(sizes)))


def _share(part: np.ndarray, whole: np.ndarray) -> float:
    total = int(whole.sum())
    return int(part.sum()) / total if total else 0.0


def _nearest_vote(points: np.ndarray, votes: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The majority label among each query's `k` nearest points (Euclidean; a tie in distance goes to the earlier
    point). Distances are ranked as |p|^2 - 2 q.p (the query's own norm ranks nothing), a chunk of queries at a
    time, so that memory stays bounded."""
    answers = np.empty(len(queries), dtype=bool)
    norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, len(queries), DISTANCE_CHUNK_ROWS):
        chunk = queries[start : start + DISTANCE_CHUNK_ROWS]
        distances = norms[None, :] - 2 * (chunk @ points.T)
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        answers[start : start + len(chunk)] = votes[nearest].sum(axis=1) * 2 > k
    return answers


def _divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return 0.0 if numerator == 0 else float(np.copysign(np.inf, numerator))
    return numerator / denominator


def _difference(first: float, second: float) -> float:
    return 0.0 if first == second == np.inf else float(first - second)
