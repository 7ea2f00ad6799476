"""``python -m harness bench``: throughput by an interleaved, repeated protocol, apart from training runs.

Workers run in each backend's own environment (``harness.bench.worker``): by default a fresh one per repeat,
started with a random-length environment variable so that its memory layout is drawn anew
(``harness.bench.layout``: a process' layout alone moved a backend by 25%), or with ``--reuse-workers`` one
per backend for all of its points; only one backend works at a time. Order: for each point, repeat 1 of every
backend, then repeat 2, and so on, so a drift of the machine's load touches every backend alike. Every repeat
is sampled for other processes' CPU use (``harness.bench.quiet``); figures taken while others used the machine
are marked ``busy`` on screen and in the records.

Records (``records.BENCH``, one per point and backend) are rewritten atomically after every repeat under
``OUT/<bench id>/``, beside the bench's manifest (``bench.json``: its options and plan). Ctrl-C or a crash
keeps every finished repeat; ``--resume`` continues the newest unfinished bench of ``OUT``. A point a backend
cannot run (an unsupported cell, out of memory, a crashed worker) is recorded as failed with its error, and
the bench goes on.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import backends
import tasks
from harness import launcher, records
from harness import statistics as st
from harness.bench import ab, gemm, layout, peak, quiet, verdicts
from harness.bench import numerics as bench_numerics
from harness.bench import plan as bench_plan
from harness.bench import reference as bench_reference
from harness.bench.worker import REPLY
from harness.common import environment, outdir, threads
from harness.errors import UserError
from harness.options import parse_names
from harness.statistics import relative_spread, spread

MANIFEST = "bench.json"
SPREAD_OK = 0.10  # the protocol's promise on a quiet machine: (max - min) / median of the repeats
# the options that define a bench: a resume must ask for the same ones
PLAN_OPTIONS = ("tasks", "backends", "scale", "sweeps", "repeats", "steps", "min_time", "warmup", "threads",
                "device", "precision", "flush_to_zero", "settings", "fresh_workers", "margin", "sequential",
                "max_rounds", "calibrate", "block")
# what a manifest written before an option existed meant by it
OPTION_DEFAULTS = {"min_time": 0.0, "margin": st.MARGIN, "sequential": False, "max_rounds": st.MAX_ROUNDS,
                   "calibrate": False, "block": 9}


class WorkerDied(Exception):
    """The worker process ended while measuring (killed, out of memory, a crash in native code)."""


class Worker(Protocol):
    pid: int | None

    def measure(self, request: dict[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


STEP_BUDGET = 600.0  # seconds one measurement may take, its compilation included (--step-budget)


class ProcessWorker:
    """A ``python -m harness bench-worker`` process in the backend's environment (harness.launcher)."""

    def __init__(self, backend: str, opts: dict[str, Any], log: Path, randomise_layout: bool = False) -> None:
        row = (opts.get("rows") or {}).get(backend) or {}  # an A/B row: its backend, Python and tree
        backend = row.get("backend", backend)
        info = backends.get(bench_reference.base(backend))  # a reference row runs in its backend's env
        python = row.get("python") or launcher.env_python(info)
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log
        self.step_budget = float(opts.get("step_budget") or STEP_BUDGET)
        self._log = open(log, "a")  # noqa: SIM115 - kept open for the worker's life
        argv = launcher.bench_worker_argv(backend, opts["device"], opts["precision"], opts["threads"],
                                          opts["flush_to_zero"])
        # a fresh stack and heap placement for this worker (harness/bench/layout.py)
        pad = layout.environ() if randomise_layout else {}
        self.proc = launcher.start_bench_worker(python, argv, opts["threads"], pad, layout.VAR, self._log,
                                                tree=row.get("tree"))
        self.pid: int | None = self.proc.pid
        self._read()  # the ready line: the framework imported and the threads set

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY):])
        code = self.proc.wait()
        raise WorkerDied(f"the worker exited with status {code}; its log: {self.log_path} ({self._tail()})")

    def _tail(self) -> str:
        try:
            lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:200] if lines else "empty log"

    def measure(self, request: dict[str, Any]) -> dict[str, Any]:
        """The worker's reply; past ``step_budget`` seconds (a compiler that does not finish) the worker
        is stopped and the point recorded as over budget, not waited for forever."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerDied(f"the worker is gone; its log: {self.log_path} ({self._tail()})") from None
        expired = threading.Event()

        def stop() -> None:
            expired.set()
            launcher.kill_group(self.proc.pid)

        timer = threading.Timer(self.step_budget, stop)
        timer.daemon = True
        timer.start()
        try:
            return self._read()
        except WorkerDied:
            if expired.is_set():
                raise WorkerDied(f"over the step budget: one measurement (its first step compiles) ran past "
                                 f"{self.step_budget:.0f} s and was stopped (--step-budget)") from None
            raise
        finally:
            timer.cancel()

    def close(self) -> None:
        launcher.end_piped(self.proc, json.dumps({"op": "quit"}))
        self._log.close()


WorkerFactory = Callable[[str, Path], Worker]  # (backend, bench folder) -> a started worker
# (points, rows, A/B pairs, log folder) -> the numerics entries (harness.bench.numerics.run)
NumericsCheck = Callable[[list[bench_plan.Point], dict[str, dict[str, Any]], list[tuple[str, str]], Path],
                         list[dict[str, Any]]]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _rates(reps: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [r[key] for r in reps if isinstance(r.get(key), (int, float))]
    s = spread(values)
    s["values"] = values
    s["spread"] = relative_spread(s)
    return s


def summarise(record: dict[str, Any]) -> None:
    """Fill the record's figures from its repeats (median, min, max, every repeat, relative spread)."""
    reps = record["repeats"]
    record["train"] = {"samples_per_s": _rates(reps, "train_samples_per_s"),
                       "tokens_per_s": _rates(reps, "train_tokens_per_s")}
    record["inference"] = {"samples_per_s": _rates(reps, "infer_samples_per_s"),
                           "tokens_per_s": _rates(reps, "infer_tokens_per_s")}
    record["busy"] = bool(record.get("load_before", {}).get("busy")) or any(
        r["load"]["busy"] for r in reps)


