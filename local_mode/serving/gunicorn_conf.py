"""gunicorn's settings for the local endpoint (read from the launcher's environment) and its shutdown hook."""

import json
import os

from local_mode.serving import SETTINGS_ENV

_settings = json.loads(os.environ[SETTINGS_ENV])
bind = _settings["bind"]
workers = _settings["workers"]
worker_class = "sync"
timeout = 60  # SageMaker gives a request 60 seconds
graceful_timeout = 30
errorlog = _settings["log"]
loglevel = "info"
accesslog = None  # an access line per request would cost more than the request itself


def worker_exit(server, worker) -> None:
    """Flush this worker's data capture before it goes: a clean shutdown loses no captured request."""
    from local_mode.serving import wsgi

    if wsgi.capture is not None:
        wsgi.capture.close()
