"""``python -m harness matrix``: every task x backend x seed, one child process per run, resumable."""

from __future__ import annotations

import argparse
from typing import Any

from harness import options
from harness.common import config


def add_parser(sub: Any) -> None:
    matrix = sub.add_parser("matrix", help="every task x backend x seed, one subprocess per run, resumable")
    options.add_tasks(matrix)
    options.add_backends(matrix)
    matrix.add_argument("--repeats", type=int, default=1, help="runs per combination, seeds 0..K-1")
    options.add_run_options(matrix)
    options.add_out(matrix, "results/runs", "folder for the result records")
    matrix.add_argument("--manifest", help="matrix manifest JSON (default: OUT/matrix.json)")
    matrix.add_argument("--resume", action="store_true", help="continue the manifest's unfinished runs")
    matrix.add_argument("--retry-failed", action="store_true", help="with --resume: re-run failed ones too")
    matrix.add_argument("--fresh", action="store_true", help="start over even if the manifest is unfinished")
    matrix.add_argument("--report-out", default="results/report", help="where the report goes at the end")
    matrix.add_argument("--no-report", action="store_true", help="do not build the report at the end")
    matrix.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: one run after another here (default); ray: every run a task on a Ray "
                             "cluster, with the CPUs (--threads) and GPU (--device gpu) it needs")
    matrix.add_argument("--address", help="with --executor ray: the cluster's head, HOST:PORT (or auto); "
                                          "default: a new local cluster of this machine")


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.matrix import driver  # standard library only: each run finds its own environment

    config.merge(args)
    return driver.main(args)


ENTRIES = {"matrix": main}
