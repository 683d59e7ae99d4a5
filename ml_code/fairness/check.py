"""The fairness gate: Clarify's bias reports against the contract's limits, one decision the quality gate reads.

`decide` is pure, so the pipeline's FairnessCheck step (on Clarify's reports) and local mode (on the local
analysis, the same format) decide the same way. Every metric out of its limits is named in the reason. Standard
library only: the step starts in a fraction of a second.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml_code.contracts.contract import BIAS_SECTIONS, DatasetContract, load_contract
from ml_code.paths import (
    CLARIFY_ANALYSIS_FILE,
    FAIRNESS_CHECK_INPUTS,
    FAIRNESS_DECISION_FILE,
    FAIRNESS_DECISION_OUTPUT,
)
from ml_code.runtime import atomic_write_text, run_contract_step


@dataclass(frozen=True)
class FairnessDecision:
    passes: bool
    reason: str
    violations: list[str] = field(default_factory=list)


def decide(analyses: list[dict], limits: dict[str, tuple[float, float]]) -> FairnessDecision:
    """Every limited metric of every facet within [low, high]; a metric the reports lack is a failure too."""
    found: dict[str, list[tuple[str, float]]] = {name: [] for name in limits}
    for analysis in analyses:
        for stage in BIAS_SECTIONS:
            for column, groups in analysis.get(stage, {}).get("facets", {}).items():
                for group in groups:
                    for metric in group["metrics"]:
                        if metric["name"] in found:
                            where = f"{column}={group['value_or_threshold']}"
                            value = metric["value"]
                            found[metric["name"]].append((where, math.nan if value is None else float(value)))
    violations = []
    for name, (low, high) in limits.items():
        if not found[name]:
            violations.append(f"{name} is missing from the bias reports")
        for where, value in found[name]:
            if math.isnan(value):
                violations.append(f"{name} for {where} is undefined (a group with no positive outcomes)")
            elif not low <= value <= high:
                violations.append(f"{name} {value:.4g} for {where} is outside [{low:g}, {high:g}]")
    if violations:
        return FairnessDecision(False, "; ".join(violations), violations)
    checked = ", ".join(f"{name} in [{low:g}, {high:g}]" for name, (low, high) in limits.items()) or "no limits"
    return FairnessDecision(True, f"within the limits: {checked}")


def check(base: Path, contract: DatasetContract) -> FairnessDecision:
    analyses = [json.loads((base / folder / CLARIFY_ANALYSIS_FILE).read_text()) for folder in FAIRNESS_CHECK_INPUTS]
    decision = decide(analyses, contract.fairness.limits if contract.fairness else {})
    decision_file = base / FAIRNESS_DECISION_OUTPUT / FAIRNESS_DECISION_FILE
    atomic_write_text(decision_file, json.dumps(asdict(decision), indent=2, sort_keys=True))
    return decision


def main(argv: list[str] | None = None) -> int:
    return run_contract_step(argv, __doc__, lambda contract, base: check(base, load_contract(contract)))


if __name__ == "__main__":
    sys.exit(main())