def new_record(bench_id: str, point: bench_plan.Point, backend: str, opts: dict[str, Any],
               load_before: dict[str, Any], numerics: dict[str, Any] | None = None) -> dict[str, Any]:
    shape = bench_plan.resolve(point)
    return {
        "schema": records.BENCH, "bench_id": bench_id, "run_id": f"{bench_id}/{point.id}/{backend}",
        "point": {**point.to_dict(), **shape.describe()}, "task": point.task, "scale": point.scale,
        "backend": backend, "reference": bench_reference.is_reference(backend), "status": "partial",
        "error": None, "started": _now(), "finished": None,
        "protocol": {k: opts[k] for k in ("steps", "warmup", "repeats", "threads", "device", "precision")}
        | {"min_time_s": opts.get("min_time", 0.0)}
        | {"interleaved": list(opts["backends"]), "order": "ABBA", "synchronised": True,
           "fresh_worker_per_repeat": bool(opts.get("fresh_workers")),
           "verdicts": {"design": design(opts).to_dict(), "margin": opts.get("margin", st.MARGIN)}},
        "ab": public_row((opts.get("rows") or {}).get(backend)), "numerics": numerics,
        "repeats": [], "first_step_s": None, "first_predict_s": None, "build_s": None,
        "memory": {"peak_host_bytes": None, "peak_device_bytes": None},
        "environment": None, "load_before": load_before, "busy": bool(load_before.get("busy")),
    }


def design(opts: dict[str, Any]) -> st.Design:
    """The bench's verdict design: sequential looks for an A/B bench, else one look after the repeats."""
    if opts.get("sequential"):
        return st.sequential(st.MIN_ROUNDS, opts["max_rounds"])
    return st.fixed(opts["repeats"])


