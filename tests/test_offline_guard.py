"""The harness itself: the network guard refuses what leaves the machine and lets loopback through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from offline_guard import NetworkAccessError

# TEST-NET-3 (RFC 5737): documentation addresses that route nowhere.
OUTSIDE = ("203.0.113.10", 443)


def test_fails_when_a_test_connects_outside():
    with socket.socket() as sock, pytest.raises(NetworkAccessError, match="203.0.113.10"):
        sock.connect(OUTSIDE)


def test_fails_when_a_test_looks_up_a_public_name():
    with pytest.raises(NetworkAccessError, match="example.com"):
        socket.getaddrinfo("example.com", 443)


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            conn, _ = server.accept()
            conn.close()


def test_fails_when_a_python_subprocess_connects_outside():
    code = f"import socket; socket.socket().connect({OUTSIDE!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert result.returncode != 0
    assert "NetworkAccessError" in result.stderr


def test_offline_settings_are_applied():
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
