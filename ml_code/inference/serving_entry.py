"""The endpoint's entry point: training copies this file to `<model>/code/inference.py` beside the ml_code
package, and the container (SAGEMAKER_PROGRAM=inference.py) loads the handlers from here.

The container calls `transform_fn` for each request and sends back the Flask response it returns, status
included: a client error is answered 4xx with its reason (the container would turn an exception into a 500).
"""

import flask

from ml_code.inference.inference import model_fn, transform

__all__ = ["model_fn", "transform_fn"]


def transform_fn(model, content, content_type, accept) -> flask.Response:
    body, mimetype, status = transform(model, content, content_type, accept)
    return flask.Response(body, status=status, mimetype=mimetype)
