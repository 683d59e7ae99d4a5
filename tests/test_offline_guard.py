"""The harness itself: the network guard refuses what leaves the machine and lets loopback through."""

from __future__ import annotations

import os
import shutil
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


ISOLATED = os.path.join(os.path.dirname(__file__), "offline", "isolated")
NAMESPACES = (
    bool(shutil.which("unshare")) and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0
)
# what the in-process guard cannot see: a shell's own socket (bash's /dev/tcp), here to TEST-NET-3
SHELL_CONNECTS_OUT = f"exec 3<>/dev/tcp/{OUTSIDE[0]}/{OUTSIDE[1]}"


@pytest.mark.skipif(os.environ.get("OFFLINE_NAMESPACE") != "1", reason="the suite runs without a network namespace")
def test_a_non_python_child_of_the_suite_cannot_connect_out():
    result = subprocess.run(["bash", "-c", SHELL_CONNECTS_OUT], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "Network is unreachable" in result.stderr


@pytest.mark.skipif(not NAMESPACES, reason="this OS gives no network namespace: the in-process guard applies")
def test_the_isolated_runner_leaves_loopback_only():
    # run with -I and without this folder on the path: no in-process guard, only the namespace
    probe = (
        "import socket, subprocess\n"
        "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen(1)\n"
        "socket.create_connection(server.getsockname(), timeout=2)\n"
        "print('loopback')\n"
        f"shell = subprocess.run(['bash', '-c', {SHELL_CONNECTS_OUT!r}], capture_output=True, text=True)\n"
        "print(shell.returncode, shell.stderr)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [ISOLATED, sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.stdout.startswith("loopback\n")
    assert "Network is unreachable" in result.stdout and not result.stdout.splitlines()[1].startswith("0 ")
