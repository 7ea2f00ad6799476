"""``python -m harness list``: tasks (scales, targets), settings and backends (installed or not)."""

from __future__ import annotations

import argparse
from typing import Any

from harness import launcher


def add_parser(sub: Any) -> None:
    sub.add_parser("list", help="tasks (scales, targets) and backends (installed or not)")


def main(args: argparse.Namespace, argv: list[str]) -> int:
    code = launcher.in_core_env(argv)
    if code is not None:
        return code
    from harness.list import listing

    print(listing.render())
    return 0


ENTRIES = {"list": main}
