"""``python -m harness run``: train and evaluate one task on one backend, in the backend's environment."""

from __future__ import annotations

import argparse
from typing import Any

import backends
import tasks
from harness import launcher, options
from harness.common import config, outdir
from harness.errors import UserError


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="train and evaluate one task on one backend")
    options.add_task(run)
    options.add_backend(run)
    run.add_argument("--seed", type=int, help="seed of weights, dropout and batch order (default 0)")
    options.add_run_options(run)
    options.add_out(run, "results/runs", "folder for the result record")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def early_checks(args: argparse.Namespace) -> None:
    """What can be checked before an environment is built: the settings' keys and values (all of them
    when the tasks can be imported here, else the model and recipe ones) and the scale."""
    from harness.common import overrides

    if launcher.missing(launcher.CORE_MODULES):
        overrides.parse_settings(s for s in args.settings if s.split(".", 1)[0] in overrides.GROUPS)
        return
    task = tasks.get(args.task)
    try:
        scale = task.scale(args.scale or task.default_scale)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    overrides.apply(scale, overrides.parse_settings(args.settings, task), task)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    config.merge(args, required=("task", "backend"))
    options.check_task_backend(args)
    info = backends.get(args.backend)
    early_checks(args)
    outdir.check_writable(args.out)
    code = launcher.in_backend_env(info, argv)
    if code is not None:
        return code
    from harness.run import runner, summary

    opts = runner.RunOptions(
        task=args.task, backend=args.backend, scale=args.scale, seed=args.seed, epochs=args.epochs,
        device=args.device, precision=args.precision, data_dir=args.data_dir, cache_dir=args.cache_dir,
        out=args.out, flush_to_zero=args.flush_to_zero, init=args.init, progress=args.progress,
        sampling=args.sampling, cell=args.cell, threads=args.threads, settings=args.settings,
    )
    record, path = runner.run(opts)
    print(summary.run_summary(record, str(path)))
    return 0


ENTRIES = {"run": main}
