"""``python -m harness baseline save`` and ``compare``: throughput stored per machine, and later runs
checked against it (exit 1 on a slowdown)."""

from __future__ import annotations

import argparse
from typing import Any

from harness import launcher
from harness.options import Parser


def add_parser(sub: Any) -> None:
    baseline = sub.add_parser("baseline", help="store throughput figures to compare later runs against")
    baseline_sub = baseline.add_subparsers(dest="action", required=True, parser_class=Parser)
    save = baseline_sub.add_parser("save", help="save the latest runs' throughput (median, spread)")
    save.add_argument("--runs", default="results/runs", help="folder of result records")
    save.add_argument("--file", help="baseline JSON (default: results/baselines/<machine>.json)")

    compare = sub.add_parser("compare", help="latest runs against a baseline; exit 1 on a slowdown")
    compare.add_argument("--baseline", required=True, help="a file written by `baseline save`")
    compare.add_argument("--runs", default="results/runs", help="folder of result records")
    compare.add_argument("--margin", type=float, default=0.05,
                         help="a ratio whose 95%% interval lies within 1 +- MARGIN is 'same' (default 0.05); "
                              "a slowdown is flagged when the interval (Welch's t over the repeats of each "
                              "side) lies below 1, see docs/comparing.md")


def save(args: argparse.Namespace, argv: list[str]) -> int:
    code = launcher.in_core_env(argv)
    if code is not None:
        return code
    from harness.baseline import baselines

    print(baselines.save(args.runs, args.file))
    return 0


def compare(args: argparse.Namespace, argv: list[str]) -> int:
    code = launcher.in_core_env(argv)
    if code is not None:
        return code
    from harness.baseline import baselines

    text, code = baselines.compare(args.baseline, args.runs, args.margin)
    print(text)
    return code


ENTRIES = {"baseline": save, "compare": compare}
