"""Reading the curated CSV files at scale: pyarrow's multithreaded parser, in batches, straight into compact
columns (numbers as float64, everything else as pandas categoricals), so that memory follows the kept columns'
values and not the file's text. Values mean what `pandas.read_csv(dtype=str)` made of them: the same missing
markers, no stripping, and numbers as `pandas.to_numeric(errors="coerce")` parses them.
"""

from __future__ import annotations

import csv
import logging
import mmap
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from pandas._libs.parsers import STR_NA_VALUES  # the markers read_csv takes for missing, in one place

from ml_code.contracts.contract import ContractError
from ml_code.paths import RUN_RECORDED_MARKER
from ml_code.processing.spill import TextSpill

logger = logging.getLogger(__name__)

BLOCK_BYTES = 16 << 20  # a streaming parser's block
PIECE_BYTES = 64 << 20  # a piece of a file parsed at once, on every core
NA_VALUES = sorted(STR_NA_VALUES)
_QUOTE = re.compile(b'"')  # a compiled search scans twice as fast as mmap.find


@dataclass(frozen=True)
class InputFile:
    path: Path
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Input:
    """The input's folder, its files (in order) and the union of their columns (in the order they first appear)."""

    directory: Path
    files: tuple[InputFile, ...]
    columns: tuple[str, ...]

    @property
    def etl_runs(self) -> tuple[str, ...]:
        """The ids of the ETL runs (`run=<id>` folders) whose files these are, sorted."""
        return tuple(
            sorted(
                {
                    part.removeprefix("run=")
                    for file in self.files
                    for part in file.path.relative_to(self.directory).parts[:-1]
                    if part.startswith("run=")
                }
            )
        )


def scan_input(input_dir: Path) -> Input:
    """Every CSV under `input_dir` (the ETL writes one folder per ingestion date and run), with its header checked.
    Hidden paths are skipped as Spark and Hadoop skip them: a folder or file whose name starts with `_` or `.` (a
    crashed ETL run's uncommitted `_temporary/` part files, `.crc` sidecars); and so is an ETL run's folder
    (`run=<id>`) whose run is not in the ETL's ledger (no RUN_RECORDED_MARKER: the run died before its manifest, and
    its files may be a part of its data, which the next ETL run removes and writes again)."""
    paths, uncommitted = [], set()
    for path in sorted(input_dir.rglob("*.csv")):
        parts = path.relative_to(input_dir).parts
        if not path.is_file() or any(part.startswith(("_", ".")) for part in parts):
            continue
        run = next(
            (input_dir.joinpath(*parts[: i + 1]) for i, part in enumerate(parts[:-1]) if part.startswith("run=")), None
        )
        if run is not None and not (run / RUN_RECORDED_MARKER).is_file():
            uncommitted.add(run)
            continue
        paths.append(path)
    for run in sorted(uncommitted):
        logger.warning(
            "skipping %s: the ETL run is not in its ledger (no %s): run the ETL again", run, RUN_RECORDED_MARKER
        )
    if not paths:
        raise ContractError(f"no CSV file under {input_dir}" + (" of an ETL run in its ledger" if uncommitted else ""))
    files = []
    for path in paths:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), None)
        if header is None:
            raise ContractError(f"{path} is empty: expected a CSV file with a header and rows")
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:  # they would be indistinguishable features
            raise ContractError(f"{path}: column(s) {repeated} appear more than once in the header")
        files.append(InputFile(path, tuple(header)))
    columns = tuple(dict.fromkeys(name for file in files for name in file.columns))
    for file in files:  # an ETL run from before a column was declared lacks it: missing values there
        if len(file.columns) < len(columns):
            logger.info(
                "%s lacks %d of the %d columns: missing values there",
                file.path,
                len(columns) - len(file.columns),
                len(columns),
            )
    return Input(input_dir, tuple(files), columns)


def read_table(
    source: Input,
    columns: list[str],
    *,
    numeric: set[str],
    spill: TextSpill | None = None,
    file_rows: list[int] | None = None,
) -> pd.DataFrame:
    """`columns` of every file, row after row: the `numeric` ones as float64 (what is no number is missing,
    infinities included, and counted in the log), the others as categoricals of their text. With a `spill`, its
    columns' text goes there as it is read; `file_rows` gets each file's number of rows."""
    parts: dict[str, list] = {column: [] for column in columns}
    coerced = dict.fromkeys(numeric, 0)
    infinite = dict.fromkeys(numeric, 0)
    counted = [0] * len(source.files)
    pieces = (
        (index, *piece) for index, file in enumerate(source.files) for piece in _tables(file, columns, numeric=numeric)
    )
    for index, table, quoted in _read_ahead(pieces):
        counted[index] += table.num_rows
        batch = {column: _column(table, column) for column in columns}
        if spill is not None:
            spill.add(batch, quoted=quoted)
        for column, values in batch.items():
            if column in numeric:
                numbers, not_numbers, infinities = parse_numbers(values)
                coerced[column] += not_numbers
                infinite[column] += infinities
                parts[column].append(numbers)
            else:
                parts[column].append(values if pa.types.is_dictionary(values.type) else values.dictionary_encode())
    # the numbers in one 2-D block from the start: pandas would otherwise merge them, a copy, on first use
    numbers = [column for column in columns if column in numeric]
    block = np.empty((len(numbers), sum(len(part) for part in parts[numbers[0]])) if numbers else (0, 0))
    for row, column in enumerate(numbers):
        np.concatenate(parts.pop(column), out=block[row])
    frame = pd.DataFrame(block.T, columns=numbers, copy=False)
    for position, column in enumerate(columns):  # inserted in place: reordering would copy the numbers
        if column not in numeric:
            frame.insert(position, column, _join(parts.pop(column)))
    if file_rows is not None:
        file_rows.extend(counted)
    for column in sorted(numeric):
        if coerced[column]:
            logger.warning("column %r: %d non-numeric value(s) coerced to missing and imputed", column, coerced[column])
        if infinite[column]:
            logger.warning("column %r: %d infinite value(s) treated as missing and imputed", column, infinite[column])
    return frame


