"""A machine without network, for the fresh-machine test (tests/integration/test_fresh_machine.py): on this
folder's ``PYTHONPATH`` and with ``RNNBENCH_TEST_OFFLINE=1``, every name lookup and every connection to
anything but loopback fails as it does where there is no resolver. Nothing else ever loads it."""

import os

if os.environ.get("RNNBENCH_TEST_OFFLINE") == "1":
    import socket

    _getaddrinfo, _connect = socket.getaddrinfo, socket.socket.connect
    _LOOPBACK = ("localhost", "127.0.0.1", "::1")

    def _no_lookup(host, *args, **kwargs):
        if host in _LOOPBACK or host is None:
            return _getaddrinfo(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def _no_connect(self, address):
        if isinstance(address, tuple) and address[0] not in _LOOPBACK:
            raise OSError(101, "Network is unreachable")
        return _connect(self, address)

    socket.getaddrinfo = _no_lookup
    socket.socket.connect = _no_connect
