"""The endpoint's handlers inside the XGBoost container's own serving stack: sagemaker-containers 2.8.6.post2
(the container's pin, installed as its Dockerfile installs it), whose Transformer and Worker serve a script-mode
model. A client error must reach the caller as a 4xx there, not as the 500 the toolkit makes of an exception."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sagemaker_containers import _env, _transformer, _worker

from ml_code.inference import serving_entry


@pytest.fixture(scope="module")
def container(churn_model_dir):
    """The Flask app the container builds for a module with model_fn and transform_fn (its serving.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_env, "model_dir", str(churn_model_dir))
        transformer = _transformer.Transformer(model_fn=serving_entry.model_fn, transform_fn=serving_entry.transform_fn)
        transformer.initialize()
        app = _worker.Worker(transform_fn=transformer.transform, module_name="inference")
        yield app.test_client()


def invoke(client, body: str, content_type: str, accept: str = "application/json"):
    return client.post("/invocations", data=body, headers={"Content-Type": content_type, "Accept": accept})


def test_records_are_scored(container, churn_prepared):
    records = pd.read_csv(churn_prepared.raw_csv, dtype=str).head(3)
    response = invoke(container, records.to_csv(index=False), "text/csv")
    assert response.status_code == 200
    assert len(json.loads(response.data)["predictions"]) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        ('{"plan": ', "application/json", "application/json", 400),
        ("[" * 10_000 + "]" * 10_000, "application/json", "application/json", 400),
        ("x", "application/x-npy", "application/json", 415),
        (None, "application/json", "application/x-protobuf", 406),  # a whole record, an accept type it lacks
    ],
)
def test_client_errors_are_4xx_in_the_container(container, churn_prepared, body, content_type, accept, status):
    if body is None:
        body = pd.read_csv(churn_prepared.raw_csv, dtype=str).head(1).to_json(orient="records")
    response = invoke(container, body, content_type, accept)
    assert response.status_code == status
    assert set(json.loads(response.data)) == {"error", "message"}


def test_without_transform_fn_the_toolkit_would_answer_500(churn_model_dir):
    # what the container does with an exception from input_fn: the reason serving_entry answers itself
    from ml_code.inference import inference

    transformer = _transformer.Transformer(
        model_fn=lambda _dir: inference.model_fn(str(churn_model_dir)),
        input_fn=inference.input_fn,
        predict_fn=inference.predict_fn,
        output_fn=inference.output_fn,
    )
    transformer.initialize()
    client = _worker.Worker(transform_fn=transformer.transform, module_name="inference").test_client()
    assert invoke(client, '{"plan": ', "application/json").status_code == 500
