"""The raw text of some input columns, set aside while the input is read once: batch by batch into an unnamed
file (Arrow's stream format), read back in the same order later. Preprocessing writes the training rows' raw
values for Model Monitor's baseline from it, once it knows which rows train, without parsing the input again."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa


class TextSpill:
    """Batches of `columns` as text (null where missing), each with whether its text may hold quotes. The file has
    no name: it is gone when the spill is closed or the process ends, however it ends."""

    def __init__(self, directory: Path, columns: list[str]) -> None:
        self.columns = list(columns)
        self._schema = pa.schema([(column, pa.string()) for column in self.columns])
        self._file = tempfile.TemporaryFile(dir=directory)
        self._writer: pa.ipc.RecordBatchStreamWriter | None = pa.ipc.new_stream(self._file, self._schema)
        self._quoted: list[bool] = []

    def add(self, columns: dict[str, pa.Array], *, quoted: bool) -> None:
        """One batch: each of the spill's columns (by name) as text or dictionary-encoded text."""
        if self._writer is None:
            raise RuntimeError("the spill is being read back: no more batches can be added")
        arrays = [columns[column].cast(pa.string()) for column in self.columns]
        self._writer.write_batch(pa.record_batch(arrays, schema=self._schema))
        self._quoted.append(quoted)

    def batches(self) -> Iterator[tuple[dict[str, pa.Array], bool]]:
        """The batches in the order they were added, one in memory at a time."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._file.seek(0)
        reader = pa.ipc.open_stream(self._file)
        for batch, quoted in zip(reader, self._quoted, strict=True):
            yield {column: batch.column(column) for column in self.columns}, quoted

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TextSpill:
        return self

    def __exit__(self, *_) -> None:
        self.close()
