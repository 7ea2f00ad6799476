"""Is the machine quiet? The CPU time other processes take while the bench measures.

The machine's busy CPU time (psutil's system-wide ``cpu_times``: user, nice, system, irq, softirq and
steal) minus the CPU time of the bench's own processes, divided by the wall time between two samples,
is how many cores others used. Above ``BUSY_CORES`` the figures of that span are marked ``busy``. The
load average is kept beside it (it includes the bench itself, so it is recorded, not judged).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

BUSY_CORES = 0.25  # a quarter of a core taken by others moves a 2-core figure by several percent
_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")


@dataclass(frozen=True)
class Sample:
    wall: float
    busy_s: float  # system-wide busy CPU seconds since boot
    own_s: float  # CPU seconds of the bench's processes (driver and workers)
    steal_s: float
    loadavg: tuple[float, float, float]


def _cpu_of(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        total += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    return total


def sample(own_pids: list[int]) -> Sample:
    import psutil

    t = psutil.cpu_times()
    busy = sum(getattr(t, f, 0.0) for f in _BUSY_FIELDS)
    return Sample(time.monotonic(), busy, _cpu_of([os.getpid(), *own_pids]), getattr(t, "steal", 0.0),
                  os.getloadavg())


def others(a: Sample, b: Sample) -> dict[str, Any]:
    """What other processes took between samples ``a`` and ``b``, and whether that makes it busy."""
    wall = max(b.wall - a.wall, 1e-9)
    cores = max(0.0, ((b.busy_s - a.busy_s) - (b.own_s - a.own_s)) / wall)
    steal = max(0.0, (b.steal_s - a.steal_s) / wall)
    return {"others_cores": round(cores, 3), "steal_cores": round(steal, 3),
            "loadavg": list(b.loadavg), "seconds": round(wall, 3), "busy": cores > BUSY_CORES}


def top_others(own_pids: list[int], seconds: float = 1.0, n: int = 3) -> list[str]:
    """The processes (other than the bench's) that used the most CPU over ``seconds``, as "name 95%"."""
    import psutil

    own = {os.getpid(), *own_pids}
    procs = [p for p in psutil.process_iter(["name"]) if p.pid not in own]
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.cpu_percent(None)
    time.sleep(seconds)
    usage = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            usage.append((p.cpu_percent(None), p.info["name"]))
    return [f"{name} {pct:.0f}%" for pct, name in sorted(usage, reverse=True)[:n] if pct >= 5]


def as_dict(s: Sample) -> dict[str, Any]:
    return asdict(s)
