"""Serving handlers for the SageMaker XGBoost container: raw feature records in, predictions out.

Requests are `text/csv` (with a header row, or columns in the order of the model's input columns) or
`application/json` (a record, a list of records, or `{"instances": [...]}`); the feature transform is
applied here, so clients send raw values. Responses are JSON (`{"predictions": [...]}`) or CSV.
`transform` answers a whole request: a client error becomes its 4xx status with the reason, never a 5xx.

`Accept: application/json; verbose=true` adds each record's explanation: its largest contributions by raw
column (exact TreeSHAP, on the model's margin: log-odds for a classifier) and the bias they add up from.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # loaded from a file, as SageMaker does: import from the source root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xgboost as xgb  # noqa: E402

from ml_code.inference.explanations import by_column, feature_contributions  # noqa: E402
from ml_code.inference.record_encoder import RecordEncoder  # noqa: E402
from ml_code.paths import MODEL_FILE, TRANSFORM_FILE  # noqa: E402
from ml_code.settings import MAX_RECORDS_PER_REQUEST as MAX_RECORDS  # noqa: E402
from ml_code.settings import MAX_REQUEST_BYTES  # noqa: E402
from ml_code.transform.features import FeatureTransform  # noqa: E402

JSON = "application/json"
CSV = "text/csv"
TOP_CONTRIBUTIONS = 5  # per record, in a verbose response
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class RequestError(ValueError):
    """The request cannot be scored; the message says why and `status` is the HTTP status to answer with."""

    status = 400


class UnsupportedContentType(RequestError):
    status = 415


class UnsupportedAccept(RequestError):
    status = 406


class TooManyRecords(RequestError):
    status = 413


_LARGEST_FLOAT_INT = int(sys.float_info.max)
# A CSV row wider than this is no record nor header of the model's (a header may name other columns too)
MIN_CSV_FIELDS, CSV_FIELDS_PER_INPUT = 1000, 10


@dataclass(frozen=True)
class LoadedModel:
    booster: xgb.Booster
    transform: FeatureTransform
    records: RecordEncoder  # the transform of a few plain JSON records, without pandas


def model_fn(model_dir: str) -> LoadedModel:
    booster = xgb.Booster()
    booster.load_model(str(Path(model_dir) / MODEL_FILE))
    transform = FeatureTransform.from_json((Path(model_dir) / TRANSFORM_FILE).read_text())
    return LoadedModel(booster=booster, transform=transform, records=RecordEncoder(transform))


def input_fn(request_body: str | bytes, request_content_type: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Parse raw feature records: JSON records by name; CSV rows by position (named in `predict_fn`). With the
    model's input `columns`, only those are read: a JSON record's other keys cost nothing, and a CSV row of another
    width is refused before it is parsed into a table."""
    text, content_type = _request_text(request_body, request_content_type)
    if content_type == JSON:
        return _records_frame(_json_records(text), columns)
    return _csv_frame(text, columns)


def _request_text(request_body: str | bytes, request_content_type: str) -> tuple[str, str]:
    """The body as text and its media type (JSON or CSV), once the limits and the encoding are checked."""
    content_type = (request_content_type or "").split(";")[0].strip().lower()
    if content_type not in (JSON, CSV):
        raise UnsupportedContentType(f"unsupported content type {request_content_type!r}: use {JSON} or {CSV}")
    # the limits first: a body that is too big is refused before any time or memory goes into parsing it
    size = len(request_body) if isinstance(request_body, (bytes, bytearray)) else len(request_body.encode())
    if size > MAX_REQUEST_BYTES:
        raise TooManyRecords(f"{size} bytes in one request; send at most {MAX_REQUEST_BYTES}")
    if isinstance(request_body, (bytes, bytearray)):
        try:
            request_body = request_body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise RequestError(f"the request body is not UTF-8 text: {error}") from error
    elif "\ufffd" in request_body:  # decoded by the server, which replaces what is not UTF-8: the same refusal
        raise RequestError("the request body is not UTF-8 text: it holds bytes the server could not decode")
    request_body = request_body.removeprefix("\ufeff")  # a byte-order mark is no part of the first name or value
    if not request_body.strip():
        raise RequestError("the request body is empty: send one or more feature records")
    return request_body, content_type


def _csv_frame(text: str, columns: list[str] | None) -> pd.DataFrame:
    if text.count("\n") > MAX_RECORDS + 1:  # a header and the records, at most
        raise TooManyRecords(f"{MAX_RECORDS + 1} lines or more in one CSV request; send at most {MAX_RECORDS} records")
    frame = _records_from_csv(text, len(columns) if columns is not None else None)
    records = len(frame)
    if columns is not None and records and set(_first_row_names(frame)) >= set(columns):
        records -= 1  # its header
    _check_count(records)
    return frame


