"""``python -m harness parity``: do the backends compute the same function? And its hidden worker,
``parity-worker``, one per backend in that backend's environment (its parser and argv: harness.launcher)."""

from __future__ import annotations

import argparse
from typing import Any

import backends
import tasks
from harness import launcher, options
from harness.common import config
from harness.errors import UserError


def add_parser(sub: Any) -> None:
    parity = sub.add_parser("parity", help="check that backends compute the same function")
    options.add_task(parity)
    options.add_backends(parity, "comma-separated, e.g. torch,keras,jax,mxnet")
    options.add_scale(parity, "the task's model at this scale (default: smoke)")
    parity.add_argument("--cells", help="comma-separated cell kinds to check (default: the task's own)")
    parity.add_argument("--steps", type=int, default=20, help="training steps to compare")
    parity.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"), default="sgd",
                        help="the optimizer of the steps (Adam and RMSprop with eps 1e-3, so that their "
                             "epsilon forms differ beyond tolerance)")
    parity.add_argument("--adam-eps", choices=("corrected", "uncorrected"),
                        help="Adam's epsilon form (default: the task's recipe)")
    parity.add_argument("--rms-eps", choices=("inside", "outside"),
                        help="RMSprop's epsilon, inside or outside the root (default: the task's recipe)")
    parity.add_argument("--centered", action="store_true", help="centered RMSprop")
    parity.add_argument("--momentum", type=float, help="SGD/RMSprop momentum")
    parity.add_argument("--clip-norm", type=float, help="global gradient-norm clipping")
    parity.add_argument("--weight-decay", type=float, help="L2 added to the gradient")
    parity.add_argument("--seed", type=int, help="seed of the weights and the batch (default 0)")
    options.add_config(parity)
    launcher.add_parity_worker(sub)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    config.merge(args, required=("task", "backends"))
    args.scale = args.scale or "smoke"
    names = [b for b in args.backends.split(",") if b]
    unknown = [b for b in names if b.split("+", 1)[0] not in backends.names()]
    if unknown or not names:
        raise UserError(f"unknown backend(s) {', '.join(unknown) or '(none given)'}; "
                        f"choose from: {', '.join(backends.names())}")
    names = list(dict.fromkeys(options.backend_name(b) for b in names))
    if args.task not in tasks.all_names():
        raise UserError(f"unknown task {args.task!r}; choose one of: {', '.join(tasks.all_names())}")
    code = launcher.in_core_env(argv)
    if code is not None:
        return code
    from harness.parity import check

    cells = args.cells.split(",") if args.cells else None
    optim = {"optimizer": args.optimizer, "adam_eps": args.adam_eps, "rms_eps": args.rms_eps,
             "centered": args.centered or None, "momentum": args.momentum, "clip_norm": args.clip_norm,
             "weight_decay": args.weight_decay, "settings": args.settings or None}
    optim = {k: v for k, v in optim.items() if v is not None}
    try:
        table, ok = check.run(args.task, names, args.scale, cells, args.steps, args.seed, optim=optim)
    except (KeyError, ValueError) as exc:
        raise UserError(str(exc.args[0])) from None
    print(table)
    if not ok:
        raise UserError("parity failed: a backend differs beyond tolerance (rows marked FAIL above)")
    return 0


def worker(args: argparse.Namespace, argv: list[str]) -> int:
    """``parity-worker``: one backend's results from the shared weights and batch (its environment)."""
    code = launcher.in_backend_env(backends.get(args.backend), argv)
    if code is not None:
        return code
    from harness.parity import check

    return check.run_worker(args)


ENTRIES = {"parity": main, "parity-worker": worker}
