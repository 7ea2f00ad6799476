"""Why does Keras-on-TensorFlow IMDB training fall into two speed bands from process to process? (#31)

Starts many fresh processes of the plain Keras loop (``benchmarks/reference/keras_loop.py``: nothing
from rnnbench), each timing IMDB ``full`` training steps (batch 64 x 200) for a few seconds, under
several settings, interleaved (a process of every setting in turn, ABBA), so that drift in the machine
touches every setting alike. A setting is a set of environment variables and an optional command prefix;
each one tests one suspected cause:

- ``default``: TensorFlow's intra- and inter-op pools at the usable cores (what the bench sets);
- ``inter1``: one inter-op thread: the executor cannot run two ops of the step side by side;
- ``no-aslr``: address-space randomisation off (``setarch -R``): every process gets the same layout;
- ``no-onednn``: TensorFlow's oneDNN kernels off (Eigen's instead).

A setting whose processes lie in one band where ``default``'s lie in two names the cause.

    .tox/keras/bin/python benchmarks/keras_bands.py --processes 10 --out results/checks/keras-bands.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS: dict[str, tuple[dict[str, str], list[str]]] = {
    "default": ({}, []),
    "inter1": ({"TF_NUM_INTEROP_THREADS": "1"}, []),
    "no-aslr": ({}, ["setarch", "-R"]),
    "no-onednn": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, []),
}


def child(seconds: float) -> None:
    """One process: build the Keras IMDB model, warm up, time training steps for ``seconds``."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, str(HERE / "reference"))
    import keras_loop
    import numpy as np

    loop = keras_loop.make("imdb", 64, 64, 200, 1e-3)
    rng = np.random.default_rng(0)
    pool = [(rng.integers(0, 1000, (64, 200)).astype(np.int32), rng.integers(0, 2, 64).astype(np.float32))
            for _ in range(4)]
    for i in range(3):
        loop.loss_value(loop.train_step(*pool[i % 4]))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        loop.loss_value(loop.train_step(*pool[steps % 4]))
        steps += 1
    print(json.dumps({"samples_per_s": steps * 64 / (time.perf_counter() - start), "steps": steps}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=10, help="fresh processes per setting")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed training per process")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help="comma-separated, of " + ", ".join(SETTINGS))
    parser.add_argument("--out", type=Path, help="write the figures here (JSON)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.seconds)
    names = [s for s in args.settings.split(",") if s]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting {unknown[0]!r}; give some of {', '.join(SETTINGS)}")
    threads = str(args.threads)
    base = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads, "OMP_NUM_THREADS": threads,
            "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    rates: dict[str, list[float]] = {s: [] for s in names}
    for k in range(args.processes):
        for name in (names if k % 2 == 0 else names[::-1]):
            env_add, prefix = SETTINGS[name]
            env = {**os.environ, **base, **env_add}
            cmd = [*prefix, sys.executable, __file__, "--child", "--seconds", str(args.seconds)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            rates[name].append(json.loads(out.strip().splitlines()[-1])["samples_per_s"])
            print(f"{k + 1}/{args.processes} {name:10s} {rates[name][-1]:7.0f} samples/s", flush=True)
    print(f"\n{'setting':10s} {'median':>7s} {'min':>7s} {'max':>7s} {'max/min':>7s}  every process, sorted")
    for name, v in rates.items():
        print(f"{name:10s} {statistics.median(v):7.0f} {min(v):7.0f} {max(v):7.0f} {max(v) / min(v):7.2f}  "
              + " ".join(f"{x:.0f}" for x in sorted(v)))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        figures = {"threads": args.threads, "seconds": args.seconds, "processes": args.processes,
                   "samples_per_s": rates}
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