def _read_ahead(pieces: Iterator[tuple]) -> Iterator[tuple]:
    """`pieces`, the next one parsed while the caller converts the one before."""
    with ThreadPoolExecutor(max_workers=1) as reader:
        ahead = reader.submit(next, pieces, None)
        while (piece := ahead.result()) is not None:
            ahead = reader.submit(next, pieces, None)
            yield piece


def _tables(file: InputFile, columns: list[str], *, numeric: set[str]) -> Iterator[tuple[pa.Table, bool]]:
    """The file's `columns` (those it has) as text, in pieces of rows. Where the file has no quote character, a
    line is a record: the file is cut at line ends and each piece parsed on every core, the columns but the
    `numeric` ones dictionary-encoded. From the first piece with a quote on, the streaming parser reads the rest
    (a quoted field may span lines). Each piece comes with whether its text may hold quotes."""
    present = [column for column in columns if column in file.columns]
    text = _convert_options(present, {})
    encoded = _convert_options(
        present, {column: pa.dictionary(pa.int32(), pa.string()) for column in present if column not in numeric}
    )
    with file.path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # closed with the last buffer on it
    whole = pa.py_buffer(mapped)
    released = 0
    try:
        for start, end in _line_ranges(mapped):
            read = pa_csv.ReadOptions(column_names=list(file.columns), skip_rows=1 if start == 0 else 0)
            if _QUOTE.search(mapped, start, end):
                read.block_size = BLOCK_BYTES
                yield from (
                    (pa.Table.from_batches([batch]), True)
                    for batch in pa_csv.open_csv(
                        pa.BufferReader(whole.slice(start)), read_options=read, convert_options=text
                    )
                )
                return
            piece = whole.slice(start, end - start)
            try:
                table = pa_csv.read_csv(pa.BufferReader(piece), read_options=read, convert_options=encoded)
            except pa.ArrowInvalid as error:
                if not _straddles(error):
                    raise
                read.block_size = end - start  # a line longer than a block: the piece is parsed as one block
                table = pa_csv.read_csv(pa.BufferReader(piece), read_options=read, convert_options=encoded)
            yield table, False
            # the piece is parsed: its pages leave this process's memory (they stay in the page cache), so that
            # memory holds the parsed columns, not the file as well
            done = end // mmap.PAGESIZE * mmap.PAGESIZE
            if done > released:
                mapped.madvise(mmap.MADV_DONTNEED, released, done - released)
                released = done
    except pa.ArrowInvalid as error:  # not quoted: pyarrow's message quotes the row, which may hold personal data
        if _straddles(error):
            raise ContractError(
                f"{file.path} has a record longer than {BLOCK_BYTES >> 20} MB, the most a record may be in a file "
                "with quoted fields"
            ) from None
        raise ContractError(
            f"{file.path} is no well-formed CSV file (does some row have more or fewer fields than its header?)"
        ) from None


def _straddles(error: pa.ArrowInvalid) -> bool:
    """Whether pyarrow failed on a record longer than its block, not on the file's form."""
    return "straddl" in str(error)


def _convert_options(columns: list[str], types: dict[str, pa.DataType]) -> pa_csv.ConvertOptions:
    return pa_csv.ConvertOptions(
        column_types={column: types.get(column, pa.string()) for column in columns},
        include_columns=columns,
        null_values=NA_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )


def _line_ranges(mapped: mmap.mmap) -> Iterator[tuple[int, int]]:
    """(start, end) of pieces of about PIECE_BYTES, each ending at a line end."""
    size, start = len(mapped), 0
    while start < size:
        end = size if size - start <= PIECE_BYTES else mapped.rfind(b"\n", start, start + PIECE_BYTES) + 1
        if end <= start:  # a line longer than a piece
            end = mapped.find(b"\n", start + PIECE_BYTES) + 1 or size
        yield start, end
        start = end


def _column(table: pa.Table, column: str) -> pa.Array:
    if column not in table.column_names:  # an older file without the column: missing there
        return pa.nulls(table.num_rows, pa.string())
    values = table.column(column)
    return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)


def _join(parts: list) -> pd.Categorical:
    if not parts:
        return pd.Categorical([])
    chunked = pa.chunked_array(parts).unify_dictionaries()
    return pd.Categorical.from_codes(
        np.concatenate([chunk.indices.fill_null(-1).to_numpy() for chunk in chunked.chunks]).astype(np.int32),
        categories=pd.Index(chunked.chunk(0).dictionary.to_pylist(), dtype=object),
    )


def parse_numbers(values: pa.Array) -> tuple[np.ndarray, int, int]:
    """Numbers (or their text, parsed as `pandas.to_numeric(errors="coerce")` does) as float64, infinities made
    missing; with the count of values that were no number and of infinities. pyarrow's cast is the fast path;
    the values it refuses (spaces around a number, `1,000`) go through pandas, as before."""
    try:
        numbers = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        numbers = pd.to_numeric(values.to_pandas(), errors="coerce").to_numpy(dtype=float)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    infinities = np.isinf(numbers)
    not_numbers = int(np.count_nonzero(np.isnan(numbers) & present))
    if infinities.any():
        numbers = np.where(infinities, np.nan, numbers)
    return numbers, not_numbers, int(infinities.sum())
