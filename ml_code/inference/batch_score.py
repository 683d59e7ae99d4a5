"""Batch scoring (a SageMaker processing step): curated CSV in, predictions with the records' ids out.

Scores every CSV under the input folder with the model an endpoint would serve, through the same handlers
(`inference.model_fn` and `predict_fn`), in chunks so memory stays flat whatever the file sizes. Each input
file `<path>.csv` gives `predictions/<path>.csv`: the contract's id columns (or the row number when it has none),
then `probability,label` (binary), `label,probability_<class>...` (multiclass) or `value` (regression).
`_scoring.json` records the package, the files and the record counts.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse  # noqa: E402
import codecs  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import pandas as pd  # noqa: E402

from ml_code.contracts.contract import ContractError, DatasetContract, load_contract  # noqa: E402
from ml_code.inference.inference import LoadedModel, model_fn, predict_fn  # noqa: E402
from ml_code.paths import (  # noqa: E402
    APPROVED_MODEL_FILE,
    APPROVED_MODEL_OUTPUT,
    MODEL_ARCHIVE,
    PREDICTIONS_OUTPUT,
    PROCESSING_BASE,
    PROCESSING_FAILURE_FILE,
    PROCESSING_INPUT_DATA,
    SCORING_MODEL_INPUT,
    SCORING_SUMMARY_FILE,
)
from ml_code.runtime import atomic_write_text, configure_logging, parse_known, run_step  # noqa: E402

logger = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
HEADER_BYTES = 1 << 20  # what is read of a file to check its header
_HMAC_HEX = r"[0-9a-f]{64}"  # the ETL's HMAC-SHA256 of a hashed column, as lowercase hex
ROW_COLUMN = "row"  # the record's position in its file, when the contract has no id columns


def load_packaged_model(model_tar: Path, workdir: Path) -> LoadedModel:
    """Unpack model.tar.gz as the container does and load it with the serving code's `model_fn`."""
    with tarfile.open(model_tar) as archive:
        archive.extractall(workdir, filter="data")
    return model_fn(str(workdir))


def prediction_columns(predictions: list[dict[str, Any]]) -> dict[str, list]:
    """The predictions as named columns (see the module's docstring)."""
    first = predictions[0]
    if "value" in first:
        return {"value": [p["value"] for p in predictions]}
    if "probabilities" in first:
        classes = list(first["probabilities"])
        columns = {"label": [p["label"] for p in predictions]}
        columns.update({f"probability_{c}": [p["probabilities"][c] for p in predictions] for c in classes})
        return columns
    return {"probability": [p["probability"] for p in predictions], "label": [p["label"] for p in predictions]}


def check_curated(source: Path, contract: DatasetContract) -> None:
    """Refuse, before scoring, what is not the ETL's curated CSV of `contract`: bytes that are not UTF-8 text, a
    first line that names none of its columns (no header, or not comma-separated), columns the ETL leaves in the
    raw bucket, hashed columns that hold raw values. Messages name columns only when the first line is a header:
    otherwise they would be values."""
    with source.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
    if b"\0" in head:
        raise ContractError(f"{source} is binary, not a CSV file")
    try:  # incremental: a character the read cut in two at its end is no error
        first_line = codecs.getincrementaldecoder("utf-8-sig")().decode(head.split(b"\n", 1)[0]).rstrip("\r")
    except UnicodeDecodeError:
        raise ContractError(f"{source} is not UTF-8 text, as the ETL's curated CSV is") from None
    columns = next(csv.reader([first_line]), [])
    if first_line and not set(contract.declared_columns) & set(columns):
        separator = " (it is not comma-separated)" if ";" in first_line or "\t" in first_line else ""
        raise ContractError(
            f"{source}: its first line names none of contract {contract.name!r}'s columns{separator}: expected the "
            "ETL's curated CSV, with its header"
        )
    if contract.numeric:  # the curated columns are an allowlist
        outside = [column for column in columns if column not in contract.curated_columns]
    else:  # any undeclared column may be a feature: what the contract drops is known
        outside = [column for column in columns if column in (*contract.pii_drop, *contract.drop)]
    if outside:
        raise ContractError(
            f"{source} is not curated data: column(s) {outside} stay in the raw bucket (the ETL drops them); score "
            "the ETL's curated output"
        )
    hashed = [column for column in contract.pii_hash if column in columns]
    if hashed:  # the first records here, every record as it is scored
        _check_hashed(source, pd.read_csv(source, dtype=str, usecols=hashed, nrows=CHUNK_ROWS), hashed)


