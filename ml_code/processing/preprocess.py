"""Preprocessing (a SageMaker processing job): curated CSV -> train/validation/test splits, the Model Monitor
baseline and the fitted feature transform. Built for millions of rows: pyarrow parses the input once into compact
columns (only those the contract needs; the features' raw text is set aside on disk for the baseline), what is
learned is fitted on the training split in chunks, and the outputs are written chunk by chunk.

Reads `<base>/input/data/**/*.csv` (with header); writes `<base>/{train,validation,test}` (target first, no
header), `<base>/baseline` (raw features with header) and `<base>/transform/transform.json`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, as SageMaker does: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from collections import deque  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import BinaryIO  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
from pandas.api.types import union_categoricals  # noqa: E402

from ml_code.archives import tar_gz  # noqa: E402
from ml_code.cluster import PROCESSING_RESOURCE_CONFIG, Cluster, collective  # noqa: E402
from ml_code.contracts.contract import ContractError, DatasetContract, load_contract  # noqa: E402
from ml_code.fairness.config import test_headers, train_headers  # noqa: E402
from ml_code.paths import (  # noqa: E402
    BASELINE_FILE,
    BASELINE_OUTPUT,
    FAIRNESS_DATA_OUTPUT,
    FAIRNESS_TEST_FILE,
    FAIRNESS_TRAIN_FILE,
    METADATA_FILE,
    METADATA_OUTPUT,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
    PROCESSING_INPUT_DATA,
    SAMPLE_PAYLOAD_ARCHIVE,
    SAMPLE_PAYLOAD_FILE,
    SAMPLE_PAYLOAD_OUTPUT,
    SPLITS,
    TRANSFORM_FILE,
    TRANSFORM_OUTPUT,
)
from ml_code.processing.reading import Input, read_table, scan_input  # noqa: E402
from ml_code.processing.spill import TextSpill  # noqa: E402
from ml_code.processing.writing import MatrixLayout, csv_lines, header_line  # noqa: E402
from ml_code.runtime import (  # noqa: E402
    StagedFiles,
    configure_logging,
    parse_known,
    run_step,
)
from ml_code.settings import DEFAULT_SEED, SAMPLE_PAYLOAD_RECORDS
from ml_code.transform.features import (  # noqa: E402
    FeatureTransform,
    as_category_text,
    coerce_numeric,
    fit_transform,
    parse_dates,
)
from ml_code.transform.reduction import Shards  # noqa: E402

logger = logging.getLogger(__name__)

FRACTIONS = (0.7, 0.2, 0.1)
REGRESSION_STRATA = 10
# What the metrics need of each split: rows enough for a bootstrap, and (classification) every class in each
# split, twice at least (AUC and its bootstrap need both classes in the test split).
MIN_ROWS_PER_SPLIT = 10
MIN_CLASS_ROWS_PER_SPLIT = 2
WRITE_CHUNK_ROWS = 50_000  # rows transformed and written at once: memory stays a few chunks' features
CHUNKS_AHEAD = 3
HASH_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def read_input(input_dir: Path, contract: DatasetContract | None = None) -> pd.DataFrame:
    """Every CSV under `input_dir` (the ETL writes one folder per ingestion date), as `read_scanned` reads it."""
    return read_scanned(scan_input(input_dir), contract)


def read_scanned(
    source: Input,
    contract: DatasetContract | None = None,
    *,
    spill: TextSpill | None = None,
    file_rows: list[int] | None = None,
) -> pd.DataFrame:
    """The scanned input's files, columns matched by name across files; the row index is each row's position in
    the input. With a contract: only the columns it needs, numbers parsed (checked against the contract first);
    without: every column, as text. With a `spill`, its columns' raw text is set aside there (they must be among
    those read)."""
    if contract is None:
        columns, numeric = list(source.columns), set()
    else:
        contract.check_columns(source.columns)
        columns = needed_columns(source.columns, contract)
        numeric = set(contract.numeric_features(source.columns)) & set(columns)
    data = read_table(source, columns, numeric=numeric, spill=spill, file_rows=file_rows)
    if data.empty:
        raise ContractError(f"the input under {source.directory} has a header but no rows")
    logger.info("read %d rows and %d columns from %d file(s)", len(data), len(source.columns), len(source.files))
    return data


def needed_columns(columns: tuple[str, ...], contract: DatasetContract) -> list[str]:
    """What preprocessing reads (in the input's order): the target, the features, the fairness facets, and the
    columns that choose rows (ids and their recency) or splits."""
    wanted = {contract.target, *contract.feature_columns(columns), contract.split_column, contract.time_column}
    wanted |= set(contract.bias_columns)
    if contract.newest_per_id is not None:
        wanted |= {*contract.id_columns, contract.newest_per_id}
    return [column for column in columns if column in wanted]


def data_hash(source: Input) -> str:
    """SHA-256 over the relative paths and SHA-256s of the files read (not of those skipped): which data a model
    was trained on. Hosts that read a share of the files each combine to the same (`combine_digests`)."""
    return combine_digests(file_digests(source))


def file_digests(source: Input) -> dict[str, str]:
    """Each file's SHA-256, by its path relative to the input's folder."""
    digests = {}
    for path in (file.path for file in source.files):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(HASH_BLOCK_BYTES), b""):
                digest.update(block)
        digests[str(path.relative_to(source.directory))] = digest.hexdigest()
    return digests


def combine_digests(digests: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for relative in sorted(digests, key=Path):  # the order scan_input reads files in
        digest.update(relative.encode() + b"\0" + digests[relative].encode() + b"\0")
    return digest.hexdigest()


def keep_newest_per_id(data: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    """With the contract's `newest_per_id`, one record per id: the one with the largest value of that column
    (dates compared as dates, numbers as numbers, else as text; a missing value is oldest; on a tie, the later
    file's). Later ETL runs re-send customers; this keeps their latest state."""
    column = contract.newest_per_id
    if column is None:
        return data
    missing = [c for c in (*contract.id_columns, column) if c not in data.columns]
    if missing:
        raise ContractError(f"newest_per_id needs column(s) {missing}, which the data lacks")
    values = data[column].astype(object) if isinstance(data[column].dtype, pd.CategoricalDtype) else data[column]
    order = parse_dates(values) if column in contract.datetime_age or column in contract.pass_through else None
    if order is None or order.isna().all():
        numbers = pd.to_numeric(values, errors="coerce")
        order = numbers if numbers.notna().any() else values
    ranked = data.assign(_order=order.to_numpy(), _position=np.arange(len(data)))
    newest = ranked.sort_values(["_order", "_position"], na_position="first", kind="stable").drop_duplicates(
        list(contract.id_columns), keep="last"
    )
    kept = newest.sort_values("_position").drop(columns=["_order", "_position"])
    logger.info("newest per id by %r: kept %d of %d records", column, len(kept), len(data))
    return kept


def check_target(data: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    """Drop (and count) rows without a target; fail when the target cannot be learned."""
    contract.check_columns(data.columns)
    return labelled_rows(data, contract)


def labelled_rows(data: pd.DataFrame, contract: DatasetContract) -> pd.DataFrame:
    """`check_target` of a frame that holds the target (and may lack the features)."""
    target = data[contract.target]
    if contract.problem_type == "regression":
        target = coerce_numeric(target, contract.target, report=False)
    else:
        target = as_category_text(target)
    unlabeled = int(target.isna().sum())
    if unlabeled:
        logger.warning("dropping %d row(s) with a missing or non-numeric target %r", unlabeled, contract.target)
    labelled = target.notna().to_numpy()
    if not labelled.all():  # a copy of every column: only when some row goes
        data, target = data[labelled], target[labelled]
    if data.empty:
        raise ContractError(f"no row has a value in the target column {contract.target!r}")
    if contract.problem_type == "regression":
        return data
    values = sorted(target.unique())
    if len(values) < 2:
        raise ContractError(f"the target {contract.target!r} has one class only ({values}); a classifier needs two")
    if contract.problem_type == "binary_classification":
        if len(values) > 2:
            raise ContractError(
                f"binary target {contract.target!r} has {len(values)} distinct values {values[:10]}; expected 2"
            )
        if not any(contract.is_positive(value) for value in values):
            raise ContractError(
                f"positive_label {contract.positive_label!r} of the contract never occurs in {contract.target!r} "
                f"(values: {values})"
            )
    return data


def split(
    data: pd.DataFrame, contract: DatasetContract, *, seed: int, fractions: tuple[float, ...] = FRACTIONS
) -> Splits:
    """The contract's split: by its split column's values, out of time by its time column (the oldest 70 % train,
    the next 20 % validation, the newest 10 % test), or by default a seeded 70/20/10 split stratified on the
    target (on its deciles for regression)."""
    if contract.split_column is not None:
        return split_by_column(data, contract.split_column)
    if contract.time_column is not None:
        return split_by_time(data, contract.time_column, fractions)
    check_enough_rows(data, contract, fractions)
    rng = np.random.default_rng(seed)
    if contract.problem_type == "regression":
        # Stratify on target quantiles, so each split sees the whole range (a rare value cannot stand alone).
        values = coerce_numeric(data[contract.target], contract.target, report=False).to_numpy(float)
        bins = np.unique(np.quantile(values, np.linspace(0, 1, REGRESSION_STRATA + 1)[1:-1]))
        labels = np.searchsorted(bins, values, side="right")
    else:
        labels = as_category_text(data[contract.target]).to_numpy()
    groups = [np.flatnonzero(labels == label) for label in sorted(set(labels))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for indices in groups:
        shuffled = rng.permutation(indices)
        cut_train = round(len(shuffled) * fractions[0])
        cut_validation = cut_train + round(len(shuffled) * fractions[1])
        for part, piece in zip(parts, np.split(shuffled, [cut_train, cut_validation]), strict=True):
            part.append(piece)
    train, validation, test = (data.iloc[np.sort(np.concatenate(part))] for part in parts)
    return Splits(train=train, validation=validation, test=test)


def split_by_column(data: pd.DataFrame, column: str) -> Splits:
    """Rows by the value of `column`: `train`, `validation` or `test` (any case, spaces around allowed)."""
    if column not in data.columns:
        raise ContractError(f"the split column {column!r} is not in the data")
    marks = data[column].astype(object).fillna("").astype(str).str.strip().str.lower()
    unknown = sorted(set(marks) - set(SPLITS))
    if unknown:
        shown = ", ".join(repr(value) for value in unknown[:5])
        raise ContractError(
            f"the split column {column!r} holds values other than {list(SPLITS)}: {shown}"
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        )
    parts = {name: data[(marks == name).to_numpy()] for name in SPLITS}
    _check_no_empty_split(parts, f"no row of the split column {column!r} says")
    return Splits(**parts)


def split_by_time(data: pd.DataFrame, column: str, fractions: tuple[float, ...] = FRACTIONS) -> Splits:
    """An out-of-time split on `column`: the oldest rows train, the next validate, the newest test (ties in the
    data's order)."""
    if column not in data.columns:
        raise ContractError(f"the time column {column!r} is not in the data")
    times = pd.to_datetime(data[column], errors="coerce", utc=True, format="mixed")
    unreadable = int(times.isna().sum())
    if unreadable:
        raise ContractError(f"{unreadable} row(s) have no readable time in the time column {column!r}")
    order = np.argsort(times.to_numpy(), kind="stable")
    train, validation, _ = _split_sizes(len(data), fractions)
    pieces = np.split(order, [train, train + validation])
    parts = {name: data.iloc[piece] for name, piece in zip(SPLITS, pieces, strict=True)}
    _check_no_empty_split(parts, f"{len(data)} row(s) are too few for an out-of-time split on {column!r}: none for")
    return Splits(**parts)


def _check_no_empty_split(parts: dict[str, pd.DataFrame], message: str) -> None:
    empty = [name for name, part in parts.items() if part.empty]
    if empty:
        raise ContractError(f"{message} {' or '.join(repr(name) for name in empty)}: every split needs rows")


def _split_sizes(rows: int, fractions: tuple[float, ...]) -> tuple[int, int, int]:
    """How many of `rows` go to train, validation and test (the cuts `split` makes)."""
    train = round(rows * fractions[0])
    validation = round(rows * fractions[1])
    return train, validation, rows - train - validation


def rows_needed(per_split: int, fractions: tuple[float, ...] = FRACTIONS) -> int:
    """The fewest rows whose split gives every part at least `per_split` rows."""
    rows = per_split
    while min(_split_sizes(rows, fractions)) < per_split:
        rows += 1
    return rows


def check_enough_rows(data: pd.DataFrame, contract: DatasetContract, fractions: tuple[float, ...]) -> None:
    """Fail before any work when the split would leave a metric without the rows it needs."""
    needed = rows_needed(MIN_ROWS_PER_SPLIT, fractions)
    if len(data) < needed:
        raise ContractError(
            f"{len(data)} labelled rows are too few: the split needs at least {needed}, so that each of "
            f"train, validation and test holds {MIN_ROWS_PER_SPLIT}"
        )
    if contract.problem_type == "regression":
        return
    per_class = rows_needed(MIN_CLASS_ROWS_PER_SPLIT, fractions)
    counts = as_category_text(data[contract.target]).value_counts()
    counts = counts[counts > 0]  # a categorical column keeps the labels of rows dropped before
    few = {label: int(count) for label, count in counts.items() if count < per_class}
    if few:
        raise ContractError(
            f"class(es) {few} of {contract.target!r} have too few labelled rows: each class needs at least "
            f"{per_class}, so that every split holds {MIN_CLASS_ROWS_PER_SPLIT} of it"
        )


def preprocess(
    input_dir: Path,
    base_dir: Path,
    contract: DatasetContract,
    *,
    seed: int,
    train_parts: int = 1,
    cluster: Cluster | None = None,
) -> None:
    """The whole step: validate, split, fit on train, then transform every split and write everything (moved
    into place together once all of it is written); the train split in `train_parts` files, one per training host
    (SageMaker shards a channel by file). On a `cluster` of several hosts, each does its share (`preprocess_shard`)."""
    if train_parts < 1:
        raise ValueError(f"train_parts must be at least 1, not {train_parts}")
    if cluster is not None and cluster.size > 1:
        with collective(cluster):
            preprocess_shard(input_dir, base_dir, contract, seed=seed, train_parts=train_parts, shards=Shards(cluster))
        return
    base_dir.mkdir(parents=True, exist_ok=True)
    source = scan_input(input_dir)
    with (
        StagedFiles() as staged,  # outermost: on an error, removed once the helpers below have stopped
        # the features' raw text as read, for the baseline: beside the outputs, never one of them
        TextSpill(base_dir, list(contract.feature_columns(source.columns))) as spill,
        ThreadPoolExecutor(max_workers=1) as background,
        ThreadPoolExecutor(max_workers=2) as workers,
    ):
        digest = background.submit(data_hash, source)  # beside the main work, as is the baseline below
        data = keep_newest_per_id(read_scanned(source, contract, spill=spill), contract)
        splits = split(check_target(data, contract), contract, seed=seed)
        del data  # the splits hold the rows now
        sample = background.submit(
            write_baseline, staged.open(base_dir / BASELINE_OUTPUT / BASELINE_FILE), spill, splits.train.index
        )
        transform = fit_transform(splits.train, contract)
        write_splits(staged, base_dir, splits, transform, contract.target, workers, train_parts=train_parts)
        write_outputs(
            staged,
            base_dir,
            contract,
            transform,
            splits,
            seed=seed,
            digest=digest.result(),
            payload=sample.result(),
            etl_runs=source.etl_runs,
        )
    logger.info(
        "rows: train %d, validation %d, test %d; features: %d",
        len(splits.train),
        len(splits.validation),
        len(splits.test),
        len(transform.features),
    )


def write_splits(
    staged: StagedFiles,
    base_dir: Path,
    splits: Splits,
    transform: FeatureTransform,
    target: str,
    workers: ThreadPoolExecutor,
    *,
    train_parts: int,
    host: int | None = None,
) -> None:
    """Every split's rows as model matrices, in the files `split_files` names (none for a split without rows: a
    host of several may hold none of a split)."""
    for name in SPLITS:
        frame = getattr(splits, name)
        parts = train_parts if name == "train" else 1
        for file_name, rows in split_files(name, len(frame), parts, host) if len(frame) else ():
            with staged.open(base_dir / name / file_name) as handle:
                write_model_matrix(handle, frame.iloc[rows], transform, target, workers)


def split_files(name: str, rows: int, parts: int, host: int | None = None) -> list[tuple[str, slice]]:
    """The files a split of `rows` rows is written to, with the block of rows each holds: `<name>.csv`, or
    `<name>-<i>.csv` for `parts` blocks of nearly equal size (none empty while there are rows enough); the files of
    the host of rank `host` start `<name>-<host>`."""
    prefix = name if host is None else f"{name}-{host:03d}"
    if parts == 1:
        return [(f"{prefix}.csv", slice(0, rows))]
    if rows < parts:
        raise ContractError(f"the {name} split's {rows} rows are too few for {parts} files, one per training host")
    return [
        (f"{prefix}-{part:05d}.csv", slice(part * rows // parts, (part + 1) * rows // parts)) for part in range(parts)
    ]


def preprocess_shard(
    input_dir: Path, base_dir: Path, contract: DatasetContract, *, seed: int, train_parts: int, shards: Shards
) -> None:
    """One host's part of preprocessing on several hosts (a processing job's instances, joined by `shards`). Each
    reads its share of the input's files (SageMaker's shard, or every n-th file when each host got all of them),
    and learns from the others only what it needs:
    - which rows go where: the columns that decide it (target, ids, split or time column) of every row, so that
      the newest record per id, the labelled rows and the seeded, stratified split are one host's, row for row;
    - the transform's statistics, combined once each (ml_code/transform/reduction.py);
    then it transforms and writes its own rows: `<split>-<host>.csv` (train: `train_parts` files), and its training
    rows' raw text for the baseline. The first host writes the rest: the transform, the metadata (rows, data hash
    and ETL runs of the whole input), the sample payload (from its rows) and the fairness datasets (their columns
    of every host's rows)."""
    cluster = shards.cluster
    base_dir.mkdir(parents=True, exist_ok=True)
    has_files = input_dir.is_dir() and any(input_dir.rglob("*.csv"))  # SageMaker's share may be no file
    source = host_input(scan_input(input_dir) if has_files else Input(input_dir, (), ()), shards)
    with (
        StagedFiles() as staged,
        TextSpill(base_dir, list(contract.feature_columns(source.columns))) as spill,
        ThreadPoolExecutor(max_workers=2) as workers,
    ):
        file_rows: list[int] = []
        data = (
            read_scanned(source, contract, spill=spill, file_rows=file_rows)
            if source.files
            else no_rows(source, contract)
        )
        positions = global_positions(source, file_rows, shards)
        decided = decided_rows(data, positions, contract, seed=seed, shards=shards)
        splits = Splits(**{name: data[np.isin(positions, getattr(decided, name).index)] for name in SPLITS})
        del data
        fitted = fit_transform(splits.train, contract, shards)
        transform = FeatureTransform.from_json(shards.gather(fitted.to_json())[0])  # the first host's, to the bit
        write_splits(
            staged, base_dir, splits, transform, contract.target, workers, train_parts=train_parts, host=cluster.rank
        )
        baseline = base_dir / BASELINE_OUTPUT / f"{Path(BASELINE_FILE).stem}-{cluster.rank:03d}.csv"
        payload = write_baseline(staged.open(baseline), spill, splits.train.index)
        digests = shards.gather(file_digests(source))
        etl_runs = sorted(shards.union(set(source.etl_runs)))
        everyone = gathered_fairness_splits(contract, transform, splits, positions, decided, shards)
        if cluster.leader:
            write_outputs(
                staged,
                base_dir,
                contract,
                transform,
                everyone,
                seed=seed,
                digest=combine_digests({k: v for part in digests for k, v in part.items()}),
                payload=payload,
                etl_runs=tuple(etl_runs),
            )
    logger.info(
        "host %s of %d: rows: train %d, validation %d, test %d of %s; features: %d",
        cluster.current,
        cluster.size,
        len(splits.train),
        len(splits.validation),
        len(splits.test),
        {name: len(getattr(decided, name)) for name in SPLITS},
        len(transform.features),
    )


def host_input(source: Input, shards: Shards) -> Input:
    """This host's files of the input, with the whole input's columns (in the order they first appear): its own
    files when the input was sharded by S3 key, every n-th from its rank when every host got all of them."""
    cluster = shards.cluster
    listings = shards.gather([(str(file.path.relative_to(source.directory)), file.columns) for file in source.files])
    names = [name for listing in listings for name, _ in listing]
    if not names:
        raise ContractError(f"no CSV file under {source.directory} on any of the job's {cluster.size} instances")
    if all(listing == listings[0] for listing in listings):
        files = source.files[cluster.rank :: cluster.size]
    elif len(set(names)) == len(names):
        files = source.files
    else:
        raise ContractError("the hosts got some files of the input alike and some not: neither sharded nor replicated")
    if not files:  # fewer files than instances: this one takes part with no rows
        logger.warning("host %s got none of the input's files: it has no rows to preprocess", cluster.current)
    every_file = sorted(
        {name: columns for listing in listings for name, columns in listing}.items(), key=lambda f: Path(f[0])
    )
    columns = tuple(dict.fromkeys(column for _, header in every_file for column in header))
    return dataclasses.replace(source, files=tuple(files), columns=columns)


def no_rows(source: Input, contract: DatasetContract) -> pd.DataFrame:
    """What `read_scanned` gives a host without files: the columns it would read, no rows."""
    contract.check_columns(source.columns)
    numeric = set(contract.numeric_features(source.columns))
    columns = needed_columns(source.columns, contract)
    return pd.DataFrame({column: pd.Series(dtype=float if column in numeric else "category") for column in columns})


def global_positions(source: Input, file_rows: list[int], shards: Shards) -> np.ndarray:
    """Each of this host's rows' position in the whole input (its files in scan_input's order, rows in order)."""
    mine = {
        str(file.path.relative_to(source.directory)): rows for file, rows in zip(source.files, file_rows, strict=True)
    }
    counts = {name: rows for part in shards.gather(mine) for name, rows in part.items()}
    offsets, start = {}, 0
    for name in sorted(counts, key=Path):
        offsets[name], start = start, start + counts[name]
    return np.concatenate([offsets[name] + np.arange(rows) for name, rows in mine.items()] or [np.zeros(0, int)])


def decided_rows(
    data: pd.DataFrame, positions: np.ndarray, contract: DatasetContract, *, seed: int, shards: Shards
) -> Splits:
    """The whole input's split, as one host makes it, of the columns that decide it (indexed by position)."""
    columns = [column for column in decision_columns(contract) if column in data.columns]
    parts = shards.gather(data[columns].set_axis(positions))
    keys = pd.DataFrame(
        {column: _concatenated([part[column] for part in parts]) for column in columns},
        index=np.concatenate([part.index.to_numpy() for part in parts]),
    ).sort_index()
    return split(labelled_rows(keep_newest_per_id(keys, contract), contract), contract, seed=seed)


def decision_columns(contract: DatasetContract) -> list[str]:
    """The columns that decide which rows preprocessing keeps and which split each goes to."""
    wanted = [contract.target, contract.split_column, contract.time_column, *contract.id_columns]
    wanted += [contract.newest_per_id] if contract.newest_per_id is not None else []
    return list(dict.fromkeys(column for column in wanted if column is not None))


def _concatenated(parts: list[pd.Series]) -> pd.Categorical | np.ndarray:
    """The values of a column of several hosts, one after the other (categoricals stay categoricals, of every
    host's categories)."""
    if all(isinstance(part.dtype, pd.CategoricalDtype) for part in parts):
        return union_categoricals([part.array for part in parts], ignore_order=True)
    return np.concatenate([part.to_numpy() for part in parts])


def gathered_fairness_splits(
    contract: DatasetContract,
    transform: FeatureTransform,
    splits: Splits,
    positions: np.ndarray,
    decided: Splits,
    shards: Shards,
) -> Splits:
    """Every host's rows of the splits, as far as the first host's small outputs need them: the fairness datasets'
    columns of the train and test splits (none without a fairness section), the numbers of rows of all."""
    if contract.fairness is None:
        return decided
    wanted = {"train": train_headers(contract), "test": test_headers(contract, transform)}
    found = {"validation": decided.validation}
    where = pd.Series(positions)
    for name, headers in wanted.items():
        frame = getattr(splits, name)
        mine = frame[list(dict.fromkeys(headers))].set_axis(where[frame.index].to_numpy())
        found[name] = pd.concat(shards.gather(mine)).sort_index()
    return Splits(**found)


def write_outputs(
    staged: StagedFiles,
    base_dir: Path,
    contract: DatasetContract,
    transform: FeatureTransform,
    splits: Splits,
    *,
    seed: int,
    digest: str,
    payload: bytes,
    etl_runs: tuple[str, ...],
) -> None:
    """The small outputs: the transform, the run's metadata (with the ETL runs whose output it read: the lineage
    from a model to its raw files), the sample payload and the fairness datasets."""
    metadata = {
        "data_sha256": digest,
        "etl_runs": list(etl_runs),
        "contract": contract.name,
        "seed": seed,
        "rows": {name: len(getattr(splits, name)) for name in SPLITS},
    }
    small = {
        f"{METADATA_OUTPUT}/{METADATA_FILE}": json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False).encode(),
        f"{TRANSFORM_OUTPUT}/{TRANSFORM_FILE}": transform.to_json().encode(),
        f"{SAMPLE_PAYLOAD_OUTPUT}/{SAMPLE_PAYLOAD_ARCHIVE}": tar_gz({SAMPLE_PAYLOAD_FILE: payload}),
        **fairness_datasets(contract, transform, splits),
    }
    for relative, data in small.items():
        with staged.open(base_dir / relative) as handle:
            handle.write(data)


def fairness_datasets(contract: DatasetContract, transform: FeatureTransform, splits: Splits) -> dict[str, bytes]:
    """What the bias jobs analyze, by relative path (none without a fairness section): the label (1/0) and the facets
    of the training split, and the label, the model's raw inputs and the facets it is not trained on of the test
    split (ml_code/fairness/config.py names these columns in the analysis configs)."""
    if contract.fairness is None:
        return {}

    def dataset(frame: pd.DataFrame, headers: list[str]) -> bytes:
        label = transform.encode_target(frame[contract.target]).astype(int)
        return frame[headers[1:]].assign(**{contract.target: label})[headers].to_csv(index=False).encode()

    return {
        f"{FAIRNESS_DATA_OUTPUT}/{FAIRNESS_TRAIN_FILE}": dataset(splits.train, train_headers(contract)),
        f"{FAIRNESS_DATA_OUTPUT}/{FAIRNESS_TEST_FILE}": dataset(splits.test, test_headers(contract, transform)),
    }


def write_model_matrix(
    handle: BinaryIO,
    frame: pd.DataFrame,
    transform: FeatureTransform,
    target: str,
    workers: ThreadPoolExecutor | None = None,
) -> None:
    """Target first, then the features: the layout SageMaker's XGBoost reads (no header). Chunks of rows are
    encoded and formatted on `workers` (default: two threads of its own) and written in order, a few chunks
    ahead at most."""
    if workers is None:
        with ThreadPoolExecutor(max_workers=2) as own:
            write_model_matrix(handle, frame, transform, target, own)
        return
    layout = MatrixLayout.of(transform)

    def chunk_csv(start: int) -> bytes:
        chunk = frame.iloc[start : start + WRITE_CHUNK_ROWS]
        return layout.csv(transform.encode_target(chunk[target]).to_numpy(dtype=float), *transform.encoded_parts(chunk))

    pending: deque = deque()
    for start in range(0, len(frame), WRITE_CHUNK_ROWS):
        pending.append(workers.submit(chunk_csv, start))
        if len(pending) > CHUNKS_AHEAD:
            handle.write(pending.popleft().result())
    while pending:
        handle.write(pending.popleft().result())


def write_baseline(handle: BinaryIO, spill: TextSpill, train_rows: pd.Index) -> bytes:
    """The training split's raw feature values with a header, as read (in the input's order), for Model
    Monitor's baseline, into `handle` (closed when done); returns the sample payload: the header and the first
    few of those rows."""
    with handle:
        selected = np.zeros(int(train_rows.max()) + 1 if len(train_rows) else 0, dtype=bool)
        selected[train_rows.to_numpy()] = True
        header = header_line(spill.columns)
        handle.write(header)
        sample, position = [header], 0
        for batch, quote in spill.batches():
            rows = len(next(iter(batch.values())))
            window = selected[position : position + rows]  # rows past the last training row are not selected
            mask = pa.array(np.pad(window, (0, rows - len(window))))
            position += rows
            lines = csv_lines([values.filter(mask) for values in batch.values()], quote=quote)
            handle.write(lines)
            if len(sample) <= SAMPLE_PAYLOAD_RECORDS:
                sample.extend(lines.splitlines(keepends=True)[: SAMPLE_PAYLOAD_RECORDS + 1 - len(sample)])
    return b"".join(sample)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contract", required=True, help="a contract file, or the name of a shipped contract")
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--input-dir", type=Path, default=None, help="default: <base-dir>/input/data")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--train-parts", type=int, default=1, help="files of the train split: one per training host")
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    return parse_known(parser, argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    input_dir = args.input_dir or args.base_dir / PROCESSING_INPUT_DATA
    return run_step(
        lambda: preprocess(
            input_dir,
            args.base_dir,
            load_contract(args.contract),
            seed=args.seed,
            train_parts=args.train_parts,
            cluster=Cluster.from_environment(resource_config=PROCESSING_RESOURCE_CONFIG),
        ),
        args.failure_file,
    )


if __name__ == "__main__":
    sys.exit(main())
