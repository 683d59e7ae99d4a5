"""Defaults and limits the step scripts, local mode and the pipeline definition share, and the variables local mode
sets for the steps it runs. Standard library only, so every side can import it; the paths are in ml_code/paths.py.
"""

# The seed of the split, the training and the bootstrap, unless a run passes its own.
DEFAULT_SEED = 42
# Raw feature records in a package's sample payload, which a smoke test sends to a new endpoint.
SAMPLE_PAYLOAD_RECORDS = 5
# What one request to an endpoint may hold.
MAX_RECORDS_PER_REQUEST = 10_000  # more in one request is a client error (413)
MAX_REQUEST_BYTES = 6 * 1024 * 1024  # SageMaker's real-time payload limit; larger is a 413 before any parsing

# Set by local mode for the steps it runs: its home (local buckets and registry), and the function that makes the
# registry clients there (`module:function`, called with no argument). Both unset on AWS, where boto3's are used.
LOCAL_HOME_ENV = "LOCAL_MODE_HOME"
REGISTRY_CLIENTS_ENV = "MLOPS_REGISTRY_CLIENTS"
