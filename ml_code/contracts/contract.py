"""Dataset contracts: one JSON file per dataset says everything the code needs to know about it.

Read by the Glue ETL, preprocessing, the pipeline definition and local mode; validated before any work
starts. The report keys the quality gate reads are defined here too (REPORT_METRICS), once.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent

PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")

# The metrics evaluate.py writes for each problem type, and whether higher is better.
# The quality gate reads `<problem_type>_metrics.<metric>.value` from evaluation.json.
REPORT_METRICS: dict[str, dict[str, bool]] = {
    "binary_classification": {
        "auc": True,
        "accuracy": True,
        "precision": True,
        "recall": True,
        "f1": True,
        "log_loss": False,
    },
    "multiclass_classification": {"accuracy": True, "weighted_f1": True},
    "regression": {"mse": False, "rmse": False, "mae": False, "r2": True},
}

# The values each reported metric can take: a gate threshold outside them is a typo, not a policy.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("auc", "accuracy", "precision", "recall", "f1", "weighted_f1"), (0.0, 1.0)),
    **dict.fromkeys(("log_loss", "mse", "rmse", "mae"), (0.0, math.inf)),
    "r2": (-math.inf, 1.0),
}

_KEYS = {
    "name",
    "problem_type",
    "target",
    "positive_label",
    "negative_label",
    "id_columns",
    "pii",
    "categorical",
    "numeric",
    "datetime_age",
    "drop",
    "pass_through",
    "newest_per_id",
    "split",
    "metric",
    "fairness",
}
SPLIT_KEYS = ("column", "time_column")
_CONTRACT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_NAME_LENGTH = 40
_REQUIRED = {"name", "problem_type", "target", "metric"}


class ContractError(ValueError):
    """The contract is malformed, or the data does not match it."""


# Clarify's bias metrics the gate can hold a model to (ml_code/fairness/bias.py computes them): measured on the
# training data before training, or on the model's predictions for the test split after it.
# Every tabular metric of Clarify's developer guide (its pre- and post-training metric pages).
PRE_TRAINING_METRICS = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL")
POST_TRAINING_METRICS = ("DPPL", "DI", "DCA", "DCR", "RD", "SD", "DAR", "DRR", "AD", "CDDPL", "TE", "FT", "GE")
# The sections of Clarify's analysis.json that hold them, by stage.
PRE_TRAINING_SECTION, POST_TRAINING_SECTION = "pre_training_bias_metrics", "post_training_bias_metrics"
BIAS_SECTIONS = {PRE_TRAINING_SECTION: PRE_TRAINING_METRICS, POST_TRAINING_SECTION: POST_TRAINING_METRICS}
_FACET_KEYS = {"column", "values", "threshold"}


@dataclass(frozen=True)
class Facet:
    """A sensitive column and the group it singles out: rows whose value is one of `values`, or (a numeric
    facet) above `threshold`. Clarify calls that group facet d and compares it with everyone else (facet a)."""

    column: str
    values: tuple[Any, ...] = ()
    threshold: float | None = None


@dataclass(frozen=True)
class Fairness:
    """Who the model must be fair to (the facets) and the gate's limits, metric -> [low, high]."""

    facets: tuple[Facet, ...]
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    # the column whose groups CDDL and CDDPL average the disparity within (none: those two are not computed)
    group_variable: str | None = None


@dataclass(frozen=True)
class Metric:
    """The metric the quality gate checks, and its threshold."""

    name: str
    threshold: float
    higher_is_better: bool


