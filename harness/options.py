"""The command line's shared parts: the parser class, option groups several commands take, and the
name-list parser of ``--tasks``/``--backends``, defined once so every command spells them alike (as asv's
``common_args``). Each command's ``command.py`` adds its own options around these.

Imports only the standard library (and the task and backend registries, which import no framework).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

import backends
import tasks
from harness.errors import UserError
from tasks.spec import CELL_KINDS

PROG = "python -m harness"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


def add_task(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--task``: one task by name."""
    p.add_argument("--task", required=required, help=f"one of: {', '.join(tasks.all_names())}")


def add_backend(p: argparse.ArgumentParser, required: bool = False) -> None:
    """``--backend``: one backend by name."""
    p.add_argument("--backend", required=required, help=f"one of: {', '.join(backends.names())}")


def add_tasks(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--tasks``: comma-separated task names (``parse_names`` checks them)."""
    p.add_argument("--tasks", help=help or f"comma-separated (default: all: {','.join(tasks.all_names())})")


def add_backends(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--backends``: comma-separated backend names (``parse_names`` checks them)."""
    p.add_argument("--backends",
                   help=help or f"comma-separated (default: all: {','.join(backends.names())})")


def add_scale(p: argparse.ArgumentParser, help: str) -> None:
    """``--scale``: a scale of the task(s), checked against each task's scales."""
    p.add_argument("--scale", help=help)


def add_out(p: argparse.ArgumentParser, default: str, help: str) -> None:
    """``--out``: the folder a command writes into (checked writable before any work)."""
    p.add_argument("--out", default=default, help=help)


def add_config(p: argparse.ArgumentParser) -> None:
    """``--set`` and ``--config``, shared by `run`, `matrix`, `bench` and `parity`."""
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change one field: model.* (hidden_size, cell, ...), recipe.* (lr, batch_size, "
                        "optimizer, ...) or data.* (the task's data options, e.g. maxlen); repeatable; "
                        "`list` names them")
    p.add_argument("--config", metavar="FILE.toml",
                   help="task, backend, scale and [model]/[recipe]/[data] settings from a TOML file; "
                        "the command line wins over it")


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options of one run, shared by `run` and `matrix`."""
    add_scale(p, "a scale of the task (default: the task's default, full); see `list`")
    p.add_argument("--epochs", type=int, help="override the recipe's number of epochs (recipe.epochs)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="fp32, or mixed precision with bf16/fp16 compute")
    p.add_argument("--data-dir", help="local dataset mirror (default: $RNNBENCH_DATA_DIR, else download)")
    p.add_argument("--cache-dir", help="download and tokenisation cache (default: ~/.cache/rnnbench)")
    p.add_argument("--no-flush-to-zero", dest="flush_to_zero", action="store_false",
                   help="keep denormal floats on the CPU (slow; on by default and recorded)")
    p.add_argument("--init", choices=("canonical",), default="canonical",
                   help="initial weights: drawn once in NumPy and loaded into the backend")
    p.add_argument("--cell", choices=CELL_KINDS,
                   help="run the scale's model with another cell kind (model.cell; the record says which)")
    p.add_argument("--threads", type=int,
                   help="CPU threads of the framework (default: the cores this process may use)")
    p.add_argument("--sampling", choices=("random", "consecutive"),
                   help="language models: independent shuffled windows, or consecutive windows with the "
                        "hidden state carried (recipe.sampling; default: the task's recipe)")
    add_config(p)


def parse_names(value: str | None, valid: Sequence[str], kind: str) -> list[str]:
    """A comma-separated list of names checked against ``valid`` (all of them when ``value`` is empty);
    backends may also be named in a mode (``torch+compile``, ``backends.get``), the default mode being the
    plain name."""
    if not value:
        return list(valid)
    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if kind == "backend":  # a mode given (torch+compile) is checked by the registry, its error kept
        names = list(dict.fromkeys(backend_name(n) if n not in valid and "+" in n else n for n in names))
        valid = [*valid, *(n for n in names if "+" in n)]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise UserError(f"unknown {kind} {', '.join(map(repr, unknown))}; choose from: {', '.join(valid)}")
    if not names:
        raise UserError(f"no {kind} given; choose from: {', '.join(valid)}")
    return names


def backend_name(name: str) -> str:
    """``name`` as the registry names it (``torch+eager`` is ``torch``), a mode included; a one-line error
    naming the backends, or the backend's modes, when there is no such backend or mode."""
    try:
        return backends.get(name).name
    except KeyError as exc:
        raise UserError(exc.args[0]) from None


def check_task_backend(args: argparse.Namespace) -> None:
    """``--task`` and ``--backend`` are registered names (a backend in one of its modes too)."""
    if args.task not in tasks.all_names():
        raise UserError(f"unknown task {args.task!r}; choose one of: {', '.join(tasks.all_names())}")
    args.backend = backend_name(args.backend)