def _check_hashed(source: Path, chunk: pd.DataFrame, hashed: list[str]) -> None:
    """The contract's hashed columns hold the ETL's HMACs, never raw values (which would reach the predictions)."""
    for column in hashed:
        values = chunk[column].dropna()
        if not values.str.fullmatch(_HMAC_HEX).all():
            raise ContractError(
                f"{source} is not curated data: column {column!r} holds values that are not the ETL's hashes; score "
                "the ETL's curated output"
            )


def score_file(
    source: Path, destination: Path, model: LoadedModel, id_columns: list[str], hashed: tuple[str, ...] = ()
) -> int:
    """Score one CSV into `destination` (written whole or not at all); the number of records. The `hashed`
    columns must hold the ETL's hashes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    records = 0
    with tempfile.NamedTemporaryFile(
        "w", dir=destination.parent, prefix=f".{destination.name}.", delete=False, newline=""
    ) as handle:
        temporary = Path(handle.name)
        try:
            for chunk in _chunks(source):
                missing = [column for column in id_columns if column not in chunk.columns]
                if missing:
                    raise ContractError(f"{source}: no id column(s) {missing} to file the predictions under")
                _check_hashed(source, chunk, [column for column in hashed if column in chunk.columns])
                ids = (
                    chunk[id_columns]
                    if id_columns
                    else pd.DataFrame({ROW_COLUMN: range(records, records + len(chunk))})
                )
                scored = pd.DataFrame(prediction_columns(predict_fn(chunk, model)), index=chunk.index)
                pd.concat([ids.set_axis(chunk.index), scored], axis=1).to_csv(handle, header=records == 0, index=False)
                records += len(chunk)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
    if records == 0:
        temporary.unlink()
        raise ContractError(f"{source} has a header but no records")
    os.replace(temporary, destination)
    return records


def _chunks(source: Path):
    try:
        for chunk in pd.read_csv(source, dtype=str, keep_default_na=True, chunksize=CHUNK_ROWS):
            if not chunk.empty:
                yield chunk
    except pd.errors.EmptyDataError as error:
        raise ContractError(f"{source} is empty: expected a CSV file with a header and records") from error


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """What goes wrong with a file (a value the model's handlers refuse, bytes pandas cannot decode) is said of it."""
    try:
        yield
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise ContractError(f"{path}: {error}") from error


def score(base_dir: Path, contract: DatasetContract, input_dir: Path | None = None) -> dict:
    """The whole step: every input CSV scored into predictions/, then the summary."""
    input_dir = input_dir or base_dir / PROCESSING_INPUT_DATA
    files = sorted(path for path in input_dir.rglob("*.csv") if path.is_file())
    if not files:
        raise ContractError(f"no CSV file under {input_dir} to score")
    chosen = json.loads((base_dir / APPROVED_MODEL_OUTPUT / APPROVED_MODEL_FILE).read_text())
    output_dir = base_dir / PREDICTIONS_OUTPUT
    with tempfile.TemporaryDirectory() as unpacked:
        model = load_packaged_model(base_dir / SCORING_MODEL_INPUT / MODEL_ARCHIVE, Path(unpacked))
        for path in files:  # every file is checked before any is scored
            with _naming(path):
                check_curated(path, contract)
        counts = {}
        for path in files:
            relative = path.relative_to(input_dir)
            with _naming(path):
                counts[str(relative)] = score_file(
                    path, output_dir / relative, model, list(contract.id_columns), contract.pii_hash
                )
    summary = {
        "model_package_arn": chosen["model_package_arn"],
        "model_package_version": chosen["model_package_version"],
        "contract": contract.name,
        "files": counts,
        "records": sum(counts.values()),
    }
    atomic_write_text(output_dir / SCORING_SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True, allow_nan=False))
    logger.info("scored %d records in %d file(s) with %s", summary["records"], len(files), chosen["model_package_arn"])
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contract", required=True, help="a contract file, or the name of a shipped contract")
    parser.add_argument("--base-dir", type=Path, default=Path(PROCESSING_BASE))
    parser.add_argument("--failure-file", default=PROCESSING_FAILURE_FILE)
    return parse_known(parser, argv)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    return run_step(lambda: score(args.base_dir, load_contract(args.contract)), args.failure_file)


if __name__ == "__main__":
    sys.exit(main())
