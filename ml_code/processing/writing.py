"""Writing preprocessing's CSV outputs at scale with pyarrow: the model matrices (numbers only, no header) and
raw text rows quoted as Python's csv module quotes them (only fields that need it), as pandas wrote them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ml_code.transform.features import FeatureTransform

_NEEDS_QUOTES = r'[",\r\n]'


def csv_lines(columns: list[pa.Array], *, quote: bool = True) -> bytes:
    """Rows of text fields as CSV lines, each ended by a newline; a missing value is an empty field. With
    `quote=False` no field is checked for quoting: for text from a file without a quote character, where no
    field can hold a comma, a quote or a line break."""
    if not quote and len(columns) > 1:  # nothing to quote: pyarrow's writer, twice as fast as joining fields
        table = pa.Table.from_arrays(columns, names=[str(i) for i in range(len(columns))])
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(table, sink, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"))
        return sink.getvalue().to_pybytes()
    return joined_lines([_field(column, alone=len(columns) == 1, quote=quote) for column in columns])


def joined_lines(fields: list[pa.Array]) -> bytes:
    """Fields that are CSV text already, joined by commas into lines that each end with a newline."""
    joined = pc.binary_join_element_wise(*fields, ",") if len(fields) > 1 else fields[0]
    lines = pc.binary_join_element_wise(joined, "", "\n")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def _field(values: pa.Array, *, alone: bool, quote: bool) -> pa.Array:
    values = values.cast(pa.string())
    if quote:
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
        values = pc.if_else(pc.match_substring_regex(values, _NEEDS_QUOTES), quoted, values)
    # an empty line would be skipped by readers: a row of one missing value is written as "" (as csv does)
    return pc.fill_null(values, '""' if alone else "")


def header_line(names: list[str]) -> bytes:
    return csv_lines([pa.array([name]) for name in names])


@dataclass(frozen=True)
class MatrixLayout:
    """How a model matrix row is written: the target, then each feature in the transform's order, where a run
    of one categorical's one-hot features is one field group looked up by the row's category (the text of
    `0,1,0`), not formatted number by number."""

    fields: tuple[tuple[str, str, pa.Array | None], ...]  # ("number", feature, None) or ("group", column, texts)

    @classmethod
    def of(cls, transform: FeatureTransform) -> MatrixLayout:
        one_hot = transform.one_hot_features()
        runs: list[tuple[str, str, list[int] | None]] = []
        for feature in transform.features:
            if feature not in one_hot:
                runs.append(("number", feature, None))
            elif runs and runs[-1][0] == "group" and runs[-1][1] == one_hot[feature][0]:
                runs[-1][2].append(one_hot[feature][1])
            else:
                runs.append(("group", one_hot[feature][0], [one_hot[feature][1]]))
        fields = []
        for kind, name, kept in runs:
            if kind == "group":  # the text for each code, -1 (no category it keeps) first
                categories = len(transform.categorical[name].categories)
                texts = [",".join("1" if index == code else "0" for index in kept) for code in range(-1, categories)]
                fields.append((kind, name, pa.array(texts)))
            else:
                fields.append((kind, name, None))
        return cls(tuple(fields))

    def csv(self, target: np.ndarray, numeric: dict[str, np.ndarray], codes: dict[str, np.ndarray]) -> bytes:
        """The rows as CSV lines: target (float64), then numbers at float32, the precision XGBoost reads them
        in, each with the fewest digits that read back to the same number."""
        columns = [pc.cast(pa.array(target, pa.float64()), pa.string())]
        for kind, name, texts in self.fields:
            if kind == "number":
                columns.append(pc.cast(pa.array(numeric[name].astype(np.float32)), pa.string()))
            else:
                columns.append(pc.take(texts, pa.array(codes[name] + 1)))
        return joined_lines(columns)
