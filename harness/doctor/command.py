"""``python -m harness doctor``: the GPU paths checked end to end in one time-boxed command; and its hidden
workers ``doctor-probe`` and ``doctor-worker``, run by each backend's Python, which the doctor picks (their
parsers and argv: harness.launcher)."""

from __future__ import annotations

import argparse
from typing import Any

from harness import launcher, options


def add_parser(sub: Any) -> None:
    doctor = sub.add_parser("doctor", help="the GPU paths checked end to end in one time-boxed command: "
                                           "environment, parity, every task's smoke scale, the bench")
    doctor.add_argument("--device", choices=("cpu", "gpu"), default="gpu",
                        help="gpu (default; no GPU is a one-line error), or cpu: the same check on a CPU")
    options.add_out(doctor, "results/doctor", "folder for its records")
    doctor.add_argument("--budget-s", type=float, default=480.0,
                        help="seconds for the whole check (default 480); what no longer fits is skipped")
    options.add_backends(doctor)
    options.add_tasks(doctor, "smoke tasks, comma-separated (default: all, imdb and ptb first)")
    doctor.add_argument("--precisions", default="fp32,bf16,fp16",
                        help="smoke and bench precisions (default: fp32,bf16,fp16; fp16 where offered)")
    doctor.add_argument("--epochs", type=int, default=1, help="epochs of each smoke run (default 1)")
    doctor.add_argument("--parity-cells", default="rnn,gru,lstm", help="cells of the parity check (default: "
                                                                      "rnn,gru,lstm)")
    doctor.add_argument("--parity-steps", type=int, default=5, help="training steps compared (default 5)")
    doctor.add_argument("--bench-tasks", default="imdb,ptb", help="tasks of the bench (default: imdb,ptb)")
    doctor.add_argument("--bench-scale", default="full", help="the bench tasks' scale (default full)")
    doctor.add_argument("--bench-steps", type=int, default=10, help="timed bench steps (default 10)")
    doctor.add_argument("--bench-repeats", type=int, default=2, help="bench repeats (default 2)")
    doctor.add_argument("--jobs", type=int, help="processes side by side in a phase, never in the bench "
                                                 "(default: 1 on a CPU, up to 4 on a GPU)")
    doctor.add_argument("--tox", dest="tox", action="store_true", default=None,
                        help="run a backend this Python lacks in its tox environment (default with cpu)")
    doctor.add_argument("--no-tox", dest="tox", action="store_false",
                        help="only this Python: a backend it lacks is not available (default with gpu)")
    doctor.add_argument("--data-dir", help="local dataset mirror (default: $RNNBENCH_DATA_DIR)")
    doctor.add_argument("--cache-dir", help="download and tokenisation cache")
    launcher.add_doctor_probe(sub)
    launcher.add_doctor_worker(sub)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    """``doctor`` (the core environment: it starts every backend in its own process)."""
    code = launcher.in_core_env(argv)
    if code is not None:
        return code
    from harness.doctor import driver

    return driver.main(args)


def probe(args: argparse.Namespace, argv: list[str]) -> int:
    """``doctor-probe``: a backend's versions, device and precisions (in the backend's Python)."""
    from harness.doctor import worker

    return worker.run_probe(args.backend, args.device, args.result, args.precisions)


def smoke(args: argparse.Namespace, argv: list[str]) -> int:
    """``doctor-worker``: a backend's smoke runs at one precision (in the backend's Python)."""
    from harness.doctor import worker

    return worker.run_smoke(args)


ENTRIES = {"doctor": main, "doctor-probe": probe, "doctor-worker": smoke}
