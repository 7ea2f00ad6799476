"""A network namespace that has only loopback, for the Ray tests.

Ray binds the machine's own network address even when told ``--node-ip-address=127.0.0.1``; in a
namespace whose only interface is ``lo`` it can bind nothing but 127.0.0.1, so a test cluster talks to
nothing outside this machine's loopback. Needs root and ``ip`` (iproute2); where a namespace cannot be
made, the tests skip and say why.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator

import pytest

REASON = "the Ray tests run their cluster in a network namespace that has only loopback"


def _ip() -> str | None:
    found = shutil.which("ip")
    return found or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)


@contextlib.contextmanager
def loopback_namespace() -> Iterator[list[str]]:
    """The command prefix that runs a command in a fresh loopback-only namespace; afterwards every process
    left in it is killed and the namespace deleted. A pytest skip, with the reason, where none can be made."""
    ip = _ip()
    if ip is None:
        pytest.skip(f"{REASON}, made with `ip netns`: iproute2 is not installed")
    if os.geteuid() != 0:
        pytest.skip(f"{REASON}, and making one (`ip netns add`) needs root")
    name = f"rnnbench-ray-{os.getpid()}-{secrets.token_hex(3)}"
    made = subprocess.run([ip, "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"{REASON}; `ip netns add` failed: {made.stderr.strip() or made.returncode}")
    prefix = [ip, "netns", "exec", name]
    try:
        subprocess.run([*prefix, ip, "link", "set", "lo", "up"], check=True)
        links = subprocess.run([*prefix, ip, "-o", "link"], capture_output=True, text=True, check=True).stdout
        names = [line.split(":")[1].strip() for line in links.splitlines() if line.strip()]
        assert names == ["lo"], f"namespace {name} has other interfaces than lo: {names}"
        yield prefix
    finally:
        left = subprocess.run([ip, "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in left:  # only what this test started lives in its namespace
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run([ip, "netns", "delete", name], capture_output=True)
