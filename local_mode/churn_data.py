"""A synthetic customer-churn CRM export: raw JSON lines with PII, missing values and a learnable label.

Deterministic for a seed. The label depends on the features through a noisy logistic model, so an honest
model reaches an AUC of about 0.8-0.9, not 1.0. `drift=True` shifts some feature distributions, as live
traffic might, for monitoring. Each customer has a gender (a sensitive attribute the model is not trained on);
`bias` makes churn more likely for women by that much on the log-odds scale, a known bias for the fairness
report to find. It has its own random stream: every other field is the same with or without it.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

DEFAULT_ROWS = 20_000
EXPORT_DATE = date(2026, 6, 30)  # fixed, so that a seed gives the same file on every day
MISSING_RATE = 0.02
OPTIONAL_FIELDS = ("monthly_charges", "data_usage_gb", "call_minutes", "support_calls", "plan", "region")

FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas", "Kofi", "Lena")
LAST_NAMES = ("O'Brien", "Schmidt", "García", "Nakamura", "Okafor", "Dubois", "Kowalski", "Silva", "Novak", "Smith")
PLANS = {"basic": (0.45, 0.55, 35.0), "standard": (0.35, 0.0, 60.0), "premium": (0.20, -0.7, 95.0)}
REGIONS = {"north": 0.0, "south": 0.25, "east": -0.15, "west": 0.1}
PAYMENT_METHODS = {"card": -0.2, "bank_transfer": -0.35, "invoice": 0.45}
FIELDS = (
    "customer_id",
    "name",
    "email",
    "phone",
    "account_created",
    "plan",
    "region",
    "payment_method",
    "monthly_charges",
    "total_charges",
    "data_usage_gb",
    "call_minutes",
    "support_calls",
    "late_payments",
    "gender",
    "export_ts",
    "churned",
)


DEFECTS = ("malformed", "missing_target", "not_numeric", "duplicate")
# What `drift=True` shifts: more basic plans, higher charges and more support calls, and through them usage
# (basic plans use less data) and total charges. Nothing else changes, so a monitor must flag these only.
DRIFTED_FIELDS = ("plan", "monthly_charges", "total_charges", "support_calls", "data_usage_gb")
DRIFTED_PLAN_WEIGHTS = {"basic": 0.9}
DRIFTED_PRICE_FACTOR = 1.4
GENDERS = {"female": 0.5, "male": 0.48, "nonbinary": 0.02}
BIASED_GROUP = "female"  # the group `bias` disadvantages (the shipped contract's fairness facet)


def generate(
    rows: int = DEFAULT_ROWS, *, seed: int = 7, drift: bool = False, defect_rate: float = 0.0, bias: float = 0.0
) -> Iterator[dict[str, Any] | str]:
    """Yield `rows` raw CRM records; with `defect_rate`, that share of them is broken as real exports are
    (a truncated JSON line, a missing label, text in a number, a record sent twice), for the ETL to catch;
    with `bias`, churn depends on gender by that much (log-odds, for BIASED_GROUP)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if not 0.0 <= defect_rate < 1.0:
        raise ValueError(f"defect_rate must be in [0, 1), got {defect_rate}")
    rng = random.Random(seed)  # noqa: S311  (synthetic data: reproducible, not secret)
    genders = random.Random(f"gender-{seed}")  # noqa: S311  (its own stream: the other fields do not move)
    previous = None
    for number in range(rows):
        gender = genders.choices(list(GENDERS), weights=list(GENDERS.values()))[0]
        record = _record(rng, number, drift, bias if gender == BIASED_GROUP else 0.0)
        record["gender"] = gender
        if previous is not None and rng.random() < defect_rate:
            yield _defective(rng.choice(DEFECTS), record, previous)
        else:
            yield record
        previous = record


def _defective(defect: str, record: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any] | str:
    if defect == "malformed":
        return json.dumps(record)[:-20]  # a line cut off mid-record
    if defect == "missing_target":
        return {**record, "churned": None}
    if defect == "not_numeric":
        return {**record, "monthly_charges": "n/a"}
    return previous


def _record(rng: random.Random, number: int, drift: bool, bias: float) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    plan = _weighted(rng, {name: weight for name, (weight, _, _) in PLANS.items()}, drift and DRIFTED_PLAN_WEIGHTS)
    _, plan_effect, plan_price = PLANS[plan]
    region = rng.choice(list(REGIONS))
    payment = rng.choice(list(PAYMENT_METHODS))
    tenure_days = int(rng.expovariate(1 / 700)) + 1
    created = EXPORT_DATE - timedelta(days=tenure_days)
    monthly = max(5.0, rng.gauss(plan_price * (DRIFTED_PRICE_FACTOR if drift else 1.0), 12.0))
    support_calls = _poisson(rng, 2.6 if drift else 1.4)
    late_payments = _poisson(rng, 0.5)
    usage = max(0.0, rng.gauss(18.0 if plan == "basic" else 32.0, 9.0))
    minutes = max(0.0, rng.gauss(300.0, 90.0))

    logit = (
        -1.6
        + 0.95 * support_calls
        - 0.0024 * tenure_days
        + plan_effect
        + REGIONS[region]
        + PAYMENT_METHODS[payment]
        + 0.05 * (monthly - plan_price)
        + 0.7 * late_payments
        - 0.035 * (usage - 25.0)
        + rng.gauss(0.0, 0.4)
        + bias
    )
    churned = rng.random() < 1.0 / (1.0 + math.exp(-logit))

    record: dict[str, Any] = {
        "customer_id": f"C{number:08d}",
        "name": f"{first} {last}",
        "email": f"{first}.{last}{number}@example.com".lower().replace("'", ""),
        "phone": f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
        "account_created": created.isoformat(),
        "plan": plan,
        "region": region,
        "payment_method": payment,
        "monthly_charges": round(monthly, 2),
        "total_charges": round(monthly * tenure_days / 30.4, 2),
        "data_usage_gb": round(usage, 2),
        "call_minutes": round(minutes, 1),
        "support_calls": support_calls,
        "late_payments": late_payments,
        "export_ts": datetime(2026, 6, 30, 23, 0, tzinfo=timezone.utc).isoformat(),
        "churned": "yes" if churned else "no",
    }
    for field in OPTIONAL_FIELDS:
        if rng.random() < MISSING_RATE:
            record[field] = None
    return record


def _weighted(rng: random.Random, weights: dict[str, float], override: dict[str, float] | bool) -> str:
    if override:
        weights = {**weights, **override}
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def write(path: Path, records: Iterator[dict[str, Any] | str], *, fmt: str = "jsonl") -> int:
    """Write records as JSON lines (the raw export; text records as they are) or CSV with a header; return
    the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="") as handle:
        if fmt == "jsonl":
            for record in records:
                handle.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
                count += 1
        elif fmt == "csv":
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            for record in records:
                if isinstance(record, str):
                    raise ValueError("a malformed record cannot be written as CSV: generate CSV without defects")
                writer.writerow(record)
                count += 1
        else:
            raise ValueError(f"unknown format {fmt!r}: use 'jsonl' or 'csv'")
    return count