def rounds(opts: dict[str, Any]) -> int:
    """The most rounds a point gets: ``--max-rounds`` in an A/B bench, else ``--repeats``."""
    return opts["max_rounds"] if opts.get("sequential") else opts["repeats"]


def order(names: list[str], repeat: int) -> list[str]:
    """The rows' order in round ``repeat``: ABBA (forward in even rounds, reversed in odd ones), so no
    row always runs first or last after a given other row."""
    return list(names) if repeat % 2 == 0 else list(reversed(names))


def public_row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a record keeps of an A/B row: all but this machine's interpreter path."""
    return None if not row else {k: v for k, v in row.items() if k != "python"}


BUILD_KEYS = ("build_s", "first_step_s", "first_predict_s")  # what a worker's build of a point times


def _add_repeat(record: dict[str, Any], result: dict[str, Any], load: dict[str, Any]) -> None:
    for key in BUILD_KEYS:  # the record keeps the first build's (fresh workers rebuild every repeat)
        if key in result and record.get(key) is None:
            record[key] = result[key]
    train, infer, seq = result["train_steps_per_s"], result["infer_steps_per_s"], result["seq_len"]
    record["repeats"].append({
        "repeat": result["repeat"], "train_s": result["train_s"], "infer_s": result["infer_s"],
        "train_chunks_s": result["train_chunks_s"], "infer_chunks_s": result["infer_chunks_s"],
        "train_samples_per_s": train * result["train_batch"],
        "train_tokens_per_s": train * result["train_batch"] * seq,
        "infer_samples_per_s": infer * result["infer_batch"],
        "infer_tokens_per_s": infer * result["infer_batch"] * seq,
        "train_steps": result.get("train_steps", result.get("steps")),
        "infer_steps": result.get("infer_steps", result.get("steps")),
        "last_loss": result.get("last_loss"), "load": load, "pid": result.get("pid"),
        "layout_pad": result.get("layout_pad"),
        **({"calibration_idle": result["calibration_idle"]} if result.get("calibration_idle") else {}),
        **{key: result[key] for key in BUILD_KEYS if key in result},
    })
    record["memory"] = {"peak_host_bytes": result.get("peak_host_bytes"),
                        "peak_device_bytes": result.get("peak_device_bytes")}
    if record["environment"] is None:
        env = environment.collect(result["backend"], result.get("flush_to_zero"))
        env["denormals_flushed"] = result.get("denormals_flushed", env.get("denormals_flushed"))
        env["threads"] = result.get("threads")
        record["environment"] = env
    summarise(record)


def _record_path(bench_dir: Path, point_id: str, backend: str) -> Path:
    return bench_dir / f"{point_id}--{backend}.json"


def find_resumable(out: Path) -> Path | None:
    """The newest unfinished bench folder under ``out``."""
    found = []
    for manifest, data in records.documents(out, records.BENCH_MANIFEST, recursive=False,
                                            pattern=f"*/{MANIFEST}"):
        if data.get("status") != "finished":
            found.append((data.get("started", ""), manifest.parent))
    return max(found)[1] if found else None


def _option(opts: dict[str, Any], key: str) -> Any:
    value = opts.get(key)
    return OPTION_DEFAULTS.get(key) if value is None else value