def _check_count(records: int) -> None:
    if records > MAX_RECORDS:
        raise TooManyRecords(f"{records} records in one request; send at most {MAX_RECORDS}")


def predict_fn(records: pd.DataFrame, model: LoadedModel) -> list[dict[str, Any]]:
    return _predictions(_features(records, model), model)


def explain_fn(records: pd.DataFrame, model: LoadedModel) -> list[dict[str, Any]]:
    """Predictions, each with its explanation (`bias` and the largest `contributions` by raw column)."""
    return _explained(_features(records, model), model)


def _explained(features: np.ndarray, model: LoadedModel) -> list[dict[str, Any]]:
    attributions = by_column(feature_contributions(model.booster, features, model.transform.features), model.transform)
    return [
        {
            **prediction,
            "explanation": {
                "bias": float(attributions.bias[row]),
                "contributions": attributions.top(row, TOP_CONTRIBUTIONS),
            },
        }
        for row, prediction in enumerate(_predictions(features, model))
    ]


def _features(records: pd.DataFrame, model: LoadedModel, imputed: dict[str, int] | None = None) -> np.ndarray:
    """The model's feature matrix of raw records (CSV rows named first); `imputed` gets, per column, how many of
    its values could not be read as its type and were imputed. Refused, as no input of the model: a date sent as a
    number (`_check_dates`), and a column of two or more values none of which is of its type. Messages hold no
    value."""
    transform = model.transform
    by_position = isinstance(records.columns, pd.RangeIndex)
    if by_position:  # CSV: a header row, or values in input-column order
        records = _name_csv_columns(records, transform)
    missing = [column for column in transform.input_columns if column not in records.columns]
    if missing:
        raise RequestError(f"records lack input column(s) {missing}; the model needs {transform.input_columns}")
    _check_dates(records, transform)
    found: dict[str, tuple[int, int]] = {}
    features = transform.apply(records, unusable=found).to_numpy(float)
    for column, (unusable, present) in found.items():
        if unusable >= 2 and unusable == present:  # no input of the model: a header-less CSV in another order, say
            kind = "date" if column in transform.datetime_age else "finite number"
            order = f" (a CSV without a header lists {', '.join(transform.input_columns)}, in this order)"
            raise RequestError(
                f"column {column!r}: none of its {unusable} values is a {kind}{order if by_position else ''}"
            )
        if unusable and imputed is not None:
            imputed[column] = unusable
    return features


def _check_dates(records: pd.DataFrame, transform: FeatureTransform) -> None:
    """A number or true/false in a date column is refused: it would be read as a time since 1970. The message holds
    no value."""
    for column in transform.datetime_age:
        values = records[column].to_numpy(dtype=object)
        typed = sum(not isinstance(value, str) for value in values[pd.notna(values)])
        if typed:
            raise RequestError(
                f"column {column!r} takes dates as text (ISO 8601, as 2024-05-01); {typed} record(s) send a "
                "number or true/false"
            )


def _predictions(features: np.ndarray, model: LoadedModel) -> list[dict[str, Any]]:
    scores = model.booster.inplace_predict(features)  # the same scores as a DMatrix's, without building one
    return answers(scores, model.transform)


def answers(scores: np.ndarray, transform: FeatureTransform) -> list[dict[str, Any]]:
    """What the endpoint answers for the model's scores, record by record (the evaluation's answer baseline too)."""
    if transform.problem_type == "binary_classification":
        return [
            {
                "probability": float(p),
                "label": transform.positive_label if p >= 0.5 else transform.negative_answer,
            }
            for p in scores
        ]
    if transform.problem_type == "multiclass_classification":
        return [
            {
                "probabilities": dict(zip(transform.classes, map(float, row), strict=True)),
                "label": transform.classes[int(np.argmax(row))],
            }
            for row in scores
        ]
    return [{"value": float(value)} for value in scores]


def output_fn(
    predictions: list[dict[str, Any]], accept: str, *, imputed: dict[str, int] | None = None
) -> tuple[str, str]:
    """The predictions as JSON (with `imputed`: per column, how many values could not be read and were imputed,
    when any were) or as CSV rows."""
    accept = _media_type(accept or JSON)
    if accept in (JSON, "*/*"):
        answer = {"predictions": predictions, **({"imputed": imputed} if imputed else {})}
        return json.dumps(answer, allow_nan=False), JSON
    if accept == CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for prediction in predictions:
            writer.writerow(_csv_row(prediction))
        return buffer.getvalue(), CSV
    raise UnsupportedAccept(f"unsupported accept type {accept!r}: use {JSON} or {CSV}")