@dataclass(frozen=True)
class DatasetContract:
    """A validated dataset contract (ARCHITECTURE.md section 5)."""

    name: str
    problem_type: str
    target: str
    metric: Metric
    positive_label: Any = None
    # binary: how the endpoint names a prediction below 0.5 (default: the data's own other label, learned in training)
    negative_label: Any = None
    id_columns: tuple[str, ...] = ()
    pii_drop: tuple[str, ...] = ()
    pii_hash: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    datetime_age: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    pass_through: tuple[str, ...] = ()
    newest_per_id: str | None = None  # keep, per id, only the record with the largest value of this column
    # How the data is split (default: seeded and stratified): by a column whose values say train/validation/test,
    # or out of time by a time column (the oldest rows train, the newest test).
    split_column: str | None = None
    time_column: str | None = None
    fairness: Fairness | None = None

    @property
    def facet_columns(self) -> tuple[str, ...]:
        """The fairness facets' columns (none without a `fairness` section)."""
        return tuple(facet.column for facet in self.fairness.facets) if self.fairness else ()

    @property
    def bias_columns(self) -> tuple[str, ...]:
        """The columns the bias analysis reads besides the label: the facets and the group variable."""
        group_variable = self.fairness.group_variable if self.fairness else None
        return (*self.facet_columns, *([group_variable] if group_variable else []))

    @property
    def measured_only(self) -> tuple[str, ...]:
        """Bias columns that are measured but never trained on (listed in pass_through, not as features)."""
        return tuple(column for column in self.bias_columns if column in self.pass_through)

    @property
    def removed_columns(self) -> tuple[str, ...]:
        """Columns that never become features: ids, PII, the drop list and pass-through columns."""
        return tuple(dict.fromkeys((*self.id_columns, *self.pii_drop, *self.pii_hash, *self.drop, *self.pass_through)))

    @property
    def curated_columns(self) -> tuple[str, ...]:
        """What the ETL lets out of the raw bucket, in the curated CSV's column order: the target, ids, features,
        dates and pass-through columns. Everything else (PII to drop, the drop list, any field the contract does
        not name) stays behind. Needs the numeric features listed: "every other column" is no allowlist."""
        if not self.numeric:
            raise ContractError(
                f"contract {self.name!r} lists no numeric features: the ETL lets only declared columns out of the "
                "raw bucket, so name them in `numeric`"
            )
        return tuple(
            dict.fromkeys(
                (
                    self.target,
                    *self.id_columns,
                    *self.pii_hash,
                    *self.categorical,
                    *self.numeric,
                    *self.datetime_age,
                    *self.pass_through,
                )
            )
        )

    @property
    def declared_columns(self) -> tuple[str, ...]:
        """Every column the contract names, target included."""
        return (self.target, *self.removed_columns, *self.categorical, *self.numeric, *self.datetime_age)

    def numeric_features(self, columns: Iterable[str]) -> tuple[str, ...]:
        """The numeric columns: as listed, or every column of `columns` not named elsewhere."""
        if self.numeric:
            return self.numeric
        named = set(self.declared_columns)
        return tuple(column for column in columns if column not in named)

    def feature_columns(self, columns: Iterable[str]) -> tuple[str, ...]:
        """The raw input columns a model is fed (in the order of `columns`): no target, ids, PII or drops."""
        columns = list(columns)
        numeric = set(self.numeric_features(columns))
        wanted = numeric | set(self.categorical) | set(self.datetime_age)
        return tuple(column for column in columns if column in wanted)

    def required_columns(self, columns: Iterable[str]) -> tuple[str, ...]:
        """The columns the data must have: the target, every listed feature and the fairness facets."""
        features = (*self.categorical, *self.datetime_age, *self.numeric_features(columns))
        return (self.target, *features, *self.measured_only)

    def check_columns(self, columns: Iterable[str]) -> None:
        """Fail with the names of the contract's columns that the data lacks."""
        columns = list(columns)
        present = set(columns)
        missing = [column for column in self.required_columns(columns) if column not in present]
        if missing:
            # the data's own column names are not repeated: without a header row they would be a record's values
            known = len(present & set(self.declared_columns))
            hint = " (is its header row missing?)" if not known else ""
            raise ContractError(
                f"the data does not match contract {self.name!r}: missing column(s) {missing}; the data has "
                f"{len(columns)} column(s), {known} of them named in the contract{hint}"
            )

    def is_positive(self, value: Any) -> bool:
        """Whether a raw target value is the positive class (compared as text: `yes`, `True.`, `1`)."""
        return _as_label(value) == _as_label(self.positive_label)

    @property
    def report_metric_path(self) -> str:
        """The JSON path of the gate's metric in evaluation.json, e.g. `regression_metrics.rmse.value`."""
        return f"{self.problem_type}_metrics.{self.metric.name}.value"

    def passes(self, value: float) -> bool:
        """The gate's decision for a metric value: at least (or at most) the threshold."""
        if self.metric.higher_is_better:
            return value >= self.metric.threshold
        return value <= self.metric.threshold


