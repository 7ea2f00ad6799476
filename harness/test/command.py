"""``python -m harness test``: the test suite, through tox (installed privately where it is missing)."""

from __future__ import annotations

import argparse
from typing import Any

from harness import launcher
from harness.errors import UserError


def add_parser(sub: Any) -> None:
    test = sub.add_parser("test", help="the test suite (tox; installed privately when missing)")
    test.add_argument("--full", action="store_true",
                      help="also the long tests (every task on every backend, real bench and doctor workers)")
    test.add_argument("tox_args", nargs=argparse.REMAINDER, help="passed to tox, e.g. -e core")


def environments() -> list[str]:
    """The tox environments tox.ini defines (its envlist and every ``[testenv:NAME]``)."""
    import configparser

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(launcher.ROOT / "tox.ini")
    listed = [e.strip() for e in ini.get("tox", "envlist", fallback="").replace("\n", ",").split(",")]
    named = [s.split(":", 1)[1] for s in ini.sections() if s.startswith("testenv:")]
    return list(dict.fromkeys(e for e in [*listed, *named] if e))


def asked_environments(argv: list[str]) -> list[str]:
    """The environments ``-e``/``--env`` name in tox's arguments (comma-separated, repeatable)."""
    names = []
    argv = argv[:argv.index("--")] if "--" in argv else argv  # what follows goes to pytest
    for k, arg in enumerate(argv):
        if arg in ("-e", "--env") and k + 1 < len(argv):
            names += argv[k + 1].split(",")
        elif arg.startswith("-e") and len(arg) > 2 and not arg.startswith("--"):
            names += arg[2:].split(",")
        elif arg.startswith("--env="):
            names += arg.split("=", 1)[1].split(",")
    return [n for n in names if n]


def main(args: argparse.Namespace | None, argv: list[str]) -> int:
    """``argv`` after ``test``, unparsed: tox's own options pass through, after the environments they
    name are checked against tox.ini (tox itself would end on its own message with exit 254)."""
    known = environments()
    unknown = [e for e in asked_environments(argv) if e not in known]
    if unknown:
        raise UserError(f"test -e {','.join(unknown)}: no such tox environment; choose from "
                        f"{', '.join(known)}")
    return launcher.run_tox(argv)


ENTRIES = {"test": main}