def transform(model: LoadedModel, body: str | bytes, content_type: str, accept: str) -> tuple[str, str, int]:
    """One request, end to end: (response body, its content type, HTTP status). A client error answers with
    its status and `{"error": ..., "message": ...}`; anything else is the server's fault and propagates."""
    try:
        accept = _chosen(accept)
        records = _request_records(body, content_type, model)
        verbose = _verbose(accept)
        if verbose and _media_type(accept or JSON) not in (JSON, "*/*"):
            raise UnsupportedAccept(f"explanations (verbose=true) come as {JSON}, not {accept!r}")
        imputed: dict[str, int] = {}
        features = np.array(records, dtype=float) if isinstance(records, list) else _features(records, model, imputed)
        predictions = _explained(features, model) if verbose else _predictions(features, model)
        response, response_type = output_fn(predictions, accept, imputed=imputed)
    except RequestError as error:
        return json.dumps({"error": type(error).__name__, "message": str(error)}), JSON, error.status
    return response, response_type, 200


def _request_records(body: str | bytes, content_type: str, model: LoadedModel) -> list[list[float]] | pd.DataFrame:
    """A request's records: a few plain JSON records as their feature rows already (no table: one record a
    request is the endpoint's usual load), any others as the table `_features` encodes."""
    text, kind = _request_text(body, content_type)
    columns = model.transform.input_columns
    if kind == CSV:
        return _csv_frame(text, columns)
    records = _json_records(text)
    rows = model.records.encode(records)
    return rows if rows is not None else _records_frame(records, columns)


def _media_type(accept: str) -> str:
    return accept.split(";")[0].strip().lower()


def _chosen(accept: str | None) -> str:
    """The media range of an Accept header to answer with: of those this endpoint serves (JSON, CSV, `*/*`), the
    first by quality, then by order, so `text/csv, application/json` answers CSV. None of them: 406."""
    ranges = []
    for order, part in enumerate((accept or JSON).split(",")):
        if not part.strip():
            continue
        quality = 1.0
        for parameter in part.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    raise RequestError(f"the Accept header's quality {value.strip()!r} is not a number") from None
        if quality > 0 and _media_type(part) in (JSON, CSV, "*/*"):
            ranges.append((-quality, order, part.strip()))
    if not ranges:
        raise UnsupportedAccept(f"unsupported accept type {accept!r}: use {JSON} or {CSV}")
    return min(ranges)[2]


def _verbose(accept: str | None) -> bool:
    """Whether the Accept header asks for explanations: `verbose=true` (or `false`; any other value is an error)."""
    for parameter in (accept or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "verbose":
            value = value.strip().lower()
            if value not in ("true", "false"):
                raise RequestError(f"verbose={value} in the Accept header: use verbose=true or verbose=false")
            return value == "true"
    return False


def _csv_row(prediction: dict[str, Any]) -> list[Any]:
    """One CSV line: `value` (regression), `probability,label` (binary) or `label,p_1,...,p_k` (multiclass,
    classes in sorted order)."""
    if "value" in prediction:
        return [prediction["value"]]
    if "probabilities" in prediction:
        return [prediction["label"], *prediction["probabilities"].values()]
    return [prediction["probability"], prediction["label"]]


def _json_records(body: str) -> list[dict[str, Any]]:
    """The records of a JSON body: a record, a list of records, or `{"instances": [...]}`."""
    try:
        payload = json.loads(body)  # NaN and Infinity, which Python's json writes, read as missing values
    except json.JSONDecodeError as error:
        raise RequestError(f"malformed JSON at line {error.lineno} column {error.colno}: {error.msg}") from error
    except RecursionError as error:
        raise RequestError("the JSON is nested too deeply: send a record, or a list of flat records") from error
    if isinstance(payload, dict) and "instances" in payload:
        payload = payload["instances"]
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list) or not payload:
        raise RequestError('JSON must be a record, a non-empty list of records, or {"instances": [...]}')
    bad = [i for i, record in enumerate(payload) if not isinstance(record, dict)]
    if bad:
        raise RequestError(f"JSON records must be objects of column -> value; item(s) {bad[:5]} are not")
    _check_count(len(payload))
    return payload


