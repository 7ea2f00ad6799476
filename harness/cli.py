"""``python -m harness``: list, run, matrix, report, baseline and compare.

Imports only the standard library until it runs work.

Every failure the user can fix ends in one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

import backends
import tasks
from harness import launcher
from harness.common import config, outdir
from harness.errors import UserError

PROG = "python -m harness"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


def _config_options(p: argparse.ArgumentParser) -> None:
    """``--set`` and ``--config``, shared by `run`, `matrix`, `bench` and `parity`."""
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change one field: model.* (hidden_size, cell, ...), recipe.* (lr, batch_size, "
                        "optimizer, ...) or data.* (the task's data options, e.g. maxlen); repeatable; "
                        "`list` names them")
    p.add_argument("--config", metavar="FILE.toml",
                   help="task, backend, scale and [model]/[recipe]/[data] settings from a TOML file; "
                        "the command line wins over it")


def _run_options(p: argparse.ArgumentParser) -> None:
    """Options of one run, shared by `run` and `matrix`."""
    p.add_argument("--scale", help="a scale of the task (default: the task's default, full); see `list`")
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
    p.add_argument("--cell", choices=("rnn", "gru", "lstm", "spiking-lstm"),
                   help="run the scale's model with another cell kind (model.cell; the record says which)")
    p.add_argument("--threads", type=int,
                   help="CPU threads of the framework (default: the cores this process may use)")
    p.add_argument("--sampling", choices=("random", "consecutive"),
                   help="language models: independent shuffled windows, or consecutive windows with the "
                        "hidden state carried (recipe.sampling; default: the task's recipe)")
    _config_options(p)


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description="rnnbench: the same recurrent model on every framework.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    sub.add_parser("list", help="tasks (scales, targets) and backends (installed or not)")

    test = sub.add_parser("test", help="the test suite (tox; installed privately when missing)")
    test.add_argument("--full", action="store_true",
                      help="also the long tests (every task on every backend, real bench and doctor workers)")
    test.add_argument("tox_args", nargs=argparse.REMAINDER, help="passed to tox, e.g. -e core")

    run = sub.add_parser("run", help="train and evaluate one task on one backend")
    run.add_argument("--task", help=f"one of: {', '.join(tasks.all_names())}")
    run.add_argument("--backend", help=f"one of: {', '.join(backends.names())}")
    run.add_argument("--seed", type=int, help="seed of weights, dropout and batch order (default 0)")
    _run_options(run)
    run.add_argument("--out", default="results/runs", help="folder for the result record")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    for name, what in (("predict", "top classes of a text from a finished run's checkpoint"),
                       ("generate", "continue a prefix with a finished language-model run")):
        inf = sub.add_parser(name, help=what)
        inf.add_argument("--task", required=True, help=f"one of: {', '.join(tasks.all_names())}")
        inf.add_argument("--backend", required=True, help=f"one of: {', '.join(backends.names())}")
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

    parity = sub.add_parser("parity", help="check that backends compute the same function")
    parity.add_argument("--task", help=f"one of: {', '.join(tasks.all_names())}")
    parity.add_argument("--backends", help="comma-separated, e.g. torch,keras,jax,mxnet")
    parity.add_argument("--scale", help="the task's model at this scale (default: smoke)")
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
    _config_options(parity)

    worker = sub.add_parser("parity-worker", help=argparse.SUPPRESS)
    for name in ("--task", "--scale", "--cell", "--backend", "--weights", "--batch", "--result", "--optim"):
        worker.add_argument(name, required=True)
    worker.add_argument("--steps", type=int, required=True)
    worker.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu")

    matrix = sub.add_parser("matrix", help="every task x backend x seed, one subprocess per run, resumable")
    matrix.add_argument("--tasks", help=f"comma-separated (default: all: {','.join(tasks.all_names())})")
    matrix.add_argument("--backends", help=f"comma-separated (default: all: {','.join(backends.names())})")
    matrix.add_argument("--repeats", type=int, default=1, help="runs per combination, seeds 0..K-1")
    _run_options(matrix)
    matrix.add_argument("--out", default="results/runs", help="folder for the result records")
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

    bench = sub.add_parser("bench", help="throughput by an interleaved, repeated protocol (sweeps of sizes)")
    bench.add_argument("--tasks", help="comma-separated (default: imdb)")
    bench.add_argument("--backends", help=f"comma-separated (default: all: {','.join(backends.names())}); "
                                          "BACKEND-reference adds that framework's hand-written loop "
                                          "(benchmarks/reference/)")
    bench.add_argument("--references", action="store_true",
                       help="add each listed backend's reference row after it (torch: torch,torch-reference)")
    bench.add_argument("--scale", help="the tasks' model at this scale (default: the task's default, full)")
    bench.add_argument("--repeats", type=int, default=5, help="interleaved repeats per point and backend")
    bench.add_argument("--steps", type=int, default=30,
                       help="timed training steps, and as many inference batches, at least (default 30: the "
                            "six IMDB backends, 5 repeats, in 7-11 minutes on 2 cores)")
    bench.add_argument("--min-time", type=float, default=2.0, metavar="SECONDS",
                       help="time at least this long per repeat, for training and for inference: a short "
                            "calibration sets the step count, never below --steps (default 2; 0: exactly "
                            "--steps)")
    bench.add_argument("--warmup", type=int, default=3, help="untimed steps before each repeat")
    bench.add_argument("--sweep", action="append", metavar="FIELD=V1,V2,...",
                       help="vary one field (batch_size, hidden_size, seq_len, num_layers, cell, any model "
                            "or recipe field); repeat for a grid")
    bench.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    bench.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    bench.add_argument("--threads", type=int, help="threads of every backend (default: the usable cores)")
    bench.add_argument("--no-flush-to-zero", dest="flush_to_zero", action="store_false",
                       help="keep denormal floats on the CPU")
    bench.add_argument("--out", default="results/bench", help="folder for bench records")
    bench.add_argument("--resume", action="store_true", help="continue the newest unfinished bench in OUT")
    bench.add_argument("--reuse-workers", dest="fresh_workers", action="store_false",
                       help="one worker per backend for every repeat (faster; default: a fresh worker per "
                            "repeat with a random process layout, see docs/bench.md)")
    bench.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _config_options(bench)

    bench_worker = sub.add_parser("bench-worker", help=argparse.SUPPRESS)
    bench_worker.add_argument("--backend", required=True)
    bench_worker.add_argument("--device", default="auto")
    bench_worker.add_argument("--precision", default="fp32")
    bench_worker.add_argument("--threads", type=int, required=True)
    bench_worker.add_argument("--no-flush-to-zero", dest="flush_to_zero", action="store_false")

    doctor = sub.add_parser("doctor", help="the GPU paths checked end to end in one time-boxed command: "
                                           "environment, parity, every task's smoke scale, the bench")
    doctor.add_argument("--device", choices=("cpu", "gpu"), default="gpu",
                        help="gpu (default; no GPU is a one-line error), or cpu: the same check on a CPU")
    doctor.add_argument("--out", default="results/doctor", help="folder for its records")
    doctor.add_argument("--budget-s", type=float, default=480.0,
                        help="seconds for the whole check (default 480); what no longer fits is skipped")
    doctor.add_argument("--backends", help=f"comma-separated (default: all: {','.join(backends.names())})")
    doctor.add_argument("--tasks", help="smoke tasks, comma-separated (default: all, imdb and ptb first)")
    doctor.add_argument("--precisions", default="fp32,bf16,fp16",
                        help="smoke and bench precisions (default: fp32,bf16,fp16; fp16 where offered)")
    doctor.add_argument("--epochs", type=int, default=1, help="epochs of each smoke run (default 1)")
    doctor.add_argument("--parity-cells", default="rnn,gru,lstm", help="cells of the parity check (default: "
                                                                      "rnn,gru,lstm)")
    doctor.add_argument("--parity-steps", type=int, default=5, help="training steps compared (default 5)")
    doctor.add_argument("--bench-tasks", default="imdb,ptb", help="tasks of the bench (default: imdb,ptb)")
    doctor.add_argument("--bench-scale", default="full", help="the bench tasks' scale (default full)")
    doctor.add_argument("--bench-steps", type=int, default=10, help="timed bench steps (default 10)")
    doctor.add_argument("--bench-repeats", type=int, default=2, help="bench repeats (default 2)")
    doctor.add_argument("--jobs", type=int, help="processes side by side in a phase, never in the bench "
                                                 "(default: 1 on a CPU, up to 4 on a GPU)")
    doctor.add_argument("--tox", dest="tox", action="store_true", default=None,
                        help="run a backend this Python lacks in its tox environment (default with cpu)")
    doctor.add_argument("--no-tox", dest="tox", action="store_false",
                        help="only this Python: a backend it lacks is not available (default with gpu)")
    doctor.add_argument("--data-dir", help="local dataset mirror (default: $RNNBENCH_DATA_DIR)")
    doctor.add_argument("--cache-dir", help="download and tokenisation cache")
    probe = sub.add_parser("doctor-probe", help=argparse.SUPPRESS)
    for name in ("--backend", "--device", "--result"):
        probe.add_argument(name, required=True)
    probe.add_argument("--precisions", default="fp32,bf16,fp16")
    dw = sub.add_parser("doctor-worker", help=argparse.SUPPRESS)
    for name in ("--backend", "--device", "--precision", "--tasks", "--out", "--result"):
        dw.add_argument(name, required=True)
    dw.add_argument("--epochs", type=int, required=True)
    dw.add_argument("--deadline", type=float, required=True, help="a time.time() after which no task starts")
    dw.add_argument("--threads", type=int)
    dw.add_argument("--data-dir")
    dw.add_argument("--cache-dir")

    report = sub.add_parser("report", help="tables, plots and an HTML page from result records")
    report.add_argument("--runs", default="results/runs", help="folder of result records")
    report.add_argument("--out", default="results/report", help="folder for report.md/.html and PNG plots")
    report.add_argument("--readme", help="rewrite the results section of this README")
    report.add_argument("--bench", default="results/bench",
                        help="folder of bench records (the Speed section)")
    report.add_argument("--include-smoke", action="store_true",
                        help="also the smoke-scale comparisons (left out: their figures say nothing)")

    baseline = sub.add_parser("baseline", help="store throughput figures to compare later runs against")
    baseline_sub = baseline.add_subparsers(dest="action", required=True, parser_class=Parser)
    save = baseline_sub.add_parser("save", help="save the latest runs' throughput (median, spread)")
    save.add_argument("--runs", default="results/runs", help="folder of result records")
    save.add_argument("--file", help="baseline JSON (default: results/baselines/<machine>.json)")

    compare = sub.add_parser("compare", help="latest runs against a baseline; exit 1 on a slowdown")
    compare.add_argument("--baseline", required=True, help="a file written by `baseline save`")
    compare.add_argument("--runs", default="results/runs", help="folder of result records")
    compare.add_argument("--threshold", type=float, default=0.10,
                         help="smallest slowdown flagged, as a fraction (default 0.10); the measured "
                              "noise raises it, see docs/comparing.md")
    return parser


def _check_names(args: argparse.Namespace) -> None:
    if args.task not in tasks.all_names():
        raise UserError(f"unknown task {args.task!r}; choose one of: {', '.join(tasks.all_names())}")
    if args.backend not in backends.names():
        raise UserError(f"unknown backend {args.backend!r}; choose one of: {', '.join(backends.names())}")


def _early_checks(args: argparse.Namespace) -> None:
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


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    config.merge(args, required=("task", "backend"))
    _check_names(args)
    info = backends.get(args.backend)
    _early_checks(args)
    outdir.check_writable(args.out)
    core_lacking = launcher.missing(launcher.CORE_MODULES)
    lacking = core_lacking + launcher.missing(info.requires)
    if lacking:
        return launcher.run_in_tox(info.tox_env, argv, lacking)
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


def _inference(args: argparse.Namespace, argv: list[str]) -> int:
    _check_names(args)
    info = backends.get(args.backend)
    lacking = launcher.missing(launcher.CORE_MODULES) + launcher.missing(info.requires)
    if lacking:
        return launcher.run_in_tox(info.tox_env, argv, lacking)
    from harness.predict import inference

    if args.command == "predict":
        print(inference.predict(args.task, args.backend, args.text, args.top, args.runs, args.run,
                                args.data_dir, args.cache_dir, args.device, args.weights))
    else:
        print(inference.generate(args.task, args.backend, args.prefix, args.chars, args.runs, args.run,
                                 args.data_dir, args.cache_dir, args.device, args.weights))
    return 0


def _core_command(args: argparse.Namespace, argv: list[str]) -> int:
    lacking = launcher.missing(launcher.CORE_MODULES)
    if lacking:
        return launcher.run_in_tox("report", argv, lacking)
    if args.command == "list":
        from harness.list import listing

        print(listing.render())
        return 0
    if args.command == "report":
        from harness.report import runs as report

        outdir.check_writable(args.out)
        print(report.main(args.runs, args.out, args.readme, args.bench, args.include_smoke))
        return 0
    from harness.baseline import baselines as baseline

    if args.command == "baseline":
        print(baseline.save(args.runs, args.file))
        return 0
    text, code = baseline.compare(args.baseline, args.runs, args.threshold)
    print(text)
    return code


def _parity(args: argparse.Namespace, argv: list[str]) -> int:
    config.merge(args, required=("task", "backends"))
    args.scale = args.scale or "smoke"
    names = [b for b in args.backends.split(",") if b]
    unknown = [b for b in names if b not in backends.names()]
    if unknown or not names:
        raise UserError(f"unknown backend(s) {', '.join(unknown) or '(none given)'}; "
                        f"choose from: {', '.join(backends.names())}")
    if args.task not in tasks.all_names():
        raise UserError(f"unknown task {args.task!r}; choose one of: {', '.join(tasks.all_names())}")
    lacking = launcher.missing(launcher.CORE_MODULES)
    if lacking:
        return launcher.run_in_tox("report", argv, lacking)
    from harness.parity import check as parity

    cells = args.cells.split(",") if args.cells else None
    optim = {"optimizer": args.optimizer, "adam_eps": args.adam_eps, "rms_eps": args.rms_eps,
             "centered": args.centered or None, "momentum": args.momentum, "clip_norm": args.clip_norm,
             "weight_decay": args.weight_decay, "settings": args.settings or None}
    optim = {k: v for k, v in optim.items() if v is not None}
    try:
        table, ok = parity.run(args.task, names, args.scale, cells, args.steps, args.seed, optim=optim)
    except (KeyError, ValueError) as exc:
        raise UserError(str(exc.args[0])) from None
    print(table)
    if not ok:
        raise UserError("parity failed: a backend differs beyond tolerance (rows marked FAIL above)")
    return 0


def _parity_worker(args: argparse.Namespace, argv: list[str]) -> int:
    info = backends.get(args.backend)
    lacking = launcher.missing(launcher.CORE_MODULES) + launcher.missing(info.requires)
    if lacking:
        return launcher.run_in_tox(info.tox_env, argv, lacking)
    from harness.parity import check as parity

    return parity.run_worker(args)


def _bench(args: argparse.Namespace, argv: list[str]) -> int:
    config.merge(args)
    lacking = launcher.missing((*launcher.CORE_MODULES, "psutil"))
    if lacking:
        return launcher.run_in_tox("report", argv, lacking)
    from harness.bench import driver as bench

    return bench.main(args)


def _bench_worker(args: argparse.Namespace) -> int:
    from harness.bench import worker as bench_worker

    return bench_worker.serve(args.backend, args.device, args.precision, args.threads, args.flush_to_zero)


def _doctor(args: argparse.Namespace, argv: list[str]) -> int:
    """``doctor`` (the core environment: it starts every backend in its own process) and its workers
    (``doctor-probe``, ``doctor-worker``: run by the backend's Python, which the doctor picks)."""
    if args.command == "doctor":
        lacking = launcher.missing(launcher.CORE_MODULES)
        if lacking:
            return launcher.run_in_tox("report", argv, lacking)
        from harness.doctor import driver as doctor

        return doctor.main(args)
    from harness.doctor import worker as doctor_worker

    if args.command == "doctor-probe":
        return doctor_worker.run_probe(args.backend, args.device, args.result, args.precisions)
    return doctor_worker.run_smoke(args)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if os.environ.get("RNNBENCH_CWD"):  # re-run inside a tox environment: paths are the caller's
        os.chdir(os.environ["RNNBENCH_CWD"])
    if argv[:1] == ["test"] and not {"-h", "--help"} & set(argv[1:2]):  # tox's own options pass through
        try:
            return launcher.run_tox(argv[1:])
        except UserError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return exc.exit_code
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, argv)
        if args.command == "parity":
            return _parity(args, argv)
        if args.command in ("predict", "generate"):
            return _inference(args, argv)
        if args.command == "parity-worker":
            return _parity_worker(args, argv)
        if args.command == "bench":
            return _bench(args, argv)
        if args.command == "bench-worker":
            return _bench_worker(args)
        if args.command in ("doctor", "doctor-probe", "doctor-worker"):
            return _doctor(args, argv)
        if args.command == "matrix":
            # standard library only: each run finds its own environment
            from harness.matrix import driver as matrix

            config.merge(args)
            return matrix.main(args)
        return _core_command(args, argv)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished records are kept", file=sys.stderr)
        return 130
