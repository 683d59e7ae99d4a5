"""File access for the ETL through Spark's Hadoop file system: the same code reads S3 on Glue and disk locally."""

from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ml_code.etl.transforms import CORRUPT_COLUMN, SOURCE_COLUMN

_WHITESPACE = {0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF}  # blanks and a UTF-8 byte-order mark


def _filesystem(spark: SparkSession, uri: str):
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark._jsc.hadoopConfiguration()), path


def list_files(spark: SparkSession, uri: str) -> list[str]:
    """Every file under `uri` (or `uri` itself), skipping hidden and marker files (`.x`, `_SUCCESS`)."""
    filesystem, path = _filesystem(spark, uri)
    if not filesystem.exists(path):
        return []
    found = []
    files = filesystem.listFiles(path, True)
    while files.hasNext():
        file_path = files.next().getPath()
        if not file_path.getName().startswith((".", "_")):
            found.append(file_path.toString())
    return sorted(found)


def file_versions(spark: SparkSession, uri: str) -> dict[str, str]:
    """Every file under `uri` (as `list_files` finds them) -> its version, `<size>@<modification time in ms>`:
    a file written again gets a new version (on S3, an overwrite is a new object with a new time)."""
    filesystem, path = _filesystem(spark, uri)
    if not filesystem.exists(path):
        return {}
    found = {}
    files = filesystem.listFiles(path, True)
    while files.hasNext():
        status = files.next()
        if not status.getPath().getName().startswith((".", "_")):
            found[status.getPath().toString()] = f"{status.getLen()}@{status.getModificationTime()}"
    return dict(sorted(found.items()))


def starts_with_array(spark: SparkSession, uri: str) -> bool:
    """Whether a file's first non-blank byte opens a JSON array (a multi-line export, not JSON lines)."""
    filesystem, path = _filesystem(spark, uri)
    stream = filesystem.open(path)
    try:
        byte = stream.read()
        while byte in _WHITESPACE:
            byte = stream.read()
        return byte == ord("[")
    finally:
        stream.close()


def read_texts(spark: SparkSession, uris: list[str]) -> list[str]:
    """Whole small files (manifests) as text."""
    if not uris:
        return []
    return [row[0] for row in spark.read.text(uris, wholetext=True).collect()]


def delete_tree(spark: SparkSession, uri: str) -> None:
    filesystem, path = _filesystem(spark, uri)
    filesystem.delete(path, True)


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    filesystem, path = _filesystem(spark, uri)
    stream = filesystem.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_raw(spark: SparkSession, files: list[str]) -> DataFrame:
    """JSON lines and multi-line JSON arrays, every primitive as text, malformed records kept as text.

    Each record carries its source file. A malformed JSON-lines record is one line; a malformed array file
    is one record.
    """
    arrays = [uri for uri in files if starts_with_array(spark, uri)]
    lines = [uri for uri in files if uri not in set(arrays)]
    frames = []
    for group, multi_line in ((lines, False), (arrays, True)):
        if group:
            frame = (
                spark.read.option("primitivesAsString", True)
                .option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
                .option("multiLine", multi_line)
                .json(group)
            )
            frames.append(frame.withColumn(SOURCE_COLUMN, F.col("_metadata.file_path")))
    if not frames:
        raise FileNotFoundError("no input files to read")
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame, allowMissingColumns=True)
    return combined


def dumps(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