def _records_frame(payload: list[dict[str, Any]], columns: list[str] | None = None) -> pd.DataFrame:
    wanted = columns if columns is not None else list(dict.fromkeys(name for record in payload for name in record))
    table = {}
    for name in wanted:  # column by column: time and memory follow the records' size, not the union of their keys
        values = [record.get(name) for record in payload]
        if any(isinstance(value, (dict, list)) for value in values):
            raise RequestError(f"record values must be numbers, text or null; column {name!r} holds objects")
        if any(name in record for record in payload):
            table[name] = [_finite_or_inf(value) for value in values]
    return pd.DataFrame(table, index=pd.RangeIndex(len(payload)))


def _finite_or_inf(value: Any) -> Any:
    """An integer too large for a float (`10**400`) becomes an infinity, which the transform reads as missing."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST_FLOAT_INT:
        return math.inf if value > 0 else -math.inf
    return value


def _records_from_csv(body: str, width: int | None = None) -> pd.DataFrame:
    if width is not None:  # the first row says the width: one far too wide is refused before the table is built
        first = next(csv.reader(io.StringIO(body.lstrip("\r\n")), skipinitialspace=True), [])
        widest = max(MIN_CSV_FIELDS, CSV_FIELDS_PER_INPUT * width)  # a header may name other columns, not that many
        if len(first) > widest or (len(first) != width and "\n" not in body.strip()):
            raise RequestError(
                f"a CSV record has {len(first)} values; the model takes {width} (a header may name more, up to "
                f"{widest}, with records below it)"
            )
    try:
        rows = [row for row in csv.reader(io.StringIO(body), skipinitialspace=True) if row]
    except csv.Error as error:  # a NUL byte, for one
        raise RequestError(f"the CSV cannot be read: {error}") from error
    widths = sorted({len(row) for row in rows})
    if len(widths) != 1:
        raise RequestError(f"every CSV record needs the same number of values; got rows with {widths}")
    return pd.DataFrame(rows).replace("", np.nan)


def _name_csv_columns(rows: pd.DataFrame, transform: FeatureTransform) -> pd.DataFrame:
    """Name CSV rows by their header, or by the model's input-column order when there is none. A first row that
    looks like names but is not the model's header is an error: scoring it as a record would shift every
    prediction onto the wrong record."""
    input_columns = transform.input_columns
    first = _first_row_names(rows)
    if set(first) >= set(input_columns):
        if len(rows) == 1:
            raise RequestError("the CSV has a header but no records")
        return pd.DataFrame(rows.iloc[1:].to_numpy(), columns=first)
    if _looks_like_a_header(rows, first, transform):
        missing = sorted(set(input_columns) - set(first))
        extra = set(first) - set(input_columns)
        # only what could be a column name: should the row be a record after all, its values stay out of the reply
        unexpected = sorted(value for value in extra if _NAME.match(value))
        others = f" and {len(extra) - len(unexpected)} other value(s)" if len(extra) > len(unexpected) else ""
        raise RequestError(
            f"the first CSV row looks like a header but does not name the model's columns: missing {missing}, "
            f"unexpected {unexpected}{others}; send the header {','.join(input_columns)}, or no header"
        )
    if rows.shape[1] != len(input_columns):
        raise RequestError(
            f"a CSV record without a header needs {len(input_columns)} values in this order: "
            f"{', '.join(input_columns)}; got {rows.shape[1]}"
        )
    return rows.set_axis(input_columns, axis=1)


def _first_row_names(rows: pd.DataFrame) -> list[str]:
    """The first CSV row's values as column names would read: text, spaces around it dropped (`plan ,` names plan)."""
    return [str(value).strip() for value in rows.iloc[0].tolist()]


def _looks_like_a_header(rows: pd.DataFrame, first: list[str], transform: FeatureTransform) -> bool:
    """Column names (ignoring case) for at least half the first row's values (one name among values is a category
    that happens to be spelled as a column), or text where the model reads numbers while the rows below hold
    numbers there."""
    names = {column.strip().lower() for column in transform.input_columns}
    if 2 * sum(value.strip().lower() in names for value in first) >= len(first):
        return True
    if len(rows) < 2 or rows.shape[1] != len(transform.input_columns):
        return False
    number_columns = [i for i, column in enumerate(transform.input_columns) if column in transform.numeric]
    below = rows.iloc[1:]
    return any(
        _is_text(first[i]) and pd.to_numeric(below.iloc[:, i], errors="coerce").notna().all() for i in number_columns
    )


def _is_text(value: str) -> bool:
    """Not a number and not empty: what a column name in a numeric column would be."""
    if not value.strip() or value.strip().lower() in ("nan", "null", "none", "na"):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False
