"""``python -m harness predict`` and ``generate``: a finished run's checkpoint applied to the user's text."""

from __future__ import annotations

import argparse
from typing import Any

import backends
from harness import launcher, options


def add_parser(sub: Any) -> None:
    for name, what in (("predict", "top classes of a text from a finished run's checkpoint"),
                       ("generate", "continue a prefix with a finished language-model run")):
        inf = sub.add_parser(name, help=what)
        options.add_task(inf, required=True)
        options.add_backend(inf, required=True)
        inf.add_argument("--runs", default="results/runs", help="folder of result records and checkpoints")
        inf.add_argument("--run", help="a run id (default: the newest finished run of task and backend)")
        inf.add_argument("--data-dir", help="local dataset mirror, for the vocabulary")
        inf.add_argument("--cache-dir", help="download and tokenisation cache")
        inf.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
        inf.add_argument("--weights", choices=("best", "final"), default="best",
                         help="the best-validation checkpoint, or the last epoch's weights")
        if name == "predict":
            inf.add_argument("text", help='the input, e.g. a surname: "Yu"')
            inf.add_argument("--top", type=int, default=3, help="how many classes to show")
        else:
            inf.add_argument("--prefix", required=True, help="the text to continue")
            inf.add_argument("--chars", type=int, default=50, help="how many tokens to generate")


def main(args: argparse.Namespace, argv: list[str]) -> int:
    options.check_task_backend(args)
    code = launcher.in_backend_env(backends.get(args.backend), argv)
    if code is not None:
        return code
    from harness.predict import inference

    if args.command == "predict":
        print(inference.predict(args.task, args.backend, args.text, args.top, args.runs, args.run,
                                args.data_dir, args.cache_dir, args.device, args.weights))
    else:
        print(inference.generate(args.task, args.backend, args.prefix, args.chars, args.runs, args.run,
                                 args.data_dir, args.cache_dir, args.device, args.weights))
    return 0


ENTRIES = {"predict": main, "generate": main}
