"""``python -m harness``: the command line. Each command lives in its package (``harness/<command>/``,
its parser and entry in ``command.py``); this module puts their parsers together in one order and runs
the entry of the command asked for.

Imports only the standard library until it runs work: a command's ``command.py`` imports its heavy modules
inside its entry, once it knows it can run here (else it re-runs in a tox environment: harness.launcher).

Every failure the user can fix ends in one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from harness.baseline import command as baseline
from harness.bench import command as bench
from harness.doctor import command as doctor
from harness.errors import UserError
from harness.list import command as listing
from harness.matrix import command as matrix
from harness.options import PROG, Parser
from harness.parity import command as parity
from harness.predict import command as predict
from harness.report import command as report
from harness.run import command as run
from harness.test import command as test

# in the order `--help` lists them (hidden workers follow their command)
COMMANDS = (listing, test, run, predict, parity, matrix, bench, doctor, report, baseline)
Entry = Callable[..., int]  # (parsed args, argv) -> exit status
ENTRIES: dict[str, Entry] = {name: entry for module in COMMANDS for name, entry in module.ENTRIES.items()}


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="rnnbench: the same recurrent model on every framework.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("RNNBENCH_CWD"):  # re-run inside a tox environment: paths are the caller's
        os.chdir(os.environ["RNNBENCH_CWD"])
    if argv[:1] == ["test"] and not {"-h", "--help"} & set(argv[1:2]):  # tox's own options pass through
        try:
            return test.main(None, argv[1:])
        except UserError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return exc.exit_code
    args = build_parser().parse_args(argv)
    try:
        return ENTRIES[args.command](args, argv)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished records are kept", file=sys.stderr)
        return 130
