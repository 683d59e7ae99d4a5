"""Fails any attempt to reach a non-loopback address, in the test process and in its Python subprocesses.

tests/conftest.py installs it in the test process and puts this folder on PYTHONPATH, where
sitecustomize.py installs it in every Python subprocess the tests start (local mode's steps, for example).
"""

from __future__ import annotations

import ipaddress
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkAccessError(RuntimeError):
    """Raised instead of opening a connection that would leave this machine."""


def is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: object) -> None:
    if isinstance(address, (str, bytes)):  # AF_UNIX paths stay on the machine
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not is_loopback(host):
        raise NetworkAccessError(f"tests are offline: refused a connection to {address!r}")


def install() -> None:
    """Patch socket connects and name lookups; idempotent."""
    if getattr(socket.socket, "_offline_guard", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto
    original_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        _check(address)
        return original_connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return original_connect_ex(self, address)

    def sendto(self, data, *args):
        _check(args[-1])
        return original_sendto(self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not is_loopback(name):
            raise NetworkAccessError(f"tests are offline: refused to look up {name!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    socket.getaddrinfo = getaddrinfo
    socket.socket._offline_guard = True
