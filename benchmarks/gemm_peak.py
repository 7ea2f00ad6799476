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
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere
from harness import records  # noqa: E402
from harness.bench import gemm  # noqa: E402
from harness.common import environment  # noqa: E402


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
        seconds = gemm._timed(lambda a=a, b=b: a @ b, lambda r: sync(), repeats)
        rates[name] = 2 * n**3 / seconds / 1e12
    torch.backends.cuda.matmul.allow_tf32 = False
    info = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if device == "gpu":
        info.update(device_name=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    return rates, info


def cpu_rates(n: int, repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """fp32 TFLOP/s on the CPU through every library this Python has (``fp32_<library>``): NumPy's BLAS,
    PyTorch, XLA through JAX, TensorFlow, MXNet (``harness.bench.gemm``, as a bench's workers measure
    them); each multiplies differently, so the machine's peak is the best of them, not one framework's."""
    rates, info = {}, {}
    for lib in ("numpy", "torch", "jax", "tensorflow", "mxnet"):
        try:
            found = gemm.measure(lib, "cpu", "fp32", n, [], repeats)
        except ImportError:
            continue
        rates[f"fp32_{lib}"] = found["shapes"][0]["tflops"]
        info[lib] = found["version"]
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
