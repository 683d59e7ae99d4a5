"""gunicorn's settings for the local endpoint (read from the launcher's environment) and its shutdown hook."""

import json
import os

from local_mode.serving import SETTINGS_ENV

_settings = json.loads(os.environ[SETTINGS_ENV])
bind = _settings["bind"]
workers = _settings["workers"]
# Threads: a client that sends its headers and stalls holds one thread of a worker, not the worker (SageMaker puts
# nginx in front of its container; locally the threads and the body's read deadline, wsgi.BODY_SECONDS, stand in).
worker_class = "local_mode.serving.draining_worker.DrainingThreadWorker"  # gthread, answering its backlog
threads = _settings["threads"]
timeout = 60  # SageMaker gives a request 60 seconds
graceful_timeout = 30
errorlog = _settings["log"]
loglevel = "info"
accesslog = None  # an access line per request would cost more than the request itself


def worker_exit(server, worker) -> None:
    """Close this worker's capture file as it goes (every answered request is on disk already)."""
    from local_mode.serving import wsgi

    if wsgi.capture is not None:
        wsgi.capture.close()