def prepare(opts: dict[str, Any], out: Path, resume: bool) -> tuple[Path, dict[str, Any]]:
    """The bench folder and its manifest: a new one, or the unfinished one a resume continues."""
    if resume:
        folder = find_resumable(out)
        if folder is None:
            raise UserError(f"--resume: no unfinished bench under {out}; start one without --resume")
        manifest = json.loads((folder / MANIFEST).read_text())
        stored = manifest["options"]
        differ = [k for k in PLAN_OPTIONS if _option(stored, k) != _option(opts, k)]
        if differ:
            was = ", ".join(f"{k}={stored.get(k)}" for k in differ)
            raise UserError(f"--resume: the unfinished bench {folder} was started with other options "
                            f"({was}); give the same options, or start a new bench without --resume")
        return folder, manifest
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder, n = out / f"bench-{stamp}", 1
    while folder.exists():
        n += 1
        folder = out / f"bench-{stamp}-{n}"
    manifest = {"schema": records.BENCH_MANIFEST, "bench_id": folder.name, "started": _now(),
                "status": "running",
                "options": {k: _option(opts, k) for k in PLAN_OPTIONS},
                "points": [p.to_dict() for p in opts["points"]],
                "rows": {n: public_row(r) for n, r in (opts.get("rows") or {}).items()},
                "design": design(opts).to_dict(), "verdicts": [], "numerics": None, "finished": None}
    try:
        records.dump_atomic(folder / MANIFEST, manifest)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc}); give a writable "
                        "folder") from None
    return folder, manifest


def _measure_one(rec: dict[str, Any], point: bench_plan.Point, repeat: int, backend: str,
                 opts: dict[str, Any], workers: dict[str, Worker], make_worker: WorkerFactory, folder: Path,
                 sampler: Callable[[list[int]], quiet.Sample], pids: Callable[[], list[int]], fresh: bool,
                 bar: Any, say: Callable[[str], None]) -> None:
    """One repeat of one row at one point: measured, added to its record, the record rewritten."""
    request = {"op": "measure", "point": point.to_dict(), "repeat": repeat, "steps": opts["steps"],
               "warmup": opts["warmup"], "min_time": opts.get("min_time", 0.0)}
    idle = ((opts.get("rows") or {}).get(backend) or {}).get("idle")
    if idle:  # a calibration row: the worker idles this fraction of every timed span
        request["idle"] = idle
    try:
        if backend not in workers:
            workers[backend] = make_worker(backend, folder)
        s0 = sampler(pids())
        reply = workers[backend].measure(request)
        load = quiet.others(s0, sampler(pids()))
        if fresh:  # the next repeat starts another worker, with another layout
            workers.pop(backend).close()
    except (WorkerDied, UserError) as exc:
        worker = workers.pop(backend, None)
        if worker is not None:
            worker.close()
        reply = {"ok": False, "error": str(exc)}
    if reply.get("ok"):
        _add_repeat(rec, reply["result"], load)
        rate = rec["repeats"][-1]["train_samples_per_s"]
        bar.set_postfix_str(f"{rate:,.0f} samples/s" + (" BUSY" if load["busy"] else ""))
        if not opts.get("sequential") and len(rec["repeats"]) == opts["repeats"]:
            rec["status"], rec["finished"] = "ok", _now()
    else:
        rec["status"], rec["error"], rec["finished"] = "failed", reply.get("error"), _now()
        say(f"rnnbench: {point.id} on {backend} failed: {rec['error']}; the bench goes on")
    records.dump_atomic(_record_path(folder, point.id, rec["backend"]), rec)
    bar.update(1)


