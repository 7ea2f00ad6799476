"""What ran where: Python, OS, CPU, git commit, flush-to-zero, and a machine fingerprint.

Figures are only compared within one fingerprint (same CPU model, core count and accelerator).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path
from typing import Any

from harness import launcher


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return launcher.capture(["git", *args], timeout=10, cwd=launcher.ROOT).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except launcher.CAPTURE_ERRORS:
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": dirty}


def gpu_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi, where there is one."""
    try:
        out = launcher.capture(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                               timeout=10)
    except launcher.CAPTURE_ERRORS:
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def fingerprint(cpu: str, cores: int | None, device_name: str) -> str:
    """A short id of the hardware a figure was measured on."""
    return hashlib.sha256(f"{cpu}|{cores}|{device_name}".encode()).hexdigest()[:12]


def collect(backend: dict[str, Any], flush_to_zero: bool | None) -> dict[str, Any]:
    import numpy

    from harness.common import ftz

    cpu, cores = cpu_model(), os.cpu_count()
    device_name = backend.get("device_name", "") if backend.get("device", "cpu") != "cpu" else "cpu"
    return {
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "os": platform.platform(),
        "cpu": cpu,
        "cpu_count": cores,
        "hostname": platform.node(),
        "machine": fingerprint(cpu, cores, device_name),
        "gpu_driver": gpu_driver() if device_name != "cpu" else None,
        "flush_to_zero": flush_to_zero,
        "denormals_flushed": ftz.flushes(),  # what the arithmetic did: an emulator may ignore the bits
        "load_average": os.getloadavg(),  # 1/5/15-minute load at the start: a busy machine shows here
        "git": git_commit(),
        "backend": backend,
    }
