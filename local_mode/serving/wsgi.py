"""The endpoint's WSGI application, as the SageMaker XGBoost container builds it for a script-mode model.

The container imports SAGEMAKER_PROGRAM from the model's `code/` folder, calls its `model_fn` once per worker,
and answers `POST /invocations` with the script's `transform_fn` (or `input_fn` -> `predict_fn` -> `output_fn`),
reading `Content-Type` (or `ContentType`) and `Accept` as the container does; `GET /ping` answers 200 once the
model is loaded. Successful requests are offered to data capture. Runs under gunicorn in the ML environment.

Beside the container's paths it answers the SageMaker Runtime API's `POST /endpoints/<name>/invocations` as AWS
does in front of the container, so boto3's `invoke_endpoint` and the SageMaker SDK's `Predictor` work against it
with only the endpoint URL changed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import flask
from werkzeug.exceptions import ClientDisconnected

from local_mode.serving import CAPTURE_ENV, ENDPOINT_ENV, INFERENCE_ID_HEADER, MODEL_DIR_ENV, VARIANT_HEADER
from local_mode.serving.capture import CaptureConfig, DataCapture
from ml_code.paths import ENDPOINT_VARIANT, SERVING_CODE_DIR, SERVING_PROGRAM
from ml_code.settings import MAX_REQUEST_BYTES

JSON = "application/json"
TEXT_TYPES = ("application/json", "text/csv")  # the container hands these to the script as text
DEFAULT_ACCEPT = os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", JSON)


def load_program(model_dir: Path):
    """Import `<model>/code/inference.py` as the container does, with `code/` first on the import path."""
    code_dir = model_dir / SERVING_CODE_DIR
    program = code_dir / SERVING_PROGRAM
    if not program.is_file():
        raise FileNotFoundError(f"the model has no {SERVING_CODE_DIR}/{SERVING_PROGRAM}: {model_dir}")
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(program.stem, program)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def handlers(module):
    """The script's transform: its `transform_fn`, or its three functions chained as the container chains them."""
    chain = [getattr(module, name, None) for name in ("input_fn", "predict_fn", "output_fn")]
    if getattr(module, "transform_fn", None):
        if any(chain):
            raise TypeError("the serving program defines transform_fn and input_fn/predict_fn/output_fn: keep one")
        return module.transform_fn
    if not all(chain):
        raise TypeError("the serving program needs transform_fn, or input_fn, predict_fn and output_fn")
    input_fn, predict_fn, output_fn = chain
    return lambda model, content, content_type, accept: output_fn(
        predict_fn(input_fn(content, content_type), model), accept
    )


BODY_SECONDS = 10.0  # a body (at most 6 MB) not sent within this long is refused


LOCAL_ACCOUNT = "000000000000"


