"""Curated CSV without Spark, for the tests of what reads the ETL's output (batch scoring): the ETL's own transform
is tested on Spark in tests/etl; here only its shape matters."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pandas as pd

from ml_code.contracts.contract import DatasetContract

KEY = b"tests-curated-key"


def as_curated(raw: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    """What the ETL lets out of the raw bucket: the curated columns only (without a `numeric` list, all but those
    dropped), each hashed one as its HMAC-SHA256 hex."""
    if contract.numeric:
        kept = [column for column in contract.curated_columns if column in raw.columns]
    else:
        kept = [column for column in raw.columns if column not in (*contract.pii_drop, *contract.drop)]
    curated = raw[kept].copy()
    for column in contract.pii_hash:
        curated[column] = [hmac.new(KEY, str(value).encode(), hashlib.sha256).hexdigest() for value in curated[column]]
    return curated


def write_curated(raw_csv: Path, contract: DatasetContract, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    as_curated(pd.read_csv(raw_csv, dtype=str), contract).to_csv(destination, index=False)
    return destination
