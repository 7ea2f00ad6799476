"""One thread count for every framework, applied the way each documents it, and recorded.

Environment variables must be set before the framework is imported (OpenMP reads ``OMP_NUM_THREADS``
once: MXNet otherwise takes half the processors, 1 on a 2-core machine; TensorFlow reads
``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS``); the frameworks' own calls (``torch.set_num_threads``,
``tf.config.threading``) are made by the adapters' ``set_threads``. A count below the cores this process
may use also pins the process to that many cores (``sched_setaffinity``), the one limit XLA's CPU
thread pool respects: the idlest ones, so that one-thread runs side by side take different cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MXNET_OMP_MAX_THREADS",
            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def environ(threads: int) -> dict[str, str]:
    """The environment variables that give every framework ``threads`` threads."""
    return {name: str(threads) for name in ENV_VARS}


def apply(threads: int | None) -> int:
    """Set the variables (and the affinity, when fewer than the usable cores) for this process and the
    frameworks it imports later; returns the count applied. Call before importing any framework."""
    n = threads or usable_cores()
    if n < 1:
        raise ValueError(f"threads={n}: give a positive number")
    os.environ.update(environ(n))
    if hasattr(os, "sched_setaffinity") and n < usable_cores():
        os.sched_setaffinity(0, idlest(sorted(os.sched_getaffinity(0)), n))
    return n


def _busy_ticks() -> dict[int, int]:
    """Busy CPU ticks since boot per core (Linux ``/proc/stat``: all but idle and iowait); {} elsewhere."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, *ticks = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(t) for t in ticks]
            out[int(name[3:])] = sum(values) - values[3] - (values[4] if len(values) > 4 else 0)
    return out


def idlest(cores: list[int], n: int, look_s: float = 0.2,
           busy: Callable[[], dict[int, int]] = _busy_ticks) -> list[int]:
    """The ``n`` cores of ``cores`` least busy over a look of ``look_s`` seconds, so that runs started
    side by side with fewer threads than cores (a matrix of one-thread runs beside another) spread over
    the cores instead of all taking the first; ties are broken by this process' id, which also spreads
    runs that start together. The first ``n`` where the load cannot be read."""
    before = busy()
    time.sleep(look_s)
    after = busy()
    if not before or not after:
        return cores[:n]
    pid = os.getpid()
    ranked = sorted(range(len(cores)), key=lambda i: (after.get(cores[i], 0) - before.get(cores[i], 0),
                                                      (i - pid) % len(cores)))
    return sorted(cores[i] for i in ranked[:n])


def describe() -> dict[str, object]:
    """What a record keeps about threads: the variables as set and the cores the process may use."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"usable_cores": usable_cores(), "cores": cores, **{k: os.environ.get(k) for k in ENV_VARS}}