def run(opts: dict[str, Any], out: Path, make_worker: WorkerFactory, resume: bool = False,
        sampler: Callable[[list[int]], quiet.Sample] = quiet.sample, progress: bool = True,
        say: Callable[[str], None] | None = None, numerics: NumericsCheck | None = None
        ) -> tuple[Path, list[dict[str, Any]]]:
    """Measure every point on every backend, interleaved and repeated; the bench folder and its records.
    ``numerics``: an A/B bench's check that its rows compute the same numbers, run once before the
    rounds (a resume keeps what it found)."""
    from tqdm.auto import tqdm

    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    folder, manifest = prepare(opts, out, resume)
    fresh = bool(opts.get("fresh_workers"))
    points = [bench_plan.Point.from_dict(p) for p in manifest["points"]]
    names: list[str] = list(opts["backends"])
    recs: dict[tuple[str, str], dict[str, Any]] = {}
    for p in points:
        for b in names:
            path = _record_path(folder, p.id, b)
            if path.exists():
                recs[(p.id, b)] = json.loads(path.read_text())
    workers: dict[str, Worker] = {}

    def pids() -> list[int]:
        return [w.pid for w in workers.values() if w.pid]

    a = sampler([])
    time.sleep(1.0 if sampler is quiet.sample else 0.0)
    load_before = quiet.others(a, sampler([]))
    if load_before["busy"]:
        who = ", ".join(quiet.top_others([], 1.0)) if sampler is quiet.sample else ""
        say(f"rnnbench: the machine is busy: other processes use {load_before['others_cores']:.2f} cores "
            f"(load average {load_before['loadavg'][0]:.2f}{'; ' + who if who else ''}); figures will be "
            "marked busy: for figures to publish, bench on an otherwise idle machine")
    total = rounds(opts)
    seq = design(opts) if opts.get("sequential") else None
    pairs = verdicts.ab_pairs(names, opts.get("rows") or {})
    if numerics is not None and opts.get("sequential") and pairs and manifest.get("numerics") is None:
        say(f"rnnbench: numerics: {len(pairs)} A/B pair(s) run the parity check's training steps from the "
            "same weights (harness/bench/numerics.py)")
        manifest["numerics"] = numerics(points, opts.get("rows") or {}, pairs, folder / "logs")
        records.dump_atomic(folder / MANIFEST, manifest)
        for e in manifest["numerics"]:
            if e["verdict"] != "same":
                say(f"rnnbench: numerics of {e['point']} {e['a']} / {e['b']}: {bench_numerics.mark(e)}"
                    + (f" ({e['error']})" if e.get("error") else ""))

    def measured(rec: dict[str, Any] | None, repeat: int) -> bool:
        return bool(rec) and (rec["status"] == "failed" or any(x["repeat"] == repeat for x in rec["repeats"]))

    def stopped(point: bench_plan.Point, repeat: int) -> bool:
        """A sequential bench stops a point at a look where every A/B comparison is decided."""
        if seq is None or not seq.is_look(repeat):
            return False
        point_recs = [r for b in names if (r := recs.get((point.id, b)))]
        return not verdicts.undecided(point_recs)

    done = sum(1 for p in points for r in range(total) for b in names if measured(recs.get((p.id, b)), r))
    bar = tqdm(total=len(points) * total * len(names), initial=done, desc="bench", unit="repeat",
               disable=not progress, dynamic_ncols=True, file=sys.stderr)
    try:
        for point in points:
            for repeat in range(total):
                if stopped(point, repeat):
                    say(f"rnnbench: {point.id}: every comparison decided after {repeat} rounds")
                    bar.update(len(names) * (total - repeat))
                    break
                for backend in order(names, repeat):
                    key = (point.id, backend)
                    rec = recs.get(key)
                    if rec is None:
                        rec = recs[key] = new_record(folder.name, point, backend, opts, load_before,
                                                     bench_numerics.lookup(manifest.get("numerics"),
                                                                           point.id, backend))
                    if measured(rec, repeat):
                        continue
                    bar.set_description(f"{point.id} {backend} r{repeat + 1}")
                    _measure_one(rec, point, repeat, backend, opts, workers, make_worker, folder, sampler,
                                 pids, fresh, bar, say)
            for backend in names:  # the point is finished: every row that measured is ok
                rec = recs.get((point.id, backend))
                if rec is not None and rec["status"] == "partial" and rec["repeats"]:
                    rec["status"], rec["finished"] = "ok", rec["finished"] or _now()
                    records.dump_atomic(_record_path(folder, point.id, backend), rec)
        manifest["verdicts"] = [c.to_dict() for c in verdicts.comparisons(list(recs.values()))
                                if c.kind == "ab"]
        if opts.get("gemm"):
            for w in workers.values():  # no worker of the rounds runs beside the products
                w.close()
            workers.clear()
            measure_gemm(opts, folder, list(recs.values()), make_worker, say)
        manifest.update(status="finished", finished=_now())
        records.dump_atomic(folder / MANIFEST, manifest)
    finally:
        bar.close()
        for worker in workers.values():
            worker.close()
    return folder, [recs[(p.id, b)] for p in points for b in names if (p.id, b) in recs]


