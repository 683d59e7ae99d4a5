"""The Glue ETL's logic as plain PySpark DataFrame -> DataFrame functions (no awsglue: testable locally).

Uses only APIs that Spark 3.5 (Glue 5.0) and Spark 4 (local) share, and is correct with ANSI mode on or off
(`try_cast`, `try_to_timestamp`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from ml_code.contracts.contract import DatasetContract

CORRUPT_COLUMN = "_corrupt_record"
SOURCE_COLUMN = "_source_file"
REASON_COLUMN = "_reason"
INNER_PAD_COLUMN, OUTER_PAD_COLUMN = "_hmac_inner_pad", "_hmac_outer_pad"
INTERNAL_COLUMNS = (CORRUPT_COLUMN, SOURCE_COLUMN, REASON_COLUMN, INNER_PAD_COLUMN, OUTER_PAD_COLUMN)

MALFORMED_JSON = "malformed_json"
MISSING_TARGET = "missing_target"
MISSING_ID = "missing_id"
NOT_NUMERIC = "not_numeric"
NOT_A_DATE = "not_a_date"

_HMAC_BLOCK = 64  # SHA-256's block size in bytes


@dataclass(frozen=True)
class EtlCounts:
    """What one run did with its records: read == written + quarantined + duplicates, always. Fields the
    contract does not name are left behind, and counted by name (records that carried them)."""

    read: int
    written: int
    quarantined: int
    duplicates: int
    quarantined_by_reason: dict[str, int]
    undeclared_fields: dict[str, int] = field(default_factory=dict)
    quarantined_files: dict[str, int] = field(default_factory=dict)  # whole files that hold no record, by reason

    def __post_init__(self) -> None:
        if self.read != self.written + self.quarantined + self.duplicates:
            raise AssertionError(f"records lost or invented: {self}")
        if sum(self.quarantined_by_reason.values()) != self.quarantined:
            raise AssertionError(f"quarantine reasons do not add up: {self}")


def data_columns(frame: DataFrame) -> list[str]:
    """The record's own columns, without the ones the ETL adds."""
    return [column for column in frame.columns if column not in INTERNAL_COLUMNS]


def flatten_to_text(frame: DataFrame) -> DataFrame:
    """Every data column as text: nested values become their JSON, so that nothing is lost or guessed."""
    columns = []
    for column in frame.schema.fields:
        if column.name in data_columns(frame) and not isinstance(column.dataType, StringType):
            columns.append(F.to_json(F.col(_quoted(column.name))).alias(column.name))
        else:
            columns.append(F.col(_quoted(column.name)))
    return frame.select(*columns)


def with_reason(frame: DataFrame, contract: DatasetContract) -> DataFrame:
    """Add `_reason`: why a record must be quarantined (the first failing check), or null when it is valid."""
    present = set(data_columns(frame))
    checks: list[tuple[Column, str]] = [(F.col(CORRUPT_COLUMN).isNotNull(), MALFORMED_JSON)]
    checks.append((_blank(contract.target, present), MISSING_TARGET))
    for column in contract.id_columns:
        checks.append((_blank(column, present), f"{MISSING_ID}:{column}"))
    numeric = list(contract.numeric_features(sorted(present)))
    if contract.problem_type == "regression":
        numeric.insert(0, contract.target)
    for column in numeric:
        if column in present:
            failed = _try(f"try_cast({_quoted(column)} AS DOUBLE)", column)
            checks.append((failed, f"{NOT_NUMERIC}:{column}"))
    for column in contract.datetime_age:
        if column in present:
            checks.append((_try(f"try_to_timestamp({_quoted(column)})", column), f"{NOT_A_DATE}:{column}"))
    reason = F.lit(None).cast("string")
    for failed, code in reversed(checks):  # the first check that fails names the reason
        reason = F.when(failed, F.lit(code)).otherwise(reason)
    return frame.withColumn(REASON_COLUMN, reason)


def check_hash_key(key: bytes) -> None:
    if not key:
        raise ValueError("the hash key is empty")


def with_hmac_key(frame: DataFrame, key: bytes) -> DataFrame:
    """`frame` with the HMAC key's two pads as columns, joined from a one-row frame: they travel as data, so no
    query plan shows the key (as literals they would be in every plan, and so in logs and the Spark UI's event
    logs). `hmac_sha256_hex` reads them.

    HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)), with K' the key padded to the block size.
    """
    check_hash_key(key)
    padded = (hashlib.sha256(key).digest() if len(key) > _HMAC_BLOCK else key).ljust(_HMAC_BLOCK, b"\0")
    pads = frame.sparkSession.createDataFrame(
        [(bytearray(byte ^ 0x36 for byte in padded), bytearray(byte ^ 0x5C for byte in padded))],
        f"{INNER_PAD_COLUMN} binary, {OUTER_PAD_COLUMN} binary",
    )
    return frame.crossJoin(F.broadcast(pads))


def hmac_sha256_hex(column: Column) -> Column:
    """HMAC-SHA256 of a text column (UTF-8) as lowercase hex, in Spark SQL (no Python UDF), on a frame that
    `with_hmac_key` prepared."""
    inner = F.unhex(F.sha2(F.concat(F.col(INNER_PAD_COLUMN), column.cast("binary")), 256))
    return F.sha2(F.concat(F.col(OUTER_PAD_COLUMN), inner), 256)


