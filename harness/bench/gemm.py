"""The device's matrix-multiply rate in each framework, measured by ``bench`` itself.

A speed table's "fraction of peak" divides a backend's achieved FLOP/s by what the machine can do; and
what it can do is the best GEMM any framework here reaches, not one framework's (on a CPU their BLAS
libraries differ by up to 2x at the same size). So after its rounds a bench starts one worker per
framework it measured and times, in that framework, a large square product (2048 on a CPU, 8192 on a
GPU) and the point's own GEMM shapes: a recurrent layer's input projection over the whole sequence
(``batch*seq x input x gates*hidden``) and its per-step recurrent product (``batch x hidden x
gates*hidden``). The first says what the hardware reaches through that library; the second how much of
it a recurrent step's shapes could reach at best, which is why small batches sit far below the peak.

The worker side (``measure``) imports its framework lazily, in the backend's environment; the driver
side (``shapes``, ``record``) imports none. Records are ``records.PEAK`` documents, one a framework, in
the bench's folder, and ``benchmarks/gemm_peak.py`` writes the same from one Python.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from harness import records
from harness.bench import reference as bench_reference

# the library each backend's products run through (a Keras backend's: its engine's)
LIBRARY = {"torch": "torch", "keras": "tensorflow", "keras-jax": "jax", "keras-torch": "torch",
           "jax": "jax", "mxnet": "mxnet"}
SQUARE = {"cpu": 2048, "gpu": 8192}
REPEATS = 10


def library(row: str) -> str:
    """The library of a bench row (``torch-reference``, ``keras@new``, ``torch~a2`` included); NumPy
    for a row of no known framework (the tests' scripted backend)."""
    base = bench_reference.base(row).split("@", 1)[0].split("~", 1)[0]
    return LIBRARY.get(base, "numpy")


def shapes(point: dict[str, Any], gates: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """The GEMM shapes of a bench point's recurrent layers: (m, k, n) of the input projection over the
    sequence and of the recurrent product of one step, each layer's once (``gates``: the input and
    recurrent blocks of each cell, ``harness.bench.peak.GATES``)."""
    model = point.get("model") or {}
    blocks = gates.get(str(model.get("cell")))
    if blocks is None:
        return []
    hidden, batch, seq = int(model["hidden_size"]), int(point["train_batch"]), int(point["seq_len"])
    width = int(model["embed_dim"]) if model.get("input") == "embedding" else int(model["vocab_size"])
    found: dict[tuple[int, int, int], str] = {}
    for k in range(int(model.get("num_layers", 1))):
        found.setdefault((batch * seq, width if k == 0 else hidden, blocks[0] * hidden),
                         f"{point['id']} input projection")
        if blocks[1]:
            found.setdefault((batch, hidden, blocks[1] * hidden), f"{point['id']} recurrent step")
    return [{"what": what, "m": m, "k": k, "n": n} for (m, k, n), what in found.items()]


def _timed(fn: Callable[[], Any], sync: Callable[[Any], None], repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn`` (``sync`` waits for its result), after warm-ups."""
    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _product(lib: str, m: int, k: int, n: int, device: str, precision: str
             ) -> tuple[Callable[[], Any], Callable[[Any], None], str]:
    """(multiply, wait for the result, version) of an m x k by k x n product in ``lib``."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    if lib == "torch":
        import torch

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        where = "cuda" if device == "gpu" else "cpu"
        ta, tb = (torch.from_numpy(x).to(where, dtype) for x in (a, b))
        sync = (lambda r: torch.cuda.synchronize()) if device == "gpu" else (lambda r: None)
        return (lambda: ta @ tb), sync, torch.__version__
    if lib == "jax":
        import jax
        import jax.numpy as jnp

        dtype = {"bf16": jnp.bfloat16, "fp16": jnp.float16}.get(precision, jnp.float32)
        ja, jb = (jax.device_put(jnp.asarray(x, dtype)) for x in (a, b))
        dot = jax.jit(lambda x, y: x @ y)
        return (lambda: dot(ja, jb)), (lambda r: r.block_until_ready()), jax.__version__
    if lib == "tensorflow":
        import tensorflow as tf

        dtype = {"bf16": tf.bfloat16, "fp16": tf.float16}.get(precision, tf.float32)
        fa, fb = (tf.cast(tf.constant(x), dtype) for x in (a, b))
        return (lambda: tf.linalg.matmul(fa, fb)), (lambda r: r.numpy()), tf.__version__
    if lib == "mxnet":
        import mxnet as mx

        ctx = mx.gpu(0) if device == "gpu" else mx.cpu()
        dtype = "float16" if precision == "fp16" else "float32"
        ma, mb = (mx.nd.array(x, ctx=ctx, dtype=dtype) for x in (a, b))
        return (lambda: mx.nd.dot(ma, mb)), (lambda r: r.wait_to_read()), mx.__version__
    return (lambda: a @ b), (lambda r: None), np.__version__


def measure(lib: str, device: str, precision: str, square: int, cell_shapes: list[dict[str, Any]],
            repeats: int = REPEATS) -> dict[str, Any]:
    """Worker side: TFLOP/s of the square product and of each shape in ``lib``, and its version."""
    out: dict[str, Any] = {"library": lib, "square": square, "shapes": []}
    for shape in [{"what": "square", "m": square, "k": square, "n": square}, *cell_shapes]:
        m, k, n = shape["m"], shape["k"], shape["n"]
        product, sync, out["version"] = _product(lib, m, k, n, device, precision)
        # small shapes: enough products per timing (up to 1,000) that the clock's resolution does not matter
        per = min(1000, max(1, int(2e8 // (2 * m * k * n))))
        seconds = _timed(lambda p=product, c=per: [p() for _ in range(c)][-1], sync, repeats) / per
        out["shapes"].append({**shape, "tflops": 2.0 * m * k * n / seconds / 1e12})
    return out


def record(measured: dict[str, Any], bench_id: str, row: str, key: str, device: str, precision: str,
           n_threads: int, cpu: str) -> dict[str, Any]:
    """Driver side: the ``records.PEAK`` document of one framework's GEMM figures in a bench."""
    lib = measured["library"]
    square = next(s for s in measured["shapes"] if s["what"] == "square")
    return {"schema": records.PEAK, "device": device, "n": measured["square"],
            "measured": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"), "repeats": REPEATS,
            "host": platform.node(), "cpus": os.cpu_count(), "threads": n_threads, "key": key, "cpu": cpu,
            "tflops": {f"{precision}_{lib}": square["tflops"]}, "by": {lib: measured["version"]},
            "shapes": [{**s, "precision": precision} for s in measured["shapes"]],
            "bench_id": bench_id, "row": row}