def measure_gemm(opts: dict[str, Any], folder: Path, recs: list[dict[str, Any]], make_worker: WorkerFactory,
                 say: Callable[[str], None]) -> list[Path]:
    """After the rounds: one worker per framework measured times its matrix products, the square one
    and the points' own shapes (``harness.bench.gemm``), into ``peak-<library>.json`` in the bench
    folder; a resumed bench keeps the files it has. A framework whose products fail is named, not fatal."""
    done = [r for r in recs if r.get("status") == "ok"]
    if not done:
        return []
    env = done[0].get("environment") or {}
    key = peak.device_key(done[0])
    device = "cpu" if str((env.get("backend") or {}).get("device", "cpu")) == "cpu" else "gpu"
    cell_shapes = [s for p in {r["point"]["id"]: r["point"] for r in done}.values()
                   for s in gemm.shapes(p, peak.GATES)]
    first = {gemm.library(r["backend"]): r["backend"] for r in reversed(done)}  # each library's first row
    written = []
    for lib, row in sorted(first.items()):
        path = folder / f"peak-{lib}.json"
        if path.exists():
            written.append(path)
            continue
        try:
            worker = make_worker(row, folder)
        except WorkerDied as exc:
            say(f"rnnbench: GEMM rates of {lib}: {exc}")
            continue
        try:
            reply = worker.measure({"op": "gemm", "device": device, "square": gemm.SQUARE[device],
                                    "shapes": cell_shapes})
        except WorkerDied as exc:
            reply = {"ok": False, "error": str(exc)}
        finally:
            worker.close()
        if not reply.get("ok"):
            say(f"rnnbench: GEMM rates of {lib}: {reply.get('error')}")
            continue
        records.dump_atomic(path, gemm.record(reply["result"], folder.name, row, key, device,
                                              opts["precision"], opts["threads"], env.get("cpu", "")))
        square, *own = reply["result"]["shapes"]
        say(f"rnnbench: GEMM {lib}: {square['tflops'] * 1e3:,.0f} GFLOP/s at {square['m']}x{square['m']}"
            + "".join(f"; {s['m']}x{s['k']}x{s['n']}: {s['tflops'] * 1e3:,.1f}" for s in own))
        written.append(path)
    return written


def load_all(folder: Path) -> list[dict[str, Any]]:
    """Every bench record under ``folder`` (recursively), oldest first; each unreadable one named."""
    found = []
    for path, data in records.documents(folder, records.BENCH):
        data["_path"] = str(path)
        found.append(data)
    return sorted(found, key=lambda r: r.get("started", ""))


def table(recs: list[dict[str, Any]]) -> str:
    """The terminal summary: one row per point and backend."""
    from tabulate import tabulate

    def rate(r: dict[str, Any], part: str) -> str:
        s = (r.get(part) or {}).get("samples_per_s") or {}
        if not s.get("median"):
            return "n/a"
        return f"{s['median']:,.0f} [{s['min']:,.0f}-{s['max']:,.0f}] spread {s['spread']:.0%}"

    rows = []  # spread: (max - min) / median of the repeats
    for r in recs:
        first = r.get("first_step_s")
        rows.append((r["point"]["id"], r["backend"], r["status"] + (" BUSY" if r.get("busy") else ""),
                     rate(r, "train"), rate(r, "inference"),
                     f"{first:.2f}" if isinstance(first, (int, float)) else "n/a",
                     (r.get("environment") or {}).get("backend", {}).get("kernel_path", "n/a")
                     if r.get("environment") else "n/a",
                     r.get("error") or ""))
    return tabulate(rows, headers=("point", "backend", "status", "train samples/s median [min-max]",
                                   "inference samples/s", "first step s", "kernel", "error"),
                    tablefmt="simple_outline", disable_numparse=True)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _resumed_rows(out: str) -> dict[str, dict[str, Any]]:
    """An A/B bench's rows from the unfinished bench a ``--resume`` continues (environments reused)."""
    folder = find_resumable(Path(out))
    if folder is None:
        raise UserError(f"--resume: no unfinished bench under {out}; start one without --resume")
    rows = json.loads((folder / MANIFEST).read_text()).get("rows") or {}
    for row in rows.values():
        if row.get("requirements"):
            row["python"] = launcher.requirement_env(row["requirements"], _say)[0]
    return rows


