"""The local endpoint's gunicorn worker (runs in .venv-ml, with the container's gunicorn): a graceful stop answers
the connections waiting for it, even one that came before the worker's loop ever ran."""

from __future__ import annotations

import os
import selectors
import socket
from threading import RLock

from gunicorn.config import Config
from gunicorn.glogging import Logger

from local_mode.serving.draining_worker import DrainingThreadWorker

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def worker_on(listener: socket.socket, **settings) -> DrainingThreadWorker:
    """A worker as its process sets one up before its loop (init_process), serving `app` on `listener`."""
    cfg = Config()
    for name, value in {"threads": 2, "graceful_timeout": 10, **settings}.items():
        cfg.set(name, value)
    worker = DrainingThreadWorker(0, os.getppid(), [listener], None, 30, cfg, Logger(cfg))
    worker.tpool, worker.poller, worker._lock, worker.wsgi = (
        worker.get_thread_pool(),
        selectors.DefaultSelector(),
        RLock(),
        app,
    )
    return worker


def answers(clients: list[socket.socket]) -> list[bytes]:
    replies = []
    for client in clients:
        reply = b""
        try:
            while chunk := client.recv(65536):
                reply += chunk
        except ConnectionResetError:
            reply = b"reset"
        replies.append(reply.split(b"\r\n", 1)[0])
        client.close()
    return replies


def test_a_stop_that_came_before_the_loop_still_answers_every_waiting_connection():
    listener = socket.create_server(("127.0.0.1", 0))
    worker = worker_on(listener)
    clients = [socket.create_connection(listener.getsockname(), timeout=20) for _ in range(6)]
    for client in clients:
        client.sendall(REQUEST)
    worker.alive = False  # SIGTERM while the worker was loading its model: its loop never runs
    worker.run()
    assert answers(clients) == [b"HTTP/1.1 200 OK"] * len(clients)


def test_a_quick_stop_drains_nothing():
    listener = socket.create_server(("127.0.0.1", 0))
    worker = worker_on(listener)
    client = socket.create_connection(listener.getsockname(), timeout=20)
    client.sendall(REQUEST)
    worker.alive, worker.quitting = False, True  # SIGQUIT or SIGINT: go at once
    worker.run()
    assert answers([client]) in ([b"reset"], [b""])  # turned away, never answered
