"""``python -m harness test``: the test suite, through tox (installed privately where it is missing)."""

from __future__ import annotations

import argparse
from typing import Any

from harness import launcher


def add_parser(sub: Any) -> None:
    test = sub.add_parser("test", help="the test suite (tox; installed privately when missing)")
    test.add_argument("--full", action="store_true",
                      help="also the long tests (every task on every backend, real bench and doctor workers)")
    test.add_argument("tox_args", nargs=argparse.REMAINDER, help="passed to tox, e.g. -e core")


def main(args: argparse.Namespace | None, argv: list[str]) -> int:
    """``argv`` after ``test``, unparsed: tox's own options pass through."""
    return launcher.run_tox(argv)


ENTRIES = {"test": main}