def main(args: Any) -> int:
    """The ``bench`` command (core environment: NumPy for the tasks, psutil for the quiet check)."""
    task_names = parse_names(args.tasks or "imdb", tasks.all_names(), "task")
    valid = [*backends.names(), *bench_reference.names(backends.names())]  # and the reference rows
    backend_names = parse_names(args.backends, valid, "backend") if args.backends else backends.names()
    if getattr(args, "references", False):
        backend_names = bench_reference.with_references(backend_names)
    for name, value in (("--repeats", args.repeats), ("--steps", args.steps)):
        if value < 1:
            raise UserError(f"{name} {value}: give a positive number")
    min_time = getattr(args, "min_time", 0.0)
    if min_time < 0:
        raise UserError(f"--min-time {min_time:g}: give zero (exactly --steps) or more seconds")
    if args.warmup < 0:
        raise UserError(f"--warmup {args.warmup}: give zero or more steps")
    n_threads = args.threads or threads.usable_cores()
    if n_threads < 1:
        raise UserError(f"--threads {n_threads}: give a positive number")
    axes = bench_plan.parse_sweeps(args.sweep)
    settings = list(getattr(args, "settings", None) or [])
    points = bench_plan.plan(task_names, args.scale, axes, settings)
    margin = st.check_margin(getattr(args, "margin", st.MARGIN))
    variants_given = ab.parse_variants(getattr(args, "variant", None))
    against, calibrate = getattr(args, "against", None), bool(getattr(args, "calibrate", False))
    modes = [m for m, on in (("--variant", variants_given), ("--against", against),
                             ("--calibrate", calibrate)) if on]
    if len(modes) > 1:
        raise UserError(f"{' and '.join(modes)} cannot be combined; give one A/B kind per bench")
    max_rounds = getattr(args, "max_rounds", st.MAX_ROUNDS)
    if (variants_given or against) and max_rounds < st.MIN_ROUNDS:
        raise UserError(f"--max-rounds {max_rounds}: give at least {st.MIN_ROUNDS} (a paired comparison "
                        f"needs {st.MIN_ROUNDS} rounds or more)")
    block = getattr(args, "block", 9)
    if calibrate and args.repeats < st.MIN_ROUNDS:
        raise UserError(f"--repeats {args.repeats}: --calibrate needs at least {st.MIN_ROUNDS} rounds (one "
                        f"trial of {st.MIN_ROUNDS}), more for several trials, e.g. --repeats 90 --block 9")
    if calibrate and not (st.MIN_ROUNDS <= block <= args.repeats):
        raise UserError(f"--block {block}: a trial takes from {st.MIN_ROUNDS} rounds up to --repeats "
                        f"({args.repeats}); give --block between {st.MIN_ROUNDS} and {args.repeats}, "
                        "e.g. --repeats 90 --block 9")
    if modes and (getattr(args, "references", False) or any(bench_reference.is_reference(b)
                                                             for b in backend_names)):
        raise UserError(f"{modes[0]} compares a backend with itself; leave out the reference rows")
    rows: dict[str, dict[str, Any]] = {}
    if args.resume and modes:
        rows = _resumed_rows(args.out)
    elif variants_given:
        rows = ab.variant_rows(backend_names, variants_given, _say)
    elif against:
        rows = ab.against_rows(backend_names, against, _say)
    elif calibrate:
        rows = ab.calibration_rows(backend_names)
    if rows:
        backend_names = list(rows)
    opts = {"tasks": task_names, "backends": backend_names, "scale": args.scale, "settings": settings or None,
            "sweeps": [[k, v] for k, v in axes], "repeats": args.repeats, "steps": args.steps,
            "min_time": min_time, "warmup": args.warmup, "threads": n_threads, "device": args.device,
            "precision": args.precision,
            "flush_to_zero": args.flush_to_zero, "fresh_workers": args.fresh_workers, "points": points,
            "margin": margin, "sequential": bool(variants_given or against), "max_rounds": max_rounds,
            "rows": rows, "calibrate": calibrate, "block": block,
            "gemm": bool(getattr(args, "gemm", True)) and not modes,
            "step_budget": float(getattr(args, "step_budget", STEP_BUDGET))}
    if opts["step_budget"] <= 0:
        raise UserError(f"--step-budget {opts['step_budget']:g}: give a positive number of seconds")
    out = outdir.check_writable(args.out)
    print(f"rnnbench bench: {len(points)} point(s) x {len(backend_names)} backend(s) x {args.repeats} "
          f"repeats, {args.steps} timed steps{f' or more, {min_time:g} s at least,' if min_time else ''} "
          f"after {args.warmup} warm-up, {n_threads} threads",
          file=sys.stderr, flush=True)

    started: set[str] = set()

    def make(backend: str, folder: Path) -> Worker:
        if backend not in started:  # fresh workers start once a repeat: say it the first time
            print(f"\nrnnbench: starting the {backend} worker (its environment is built on first use)",
                  file=sys.stderr, flush=True)
            started.add(backend)
        return ProcessWorker(backend, opts, folder / "logs" / f"{backend}.log",
                             randomise_layout=opts["fresh_workers"])

    folder, recs = run(opts, out, make, resume=args.resume, progress=args.progress,
                       numerics=bench_numerics.run)
    print(table(recs))
    judged = verdicts.table(recs)
    if judged:
        print("Verdicts (ratio of samples/s, A over B, geometric mean of the per-round ratios; 'same': the "
              f"interval lies within 1 +- {margin:g}):")
        print(judged)
    busy = sum(1 for r in recs if r.get("busy"))
    wide = [f"{r['point']['id']} {r['backend']}" for r in recs
            if (r.get("train") or {}).get("samples_per_s", {}).get("spread") is not None
            and r["train"]["samples_per_s"]["spread"] > SPREAD_OK]
    lines = [f"bench: {len(recs)} records in {folder}; `python -m harness report --bench {out}` adds them "
             "to the report"]
    if busy:
        lines.append(f"bench: {busy} record(s) measured while other processes used the machine (BUSY)")
    if wide:
        named = ", ".join(wide[:6]) + (f" and {len(wide) - 6} more" if len(wide) > 6 else "")
        lines.append(f"bench: training spread ((max - min) / median) above {SPREAD_OK:.0%} for {named}: "
                     "repeat on a quieter machine or with a longer --min-time")
    open_ab = [c for c in verdicts.comparisons(recs) if c.kind == "ab" and
               (c.paired is None or c.paired.verdict == "inconclusive")]
    differ = [f"{r['point']['id']} {r['backend']} / {n['b']}: {bench_numerics.mark(n)}" for r in recs
              if (n := r.get("numerics")) and n["verdict"] != "same"]
    if differ:
        lines.append("bench: numerics not the same (parity check of the A/B rows): " + "; ".join(differ))
    if open_ab:
        lines.append("bench: inconclusive after the rounds measured: " + "; ".join(
            f"{c.point} {c.part} {c.a} / {c.b}" + (f" ({c.paired.note()})" if c.paired else "")
            for c in open_ab))
    if calibrate:
        from harness.bench import calibration

        found = calibration.summarise(recs, block, margin)
        records.dump_atomic(folder / calibration.FILE, found)
        lines += [f"calibration: {s}" for s in found["sentences"]]
    print("\n".join(lines))
    return 0 if all(r["status"] == "ok" for r in recs) else 1