def contract_path(source: str | Path) -> Path:
    """The file of a contract given by path or by the name of a shipped contract (`customer-churn`)."""
    path = Path(source)
    if not path.suffix and not path.exists():
        path = CONTRACTS_DIR / f"{source}.json"
    if not path.is_file():
        shipped = sorted(p.stem for p in CONTRACTS_DIR.glob("*.json"))
        raise ContractError(f"no contract at {str(path)!r}; shipped contracts: {shipped}")
    return path


def load_contract(source: str | Path) -> DatasetContract:
    """Load and validate a contract, from a path or the name of a shipped contract (`customer-churn`)."""
    path = contract_path(source)
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ContractError(f"contract {path}: not valid JSON: {error}") from error
    return parse_contract(raw, where=str(path))


def parse_contract(raw: Any, *, where: str = "contract") -> DatasetContract:
    """Validate a contract's JSON object; every error names the key and what to do."""
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ContractError(f"{where}: unknown key(s) {unknown}; allowed keys: {sorted(_KEYS)}")
    missing = sorted(_REQUIRED - set(raw))
    if missing:
        raise ContractError(f"{where}: missing key(s) {missing}")

    problem_type = raw["problem_type"]
    if problem_type not in PROBLEM_TYPES:
        raise ContractError(
            f"{where}: problem_type {problem_type!r} is not supported; use one of {list(PROBLEM_TYPES)}"
        )
    target = _text(raw["target"], "target", where)

    pii = raw.get("pii", {})
    if not isinstance(pii, dict) or set(pii) - {"drop", "hash"}:
        raise ContractError(f"{where}: pii must be an object with optional keys 'drop' and 'hash', got {pii!r}")
    datetime_age = raw.get("datetime_age", {})
    if not isinstance(datetime_age, dict) or not all(isinstance(v, str) and v for v in datetime_age.values()):
        raise ContractError(f"{where}: datetime_age must map date columns to feature names, got {datetime_age!r}")

    roles = {
        "id_columns": _names(raw.get("id_columns", []), "id_columns", where),
        "pii.drop": _names(pii.get("drop", []), "pii.drop", where),
        "pii.hash": _names(pii.get("hash", []), "pii.hash", where),
        "categorical": _names(raw.get("categorical", []), "categorical", where),
        "numeric": _names(raw.get("numeric", []), "numeric", where),
        "datetime_age": tuple(datetime_age),
        "drop": _names(raw.get("drop", []), "drop", where),
        "pass_through": _names(raw.get("pass_through", []), "pass_through", where),
    }
    _check_each_column_has_one_role(target, roles, where)

    newest_per_id = raw.get("newest_per_id")
    if newest_per_id is not None:
        kept = {*roles["pass_through"], *roles["datetime_age"], *roles["numeric"], *roles["categorical"]}
        if not isinstance(newest_per_id, str) or newest_per_id not in kept:
            raise ContractError(
                f"{where}: newest_per_id must name a column the curated data keeps (a pass_through, date, numeric "
                f"or categorical column) whose largest value marks a record as newest, got {newest_per_id!r}"
            )
        if not roles["id_columns"]:
            raise ContractError(f"{where}: newest_per_id needs id_columns: the newest record of which id?")

    split_column, time_column = _split(raw.get("split"), roles, where)
    fairness = _fairness(raw.get("fairness"), problem_type, roles, where)

    positive_label = raw.get("positive_label")
    if problem_type == "binary_classification":
        if positive_label is None or isinstance(positive_label, (dict, list)):
            raise ContractError(f'{where}: a binary_classification contract needs positive_label (e.g. "yes")')
    elif positive_label is not None:
        raise ContractError(f"{where}: positive_label is only for binary_classification, not {problem_type}")
    negative_label = raw.get("negative_label")
    if negative_label is not None:
        if problem_type != "binary_classification":
            raise ContractError(f"{where}: negative_label is only for binary_classification, not {problem_type}")
        if isinstance(negative_label, (dict, list)) or _as_label(negative_label) == _as_label(positive_label):
            raise ContractError(
                f"{where}: negative_label {negative_label!r} must be one value other than positive_label "
                f"{positive_label!r}"
            )

    return DatasetContract(
        name=_contract_name(raw["name"], where),
        problem_type=problem_type,
        target=target,
        metric=_metric(raw["metric"], problem_type, where),
        positive_label=positive_label,
        negative_label=negative_label,
        id_columns=roles["id_columns"],
        pii_drop=roles["pii.drop"],
        pii_hash=roles["pii.hash"],
        categorical=roles["categorical"],
        numeric=roles["numeric"],
        datetime_age=dict(datetime_age),
        drop=roles["drop"],
        pass_through=roles["pass_through"],
        newest_per_id=newest_per_id,
        split_column=split_column,
        time_column=time_column,
        fairness=fairness,
    )


