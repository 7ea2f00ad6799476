"""The device's matrix-multiply rate, the denominator of a speed table's "fraction of peak".

``python benchmarks/gemm_peak.py --device gpu|cpu --out peak.json``: square products of size ``--n``
(8192 on a GPU, 2048 on a CPU), in every precision the device runs (GPU: fp32 with TF32 off, TF32, bf16,
fp16, through PyTorch; CPU: fp32 through every library this Python has: run it with each backend's
environment's Python, ``benchmarks/cpu_peak.sh`` does), each the median of ``--repeats`` timed products
after warm-ups, synchronised before every clock read. What a GEMM
reaches is what a recurrent step's matrix work could reach at best: a model's achieved FLOP/s over it
says how much of the machine a framework uses.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from harness import records  # noqa: E402
from harness.common import environment  # noqa: E402


def _timed(fn: Any, sync: Any, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_rates(device: str, n: int, repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """TFLOP/s per precision through PyTorch, and what ran."""
    import torch

    dev = torch.device("cuda" if device == "gpu" else "cpu")
    sync = torch.cuda.synchronize if device == "gpu" else (lambda: None)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if device == "gpu":
        dtypes.update(tf32=torch.float32, fp16=torch.float16)
    rates = {}
    for name, dtype in dtypes.items():
        if device == "gpu":
            torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        seconds = _timed(lambda a=a, b=b: a @ b, sync, repeats)
        rates[name] = 2 * n**3 / seconds / 1e12
    torch.backends.cuda.matmul.allow_tf32 = False
    info = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if device == "gpu":
        info.update(device_name=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    return rates, info


def cpu_rates(n: int, repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """fp32 TFLOP/s on the CPU through every library this Python has (``fp32_<library>``): NumPy's BLAS,
    PyTorch, XLA through JAX, TensorFlow, MXNet; each multiplies differently, so the machine's peak is
    the best of them, not one framework's."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    products: dict[str, Any] = {"numpy": (lambda: a @ b, lambda r: r, np.__version__)}
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        products["torch"] = (lambda: ta @ tb, lambda r: r, torch.__version__)
    except ImportError:
        pass
    try:
        import jax

        ja, jb = jax.device_put(a), jax.device_put(b)
        dot = jax.jit(lambda x, y: x @ y)
        products["jax"] = (lambda: dot(ja, jb), lambda r: r.block_until_ready(), jax.__version__)
    except ImportError:
        pass
    try:
        import tensorflow as tf

        fa, fb = tf.constant(a), tf.constant(b)
        products["tensorflow"] = (lambda: tf.linalg.matmul(fa, fb), lambda r: r.numpy(), tf.__version__)
    except ImportError:
        pass
    try:
        import mxnet as mx

        ma, mb = mx.nd.array(a), mx.nd.array(b)
        products["mxnet"] = (lambda: mx.nd.dot(ma, mb), lambda r: r.wait_to_read(), mx.__version__)
    except ImportError:
        pass
    rates, info = {}, {}
    for name, (product, ready, version) in products.items():
        last: list[Any] = []
        seconds = _timed(lambda p=product, box=last: box.append(p()),
                         lambda box=last, done=ready: done(box[-1]) if box else None, repeats)
        rates[f"fp32_{name}"] = 2 * n**3 / seconds / 1e12
        info[name] = version
    return rates, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--n", type=int, help="matrix size (default 8192 on a GPU, 2048 on a CPU)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    n = args.n or (8192 if args.device == "gpu" else 2048)
    record: dict[str, Any] = {"schema": records.PEAK, "device": args.device, "n": n,
                              "measured": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S"),
                              "repeats": args.repeats, "host": platform.node(), "cpus": os.cpu_count(),
                              "tflops": {}, "by": {}}
    if args.device == "gpu":
        try:
            rates, info = torch_rates(args.device, n, args.repeats)
        except ImportError:
            print("gemm_peak: --device gpu needs PyTorch with CUDA", file=sys.stderr)
            return 2
        record["tflops"].update(rates)
        record["by"]["torch"] = info
    else:
        rates, info = cpu_rates(n, args.repeats)
        record["tflops"].update(rates)
        record["by"].update(info)
        affinity = getattr(os, "sched_getaffinity", None)
        record["threads"] = len(affinity(0)) if affinity else os.cpu_count()
    # what bench records are matched by (harness.bench.peak.device_key): the GPU's name, or the machine
    cpu = environment.cpu_model()
    record["key"] = (record["by"]["torch"]["device_name"] if args.device == "gpu"
                     else environment.fingerprint(cpu, os.cpu_count(), "cpu"))
    record["cpu"] = cpu
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records.dump_atomic(args.out, record)
    print("gemm_peak: " + ", ".join(f"{k} {v:,.2f} TFLOP/s" for k, v in record["tflops"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
