"""File access for the ETL through Spark's Hadoop file system: the same code reads S3 on Glue and disk locally."""

from __future__ import annotations

import json
import re

from py4j.protocol import Py4JJavaError
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


class UnreadableFile(ValueError):
    """A file the file system refuses to return (locally: its content no longer matches its `.crc` checksum); the
    message is the file and the cause."""


def read_texts(spark: SparkSession, uris: list[str]) -> dict[str, str]:
    """Whole small files (manifests) as text, by file, in one read; if that read fails, the file that cannot be
    read is found and named (UnreadableFile)."""
    if not uris:
        return {}
    texts = spark.read.text(uris, wholetext=True).select(F.col("_metadata.file_path").alias("file"), "value")
    try:
        rows = texts.collect()
    except Py4JJavaError:
        for uri in uris:
            read_text(spark, uri)
        raise
    by_file = {same_file(row["file"]): row["value"] for row in rows}
    return {uri: by_file[same_file(uri)] for uri in uris}


def read_text(spark: SparkSession, uri: str) -> str:
    """One small file as UTF-8 text, through the file system; one it refuses to return is an UnreadableFile."""
    filesystem, path = _filesystem(spark, uri)
    try:
        stream = filesystem.open(path)
        try:
            return spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
    except Py4JJavaError as error:
        cause = error.java_exception
        raise UnreadableFile(f"{uri} ({cause.getClass().getSimpleName()}: {cause.getMessage()})") from None


def file_exists(spark: SparkSession, uri: str) -> bool:
    filesystem, path = _filesystem(spark, uri)
    return bool(filesystem.exists(path))


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


EMPTY_FILE, BINARY_FILE, NOT_UTF8, NOT_JSON = "empty_file", "binary_file", "not_utf8", "not_json"


def same_file(uri: str) -> str:
    """A file's URI as Spark's `_metadata.file_path` and Hadoop's listing both write it (`file:/x` or `file:///x`)."""
    return re.sub(r"^file:/+", "file:///", uri)


def screen_files(spark: SparkSession, files: list[str]) -> dict[str, str]:
    """The files that cannot hold JSON records, with the reason (`empty_file`: nothing but blanks,
    `binary_file`: a NUL byte, `not_utf8`: bytes that are not UTF-8, read as U+FFFD), in one pass over their
    lines. A file of which no record parses as JSON is found when it is parsed (`EtlResult.unparsed_files`)."""
    if not files:
        return {}
    lines = spark.read.text(files).select(F.col("_metadata.file_path").alias("file"), F.col("value"))
    found = {
        same_file(row["file"]): row
        for row in lines.groupBy("file")
        .agg(
            F.sum((F.trim(F.col("value")) != "").cast("int")).alias("content"),
            F.max(F.col("value").contains("\u0000").cast("int")).alias("binary"),
            F.max(F.col("value").rlike("\\uFFFD").cast("int")).alias("not_utf8"),
        )
        .collect()
    }
    rejected = {}
    for uri in files:
        row = found.get(same_file(uri))
        if row is None or not row["content"]:
            rejected[uri] = EMPTY_FILE
        elif row["binary"]:
            rejected[uri] = BINARY_FILE
        elif row["not_utf8"]:
            rejected[uri] = NOT_UTF8
    return rejected


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
            if frame.columns == [CORRUPT_COLUMN]:
                # no record of these files parsed, and Spark refuses any query of such a read: their text, as
                # the corrupt records it would have kept (a line each, or a whole array file)
                frame = _as_corrupt_records(spark, group, whole_files=multi_line)
            frames.append(frame.withColumn(SOURCE_COLUMN, F.col("_metadata.file_path")))
    if not frames:
        raise FileNotFoundError("no input files to read")
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame, allowMissingColumns=True)
    return combined


def _as_corrupt_records(spark: SparkSession, files: list[str], *, whole_files: bool) -> DataFrame:
    text = spark.read.text(files, wholetext=whole_files)
    return text.filter(F.trim(F.col("value")) != "").withColumnRenamed("value", CORRUPT_COLUMN)


def dumps(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