def _fairness(raw: Any, problem_type: str, roles: dict[str, tuple[str, ...]], where: str) -> Fairness | None:
    """The optional `fairness` section: facets (each a column with the values, or the threshold, of its group)
    and limits (metric -> [low, high]). A facet is measured on the curated data, so it must be a column the ETL
    keeps: a feature, or `pass_through` to measure it without training on it. PII and dropped columns never
    reach the curated data, so they cannot be facets."""
    if raw is None:
        return None
    if problem_type != "binary_classification":
        raise ContractError(
            f"{where}: fairness needs a binary_classification contract (Clarify's bias metrics compare the share of "
            f"positive outcomes between groups), not {problem_type}"
        )
    if not isinstance(raw, dict) or set(raw) - {"facets", "limits", "group_variable"} or "facets" not in raw:
        raise ContractError(
            f'{where}: fairness must be {{"facets": [{{"column": ..., "values": [...]}}], "limits": {{"DPPL": '
            f'[-0.1, 0.1], ...}}, "group_variable": "<column>" (optional)}}, got {raw!r}'
        )
    if not isinstance(raw["facets"], list) or not raw["facets"]:
        raise ContractError(f"{where}: fairness.facets must be a non-empty list of facets, got {raw['facets']!r}")
    facets = tuple(_facet(item, roles, where) for item in raw["facets"])
    columns = [facet.column for facet in facets]
    if len(set(columns)) != len(columns):
        raise ContractError(f"{where}: fairness.facets names a column twice: {columns}")
    group_variable = raw.get("group_variable")
    if group_variable is not None:
        _measured_role(group_variable, roles, where, "fairness.group_variable")
        if group_variable in columns:
            raise ContractError(
                f"{where}: fairness.group_variable {group_variable!r} is also a facet; name another column"
            )
    limits = _limits(raw.get("limits", {}), where)
    return Fairness(facets=facets, limits=limits, group_variable=group_variable)


def _measured_role(column: Any, roles: dict[str, tuple[str, ...]], where: str, what: str) -> str:
    """The contract role of a column the bias analysis measures: one the curated data keeps (a feature, or
    pass_through to measure it without training on it)."""
    if not isinstance(column, str) or not column:
        raise ContractError(f"{where}: {what} column must be a column name, got {column!r}")
    # PII first: an id that is also hashed PII is PII
    role = next((role for role in ("pii.drop", "pii.hash", *roles) if column in roles[role]), None)
    if role in ("pii.drop", "pii.hash"):
        raise ContractError(
            f"{where}: {what} {column!r} is PII ({role}): the ETL drops or hashes it, so there is nothing to "
            "measure; a sensitive attribute to measure goes in pass_through"
        )
    if role in ("drop", "id_columns", "datetime_age"):
        raise ContractError(
            f"{where}: {what} {column!r} is listed in {role}, so it never reaches the data the facets are "
            "measured on; list it in pass_through (measured, not trained on) or among the features"
        )
    if role is None:
        raise ContractError(
            f"{where}: {what} {column!r} is not a column of the contract: list it in pass_through to "
            "measure it without training on it, or in categorical/numeric to train on it too"
        )
    return role


def _facet(raw: Any, roles: dict[str, tuple[str, ...]], where: str) -> Facet:
    if not isinstance(raw, dict) or set(raw) - _FACET_KEYS or "column" not in raw or len(raw) != 2:
        raise ContractError(
            f'{where}: a fairness facet is {{"column": ..., "values": [...]}} or {{"column": ..., "threshold": n}}, '
            f"got {raw!r}"
        )
    column = raw["column"]
    role = _measured_role(column, roles, where, "fairness facet")
    if "threshold" in raw:
        threshold = raw["threshold"]
        if role == "categorical" or not _is_number(threshold):
            raise ContractError(
                f"{where}: fairness facet {column!r}: a threshold (a number) needs a numeric column, got "
                f"{threshold!r} on a {role} column"
            )
        return Facet(column=column, threshold=float(threshold))
    values = raw["values"]
    if not isinstance(values, list) or not values or not all(isinstance(v, (str, int, float)) for v in values):
        raise ContractError(
            f"{where}: fairness facet {column!r}: values must be a non-empty list of the group's values, got {values!r}"
        )
    return Facet(column=column, values=tuple(values))