def allowed_columns(frame: DataFrame, contract: DatasetContract) -> DataFrame:
    """Only the contract's curated columns, in its order (null where a record lacks one), and the ETL's own."""
    present = set(frame.columns)
    columns = [
        F.col(_quoted(column)) if column in present else F.lit(None).cast("string").alias(column)
        for column in contract.curated_columns
    ]
    return frame.select(*columns, *[F.col(column) for column in INTERNAL_COLUMNS if column in present])


def hash_pii(frame: DataFrame, contract: DatasetContract) -> DataFrame:
    """Replace the contract's `pii.hash` columns by their keyed hash (on a frame `with_hmac_key` prepared)."""
    for column in contract.pii_hash:
        frame = frame.withColumn(column, hmac_sha256_hex(F.col(_quoted(column))))
    return frame


@dataclass(frozen=True)
class EtlResult:
    curated: DataFrame
    quarantine: DataFrame
    counts: EtlCounts
    unparsed_files: frozenset[str] = frozenset()  # sources of which no record parsed: left out of the above


def transform(raw: DataFrame, contract: DatasetContract, key: bytes) -> EtlResult:
    """Raw records (with `_corrupt_record` and `_source_file`) -> curated records, quarantine, counts.

    Only the contract's curated columns leave: curated CSV has exactly those, in the contract's order, whatever
    the raw records carry, and the quarantine keeps no other field either (PII to drop, the drop list and any
    field the contract does not name are left behind; undeclared ones are counted by name)."""
    allowed = contract.curated_columns  # fails first when the contract has no allowlist
    checked = with_hmac_key(with_reason(flatten_to_text(_with_corrupt_column(raw)), contract), key).cache()
    # a file of which no record parsed (a CSV export, a broken array) is the caller's to quarantine whole
    per_file = checked.groupBy(SOURCE_COLUMN).agg(
        F.count("*").alias("records"), F.count(F.col(CORRUPT_COLUMN)).alias("corrupt")
    )
    unparsed = frozenset(row[SOURCE_COLUMN] for row in per_file.collect() if row["records"] == row["corrupt"])
    if unparsed:
        checked = checked.filter(~F.col(SOURCE_COLUMN).isin(sorted(unparsed)))
    columns = data_columns(checked)
    declared = set(allowed) | set(contract.pii_drop) | set(contract.drop)
    undeclared = [column for column in columns if column not in declared]
    valid = checked.filter(F.col(REASON_COLUMN).isNull())
    # exact duplicates compare every field of the raw record (not the file it came from), before any is left out
    unique = valid.dropDuplicates(columns)
    curated = hash_pii(allowed_columns(unique, contract), contract).select(*[_quoted(c) for c in allowed])

    rejected = hash_pii(allowed_columns(checked.filter(F.col(REASON_COLUMN).isNotNull()), contract), contract)
    record = F.to_json(F.struct(*[F.col(_quoted(c)) for c in allowed]))
    quarantine = rejected.select(
        F.col(REASON_COLUMN).alias("reason"),
        F.col(SOURCE_COLUMN).alias("source_file"),
        # a malformed record cannot be parsed, so its text (which may hold PII) is kept only as a keyed hash
        F.when(F.col(CORRUPT_COLUMN).isNotNull(), hmac_sha256_hex(F.col(CORRUPT_COLUMN))).alias("raw_hmac"),
        F.when(F.col(CORRUPT_COLUMN).isNull(), record).alias("record"),
    )

    # Spark jobs count everything: one pass over the checked records (and one for undeclared fields, if any),
    # one over the de-duplicated ones
    by_reason = {row[REASON_COLUMN]: row["count"] for row in checked.groupBy(REASON_COLUMN).count().collect()}
    valid_count = by_reason.pop(None, 0)
    written = unique.count()
    carried = checked.agg(*[F.count(F.col(_quoted(c))).alias(c) for c in undeclared]).first() if undeclared else {}
    counts = EtlCounts(
        read=valid_count + sum(by_reason.values()),
        written=written,
        quarantined=sum(by_reason.values()),
        duplicates=valid_count - written,
        quarantined_by_reason=dict(sorted(by_reason.items())),
        undeclared_fields={column: carried[column] for column in sorted(undeclared) if carried[column]},
    )
    return EtlResult(curated=curated, quarantine=quarantine, counts=counts, unparsed_files=unparsed)


def _with_corrupt_column(frame: DataFrame) -> DataFrame:
    """Spark adds `_corrupt_record` only when it met a malformed record; make it always present."""
    if CORRUPT_COLUMN in frame.columns:
        return frame
    return frame.withColumn(CORRUPT_COLUMN, F.lit(None).cast("string"))


def _blank(column: str, present: set[str]) -> Column:
    if column not in present:
        return F.lit(True)
    return F.col(_quoted(column)).isNull() | (F.trim(F.col(_quoted(column))) == "")


def _try(expression: str, column: str) -> Column:
    """True where the column has a value that `expression` cannot convert."""
    value = F.col(_quoted(column))
    return value.isNotNull() & (F.trim(value) != "") & F.expr(expression).isNull()


def _quoted(column: str) -> str:
    """A column name as Spark SQL reads it, whatever characters it has (spaces, dots, backticks)."""
    return "`" + column.replace("`", "``") + "`"
