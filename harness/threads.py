"""One thread count for every framework, applied the way each documents it, and recorded.

Environment variables must be set before the framework is imported (OpenMP reads ``OMP_NUM_THREADS``
once: MXNet otherwise takes half the processors, 1 on a 2-core machine; TensorFlow reads
``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS``); the frameworks' own calls (``torch.set_num_threads``,
``tf.config.threading``) are made by the adapters' ``set_threads``. A count below the cores this process
may use also pins the process to that many cores (``sched_setaffinity``), the one limit XLA's CPU
thread pool respects.
"""

from __future__ import annotations

import os

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
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    return n


def describe() -> dict[str, object]:
    """What a record keeps about threads: the variables as set and the cores the process may use."""
    return {"usable_cores": usable_cores(), **{k: os.environ.get(k) for k in ENV_VARS}}