def _limits(raw: Any, where: str) -> dict[str, tuple[float, float]]:
    known = (*PRE_TRAINING_METRICS, *POST_TRAINING_METRICS)
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: fairness.limits must map metric names to [low, high], got {raw!r}")
    limits = {}
    for name, bounds in raw.items():
        if name not in known:
            raise ContractError(f"{where}: fairness.limits: {name!r} is not a bias metric the gate checks; use {known}")
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(map(_is_number, bounds))
            or bounds[0] > bounds[1]
        ):
            raise ContractError(
                f"{where}: fairness.limits.{name} must be [low, high] with low <= high (e.g. [-0.1, 0.1]), got "
                f"{bounds!r}"
            )
        limits[name] = (float(bounds[0]), float(bounds[1]))
    return limits


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _split(raw: Any, roles: dict[str, tuple[str, ...]], where: str) -> tuple[str | None, str | None]:
    """(split column, time column) from the optional `split` object: at most one of them. The column must be one
    the curated data keeps: `pass_through` (it is then no feature) or a feature the contract lists."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or len(raw) != 1 or set(raw) - set(SPLIT_KEYS):
        raise ContractError(
            f"{where}: split must be an object with one key, 'column' (a column whose values are train, validation "
            f"or test) or 'time_column' (the newest rows test), got {raw!r}"
        )
    ((key, column),) = raw.items()
    kept = {*roles["pass_through"], *roles["datetime_age"], *roles["numeric"], *roles["categorical"]}
    if not isinstance(column, str) or column not in kept:
        raise ContractError(
            f"{where}: split.{key} {column!r} must name a column the curated data keeps: list it in pass_through "
            "(it is then no feature) or among the features"
        )
    return (column, None) if key == "column" else (None, column)


def _check_each_column_has_one_role(target: str, roles: dict[str, tuple[str, ...]], where: str) -> None:
    seen = {target: "target"}
    for role, columns in roles.items():
        for column in columns:
            if role == "pii.hash" and seen.get(column) == "id_columns":
                continue  # an id is often personal data too: it keeps its role and is stored hashed
            if column in seen:
                raise ContractError(
                    f"{where}: column {column!r} is listed twice, in {seen[column]} and in {role}; give it one role"
                )
            seen[column] = role


def _metric(raw: Any, problem_type: str, where: str) -> Metric:
    if not isinstance(raw, dict) or set(raw) != {"name", "threshold"}:
        raise ContractError(f'{where}: metric must be {{"name": ..., "threshold": ...}}, got {raw!r}')
    known = REPORT_METRICS[problem_type]
    if raw["name"] not in known:
        raise ContractError(
            f"{where}: metric {raw['name']!r} is not reported for {problem_type}; use one of {sorted(known)}"
        )
    threshold = raw["threshold"]
    if not _is_number(threshold):
        raise ContractError(f"{where}: metric.threshold must be a number, got {threshold!r}")
    low, high = METRIC_RANGES[raw["name"]]
    if not low <= threshold <= high:
        raise ContractError(f"{where}: metric.threshold {threshold!r} is outside {raw['name']}'s range [{low}, {high}]")
    return Metric(name=raw["name"], threshold=float(threshold), higher_is_better=known[raw["name"]])


def _names(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ContractError(f"{where}: {key} must be a list of column names, got {value!r}")
    if len(set(value)) != len(value):
        raise ContractError(f"{where}: {key} lists a column twice: {value!r}")
    return tuple(value)


def _contract_name(value: Any, where: str) -> str:
    name = _text(value, "name", where)
    if len(name) > MAX_NAME_LENGTH or not _CONTRACT_NAME.match(name):
        raise ContractError(
            f"{where}: name {name!r} must be at most {MAX_NAME_LENGTH} lowercase letters and digits, joined by single "
            "hyphens: it names S3 prefixes, files and the model package group"
        )
    return name


def _text(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ContractError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _as_label(value: Any) -> str:
    """Labels compare as text; a float that is a whole number reads as that integer (1.0 -> '1')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
