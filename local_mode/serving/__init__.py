"""`local_mode serve`: the SageMaker serving contract on this machine. The launcher (endpoint.py) runs in the CDK
app's environment; the server (wsgi.py under gunicorn) runs in the ML environment, as the container would.

The launcher hands the server its settings in these environment variables (standard library only here).
"""

MODEL_DIR_ENV = "LOCAL_ENDPOINT_MODEL_DIR"  # the unpacked model.tar.gz: the model files and code/
CAPTURE_ENV = "LOCAL_ENDPOINT_CAPTURE"  # JSON: destination, endpoint, variant, sampling percentage (unset: none)
SETTINGS_ENV = "LOCAL_ENDPOINT_SERVER"  # JSON: bind address, workers, threads, log file for gunicorn
ENDPOINT_ENV = "LOCAL_ENDPOINT_NAME"  # JSON: the endpoint's name and variant, which the runtime API's path names
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