def create_app(
    model_dir: Path, capture: DataCapture | None = None, *, endpoint: str = "", variant: str = ENDPOINT_VARIANT
) -> flask.Flask:
    module = load_program(model_dir)
    model = module.model_fn(str(model_dir))
    transform_fn = handlers(module)
    app = flask.Flask("local_endpoint")

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_served(error) -> flask.Response:  # as every other answer: JSON, never an HTML page
        message = f"{flask.request.method} {flask.request.path}: {error.description}"
        return flask.Response(
            json.dumps({"error": type(error).__name__, "message": message}), status=error.code, mimetype=JSON
        )

    @app.route("/ping", methods=["GET"])  # Flask 1.1 (the container's) has no app.get
    def ping() -> flask.Response:
        return flask.Response(status=200)

    @app.route("/invocations", methods=["POST"])
    def invocations() -> flask.Response:
        request = flask.request
        content_type = request.headers.get("ContentType") or request.headers.get("Content-Type") or JSON
        accept = request.headers.get("Accept")
        accept = DEFAULT_ACCEPT if not accept or accept == "*/*" else accept
        if (request.content_length or 0) > MAX_REQUEST_BYTES:  # refused by its length, before a byte is read
            return too_large(request.content_length)
        connection = request.environ.get("gunicorn.socket")
        if connection is not None:  # a client that stalls mid-body frees its thread: 408, as a front would answer
            connection.settimeout(BODY_SECONDS)
        try:  # a chunked body has no length: read one byte past the limit at most
            body = request.stream.read(MAX_REQUEST_BYTES + 1)
        except (OSError, ClientDisconnected):  # the read timed out, or the client went away
            message = f"the request's body did not arrive within {BODY_SECONDS:g} s"
            return flask.Response(
                json.dumps({"error": "RequestTimeout", "message": message}), status=408, mimetype=JSON
            )
        if len(body) > MAX_REQUEST_BYTES:
            return too_large(None)
        # text as the container hands it over: decoded as UTF-8, anything else replaced (the handler refuses that)
        content = body.decode("utf-8", errors="replace") if content_type in TEXT_TYPES else body
        result = transform_fn(model, content, content_type, accept)
        response = flask.Response(result[0], mimetype=result[1]) if isinstance(result, tuple) else result
        if capture is not None and response.status_code == 200:
            capture.offer(
                input_body=body,
                input_type=content_type,
                output_body=response.get_data(),
                output_type=response.content_type,
                inference_time=datetime.now(timezone.utc),
                inference_id=request.headers.get(INFERENCE_ID_HEADER),
            )
        return response

    @app.route("/endpoints/<name>/invocations", methods=["POST"])
    def runtime_invocations(name: str) -> flask.Response:
        """The SageMaker Runtime API's InvokeEndpoint, as AWS answers it in front of the container: the endpoint by
        name, the variant that answered in a header, and a container's error as a `ModelError` (424) that keeps its
        status and message, so boto3 and the SDK raise what they raise on AWS."""
        if name != endpoint:
            message = f"Endpoint {name} of account {LOCAL_ACCOUNT} not found."
            return runtime_error("ValidationError", 400, {"Message": message})
        response = invocations()
        if response.status_code >= 400:
            kind, code = ("client" if response.status_code < 500 else "server"), response.status_code
            original = response.get_data(as_text=True)
            message = f'Received {kind} error ({code}) from primary with message "{original}".'
            return runtime_error(
                "ModelError", 424, {"Message": message, "OriginalStatusCode": code, "OriginalMessage": original}
            )
        response.headers[VARIANT_HEADER] = variant
        return response

    return app


def too_large(sent: int | None) -> flask.Response:
    """SageMaker's payload limit, as the handler words it (`TooManyRecords`)."""
    size = f"{sent} bytes" if sent else "a body over the limit"
    message = f"{size} in one request; send at most {MAX_REQUEST_BYTES}"
    return flask.Response(json.dumps({"error": "TooManyRecords", "message": message}), status=413, mimetype=JSON)


def runtime_error(kind: str, status: int, body: dict) -> flask.Response:
    """An error of the Runtime API (rest-json: its type in `x-amzn-ErrorType`)."""
    return flask.Response(json.dumps(body), status=status, mimetype=JSON, headers={"x-amzn-ErrorType": kind})


def capture_from_env() -> DataCapture | None:
    raw = os.environ.get(CAPTURE_ENV)
    if not raw:
        return None
    settings = json.loads(raw)
    return DataCapture(
        CaptureConfig(
            destination=Path(settings["destination"]),
            endpoint=settings["endpoint"],
            variant=settings["variant"],
            sampling_percentage=float(settings["sampling_percentage"]),
            model_package_arn=settings.get("model_package_arn"),
        )
    )


capture = capture_from_env()
_endpoint = json.loads(os.environ.get(ENDPOINT_ENV, "{}"))
application = create_app(
    Path(os.environ[MODEL_DIR_ENV]),
    capture,
    endpoint=_endpoint.get("name", ""),
    variant=_endpoint.get("variant", ENDPOINT_VARIANT),
)
