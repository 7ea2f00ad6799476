"""``python -m harness bench``: throughput by an interleaved, repeated protocol; and its hidden worker,
``bench-worker``, which the driver starts in each backend's environment (its parser and argv:
harness.launcher)."""

from __future__ import annotations

import argparse
from typing import Any

import backends
from harness import launcher, options
from harness.common import config


def add_parser(sub: Any) -> None:
    bench = sub.add_parser("bench", help="throughput by an interleaved, repeated protocol (sweeps of sizes)")
    options.add_tasks(bench, "comma-separated (default: imdb)")
    options.add_backends(bench, f"comma-separated (default: all: {','.join(backends.names())}); "
                                "BACKEND-reference adds that framework's hand-written loop "
                                "(benchmarks/reference/)")
    bench.add_argument("--references", action="store_true",
                       help="add each listed backend's reference row after it (torch: torch,torch-reference)")
    options.add_scale(bench, "the tasks' model at this scale (default: the task's default, full)")
    bench.add_argument("--repeats", type=int, default=5, help="interleaved repeats per point and backend")
    bench.add_argument("--steps", type=int, default=30,
                       help="timed training steps, and as many inference batches, at least (default 30: the "
                            "six IMDB backends, 5 repeats, in 7-11 minutes on 2 cores)")
    bench.add_argument("--min-time", type=float, default=2.0, metavar="SECONDS",
                       help="time at least this long per repeat, for training and for inference: a short "
                            "calibration sets the step count, never below --steps (default 2; 0: exactly "
                            "--steps)")
    bench.add_argument("--warmup", type=int, default=3, help="untimed steps before each repeat")
    bench.add_argument("--sweep", action="append", metavar="FIELD=V1,V2,...",
                       help="vary one field (batch_size, hidden_size, seq_len, num_layers, cell, any model "
                            "or recipe field); repeat for a grid")
    bench.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    bench.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    bench.add_argument("--threads", type=int, help="threads of every backend (default: the usable cores)")
    bench.add_argument("--no-flush-to-zero", dest="flush_to_zero", action="store_false",
                       help="keep denormal floats on the CPU")
    options.add_out(bench, "results/bench", "folder for bench records")
    bench.add_argument("--resume", action="store_true", help="continue the newest unfinished bench in OUT")
    bench.add_argument("--reuse-workers", dest="fresh_workers", action="store_false",
                       help="one worker per backend for every repeat (faster; default: a fresh worker per "
                            "repeat with a random process layout, see docs/bench.md)")
    bench.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    bench.add_argument("--step-budget", type=float, default=600.0, metavar="SECONDS",
                       help="the most one measurement may take, its first step's compilation included, "
                            "before the worker is stopped and the point recorded as over budget "
                            "(default 600)")
    bench.add_argument("--no-gemm", dest="gemm", action="store_false",
                       help="skip the matrix-multiply rates each framework's worker measures after the "
                            "rounds (the denominator of the fraction of peak; A/B benches skip them)")
    verdicts = bench.add_argument_group("verdicts and A/B (docs/bench.md, \"Verdicts\")")
    verdicts.add_argument("--margin", type=float, default=0.05,
                          help="a ratio whose 95%% interval lies within 1 +- MARGIN is 'same' (default 0.05)")
    verdicts.add_argument("--variant", action="append", metavar="NAME=REQUIREMENTS",
                          help="bench the one backend of --backends under this requirement set (pip "
                               "requirements separated by spaces) in an environment of its own, built once; "
                               "give two or more; each is judged against the first")
    verdicts.add_argument("--against", metavar="GITREF",
                          help="bench the backends from this checkout and from GITREF (a git worktree), "
                               "interleaved; this checkout is judged against GITREF")
    verdicts.add_argument("--max-rounds", type=int, default=30,
                          help="an A/B bench (--variant, --against) adds rounds until every comparison is "
                               "decided, or this many (default 30; at least 6)")
    verdicts.add_argument("--calibrate", action="store_true",
                          help="measure what this machine can detect: A/A rows and rows slowed by 5%% and "
                               "10%% on purpose, --repeats rounds judged in blocks of --block")
    verdicts.add_argument("--block", type=int, default=9,
                          help="--calibrate: rounds per trial (default 9); --repeats should be a multiple")
    options.add_config(bench)
    launcher.add_bench_worker(sub)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    config.merge(args)
    code = launcher.in_core_env(argv, ("psutil",))
    if code is not None:
        return code
    from harness.bench import driver

    return driver.main(args)


def worker(args: argparse.Namespace, argv: list[str]) -> int:
    """``bench-worker``: serve measure requests (runs in the backend's environment)."""
    from harness.bench import worker

    return worker.serve(args.backend, args.device, args.precision, args.threads, args.flush_to_zero)


ENTRIES = {"bench": main, "bench-worker": worker}
