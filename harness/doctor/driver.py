"""``python -m harness doctor``: the GPU paths checked end to end in one time-boxed command.

On a machine with a GPU and CUDA builds of the frameworks in one Python (no network, no tox), it
records, under ``--out``:

1. ``environment.json``: ``nvidia-smi``, the host, and a probe of every backend in its own process
   (``doctor-probe``: versions, CUDA/cuDNN build, device, which precisions run); a backend whose framework
   is missing or has no CUDA build is ``not available``, which is no failure;
2. ``parity/<task>-<cell>.json``: the ``parity`` check of the rnn, gru and lstm cells on the device (fp32,
   TF32 off) against the NumPy reference and between backends, and the kernel path each ran;
3. ``smoke/<backend>-<precision>.json``: every task's smoke scale (``run``) on every available backend in
   fp32, bf16 and, where offered, fp16, each run's kernel path checked against the device's (cuDNN where
   the adapters promise it); the run records beside them;
4. ``bench/<precision>/``: the ``bench`` of the imdb and ptb ``full`` shapes in fp32 and bf16, with peak
   device memory, which must be a positive figure on a GPU (and none on a CPU);

then ``summary.json`` (rewritten after every step) and a table on stdout. With ``--device cpu`` the same
check runs on a CPU (how CI tests it), through the backends' tox environments where this Python lacks a
framework.

Time: ``--budget-s`` (default 480) bounds the whole command. Steps run in order of importance
(environment, parity, fp32 smoke, fp32 bench, bf16 smoke, bf16 bench, fp16 smoke); each phase gets a share
of the time left, what a phase leaves unspent passes to the next, a step that no longer fits is
``skipped`` (and says so), and a process that outlives its share is stopped. On a GPU, backends of one
phase run side by side (``--jobs``); the bench never does, so its figures are its own.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import backends
import tasks
from harness import launcher, records
from harness.common import environment, threads
from harness.errors import UserError
from harness.options import parse_names

TIMED_OUT = launcher.TIMED_OUT  # the exit status of a process stopped at its time limit
RESERVE_S = 5.0  # kept back for the summary
GRACE = 1.5  # a process may run this many times its share before it is stopped
# below this many seconds left a step is skipped, and no process is given less; a probe (a framework's
# import, device start-up and three small compilations) is given at least MIN_S["probe"]
MIN_S = {"environment": 5.0, "probe": 90.0, "parity": 10.0, "smoke": 15.0, "bench": 20.0}
# (kind, precision, share of the time left): the order is the order of importance
PHASES = (("environment", None, 0.08), ("parity", "fp32", 0.17), ("smoke", "fp32", 0.25),
          ("bench", "fp32", 0.15), ("smoke", "bf16", 0.15), ("bench", "bf16", 0.10), ("smoke", "fp16", 0.10))
SMOKE_FIRST = ("imdb", "ptb")  # the headline tasks run first, so a short budget still covers them
# Cells with a cuDNN kernel on a GPU where the model admits a fused kernel (no recurrent dropout, not the
# spiking cell): what each adapter's describe() promises. JAX's cuDNN LSTM is fp32 only (jaxlib lowers
# no other dtype), for Keras on JAX too.
CUDNN_CELLS = {"torch": ("rnn", "gru", "lstm"), "jax": ("lstm",), "keras": ("gru", "lstm"),
               "keras-jax": ("lstm",), "keras-torch": ("gru", "lstm"), "mxnet": ("rnn", "gru", "lstm")}
FP32_ONLY_CUDNN = ("jax", "keras-jax")
# the environment of every process the doctor starts: frameworks side by side on one GPU take memory as
# they need it, instead of JAX's 75% and TensorFlow's all at start
CHILD_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
# fp32 parity on a GPU: no TF32 in cuBLAS/cuDNN (torch, TensorFlow) nor in XLA's matmuls (JAX)
STRICT_FP32_ENV = {"NVIDIA_TF32_OVERRIDE": "0", "JAX_DEFAULT_MATMUL_PRECISION": "highest"}

Launcher = Callable[[str, list[str], float, Path, dict[str, str]], int]


def kernel_check(backend: str, described: dict[str, Any], cell: str | None, fused_ok: bool, precision: str,
                 device: str) -> tuple[bool, str]:
    """Whether a run's recorded device and kernel path are the ones ``device`` should give: on a GPU,
    a GPU, and cuDNN wherever the backend promises it for this cell and precision (``CUDNN_CELLS``); on a
    CPU, the CPU and never cuDNN. The reason, in words."""
    ran_on = str(described.get("device", "cpu"))
    path = described.get("kernel_path")
    on_gpu = not ran_on.startswith("cpu")
    if device == "cpu":
        if on_gpu or path == "cudnn":
            return False, f"asked for the CPU, ran on {ran_on} with kernel {path}"
        return True, f"{path} on {ran_on}"
    if not on_gpu:
        return False, f"asked for the GPU, ran on {ran_on} ({path})"
    want = (fused_ok and cell in CUDNN_CELLS.get(backend, ("rnn", "gru", "lstm"))
            and not (backend in FP32_ONLY_CUDNN and precision != "fp32"))
    if want and path != "cudnn":
        return False, f"kernel {path} on {ran_on}, expected cudnn for a {cell} cell in {precision}"
    if not want and path == "cudnn":
        return False, f"kernel cudnn on {ran_on}, where {backend} has no cuDNN kernel for this model"
    return True, f"{path} on {ran_on}"


class Budget:
    """The time left of ``total_s``, by ``clock``; a phase's share of it, and a step's share of that."""

    def __init__(self, total_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_s, self.clock = total_s, clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def left(self) -> float:
        """Seconds left for work (the summary's reserve excluded)."""
        return self.total_s - self.elapsed() - RESERVE_S

    def share(self, weight: float, weights_left: float) -> float:
        """A phase's seconds: its weight's part of the time left, over the phases still to run."""
        return max(0.0, self.left()) * weight / weights_left if weights_left > 0 else 0.0


@dataclass
class Options:
    """What the doctor checks, and how small; the defaults fit an 8-minute budget on one GPU."""

    device: str = "gpu"
    out: Path = Path("results/doctor")
    backends: list[str] = field(default_factory=list)  # empty: every registered backend
    budget_s: float = 480.0
    tasks: list[str] = field(default_factory=list)  # smoke tasks; empty: all, SMOKE_FIRST first
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")
    epochs: int = 1
    parity_task: str = "imdb"
    parity_scale: str = "smoke"
    parity_cells: tuple[str, ...] = ("rnn", "gru", "lstm")
    parity_steps: int = 5
    bench_tasks: tuple[str, ...] = ("imdb", "ptb")
    bench_scale: str = "full"
    bench_steps: int = 10
    bench_warmup: int = 2
    bench_repeats: int = 2
    data_dir: str | None = None
    cache_dir: str | None = None
    use_tox: bool = False  # a backend this Python lacks runs in its tox environment (else: not available)
    jobs: int = 1  # processes side by side within a phase (never the bench)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def nvidia_smi() -> dict[str, Any]:
    """``nvidia-smi``'s report and a per-GPU query, or why there is none."""
    out: dict[str, Any] = {"found": shutil.which("nvidia-smi") is not None}
    if not out["found"]:
        out["error"] = "nvidia-smi not found"
        return out
    query = "name,driver_version,memory.total,compute_cap,clocks.max.sm,power.limit"
    for key, cmd in (("report", ["nvidia-smi"]),
                     ("gpus", ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"])):
        try:
            done = launcher.capture(cmd, timeout=20)
        except launcher.CAPTURE_ERRORS as exc:
            out[key], out["error"] = None, f"{type(exc).__name__}: {exc}"
            continue
        text = done.stdout.strip()
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            out["error"] = lines[-1] if lines else f"exit {done.returncode}"
        out[key] = text if key == "report" else [
            dict(zip(query.split(","), (v.strip() for v in line.split(",")), strict=False))
            for line in text.splitlines() if line.strip()]
    return out


def host() -> dict[str, Any]:
    import numpy

    return {"python": sys.version.split()[0], "executable": sys.executable, "numpy": numpy.__version__,
            "os": platform.platform(), "cpu": environment.cpu_model(), "cpu_count": os.cpu_count(),
            "usable_cores": threads.usable_cores(), "hostname": platform.node(),
            "git": environment.git_commit(), "load_average": os.getloadavg()}


class Doctor:
    """One doctor run: the phases in order, each step's record written as it finishes."""

    def __init__(self, opts: Options, launch: Launcher | None = None,
                 bench_worker: Callable[[str, dict[str, Any], Path], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 say: Callable[[str], None] | None = None) -> None:
        self.opts, self.clock = opts, clock
        self.launch = launch or launcher.run_timed
        self.bench_worker = bench_worker or _process_worker
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.out = Path(opts.out).resolve()
        self.budget = Budget(opts.budget_s, clock)
        self.rows: list[dict[str, Any]] = []
        self.pythons: dict[str, str] = {}
        self.probes: dict[str, dict[str, Any]] = {}
        self.names: list[str] = []  # the backends asked for, in order (probes may finish in any)
        self.started = _now()
        self.lock = threading.Lock()
        self.n_threads = max(1, threads.usable_cores() // max(1, opts.jobs))

    # -- bookkeeping -----------------------------------------------------------------------------------
    def row(self, step: str, status: str, detail: str = "", backend: str = "", precision: str = "",
            seconds: float | None = None, record: Path | None = None) -> dict[str, Any]:
        """Add a summary row and rewrite the summary; each row is one step's outcome."""
        r = {"step": step, "backend": backend, "precision": precision, "status": status,
             "seconds": round(seconds, 1) if seconds is not None else None, "detail": detail,
             "record": str(record.relative_to(self.out)) if record is not None else None}
        with self.lock:
            self.rows.append(r)
            self.write_summary(finished=False)
        self.say("doctor: " + " ".join(x for x in (step, backend, precision) if x) + f": {status}"
                 + (f" ({_wrap(detail, 200)})" if detail else ""))
        return r

    def summary(self, finished: bool) -> dict[str, Any]:
        """The doctor's summary (``records.DOCTOR``): every row so far, counts by status, what was skipped."""
        counts: dict[str, int] = {}
        for r in self.rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        failed = any(r["status"] == "failed" for r in self.rows)
        return {"schema": records.DOCTOR, "device": self.opts.device, "started": self.started,
                "finished": _now() if finished else None, "budget_s": self.opts.budget_s,
                "elapsed_s": round(self.budget.elapsed(), 1), "status": "failed" if failed else "ok",
                "counts": counts, "skipped": [r for r in self.rows if r["status"] == "skipped"],
                "not_available": {r["backend"]: r["detail"] for r in self.rows
                                  if r["status"] == "not available"},
                "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.opts).items()},
                "steps": self.rows}

    def write_summary(self, finished: bool) -> None:
        records.dump_atomic(self.out / "summary.json", self.summary(finished))

    def log(self, name: str) -> Path:
        return self.out / "logs" / f"{name}.log"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables of a started process: memory as needed, this job's share of threads."""
        return {**CHILD_ENV, **threads.environ(self.n_threads), **extra}

    def available(self, precision: str | None = None) -> list[str]:
        """Backends that ran the probe on the device (in ``precision``, if given), in order."""
        found = [(b, self.probes.get(b) or {}) for b in self.names]
        return [b for b, p in found if p.get("status") == "available"
                and (precision is None or p.get("precisions", {}).get(precision) == "ok")]

    # -- the run ---------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """An empty output folder: a previous doctor's records there are removed, anything else refused."""
        out = self.out
        if out.exists() and any(out.iterdir()):
            try:
                previous = records.read(out / "summary.json", records.DOCTOR) is not None
            except (OSError, ValueError):
                previous = False
            if not previous:
                raise UserError(f"--out {out} holds other files; give an empty or new folder")
            for name in ("environment.json", "summary.json", "summary.txt"):
                (out / name).unlink(missing_ok=True)
            for name in ("parity", "smoke", "bench", "logs"):
                shutil.rmtree(out / name, ignore_errors=True)
        try:
            out.mkdir(parents=True, exist_ok=True)
            self.write_summary(finished=False)
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None

    def run(self) -> dict[str, Any]:
        """Every phase in order of importance, each given its share of the time left; the summary."""
        self.prepare()
        phases = [p for p in PHASES if p[1] is None or p[0] == "parity" or p[1] in self.opts.precisions]
        try:
            for i, (kind, precision, weight) in enumerate(phases):
                allowance = self.budget.share(weight, sum(w for _, _, w in phases[i:]))
                name = kind if kind in ("environment", "parity") else f"{kind} {precision}"
                if self.budget.left() < MIN_S[kind]:
                    self.row(name, "skipped", f"budget: {max(0.0, self.budget.left()):.0f} s left, this "
                             f"step needs at least {MIN_S[kind]:.0f} s", precision=precision or "")
                    continue
                if kind == "environment":
                    self.environment(allowance)
                elif kind == "parity":
                    self.parity(allowance)
                elif kind == "smoke":
                    self.smoke(precision, allowance)
                else:
                    self.bench(precision, allowance)
        except KeyboardInterrupt:
            self.row("doctor", "failed", "interrupted (Ctrl-C); finished records are kept")
            raise
        finally:
            self.write_summary(finished=True)
        return self.summary(finished=True)

    def _parallel(self, units: list[Any], work: Callable[[Any, float], None], allowance: float) -> None:
        """Run ``work(unit, seconds)`` for every unit of a phase: one after another, each an equal part
        of what the phase has left (so one that finishes early leaves more to the next), or ``jobs`` at a
        time, each wave an equal part of ``allowance``."""
        if self.opts.jobs <= 1 or len(units) <= 1:
            end = self.clock() + allowance
            for i, unit in enumerate(units):
                work(unit, max(0.0, end - self.clock()) / (len(units) - i))
            return
        per_unit = allowance / math.ceil(len(units) / self.opts.jobs)
        with ThreadPoolExecutor(max_workers=self.opts.jobs) as pool:
            for f in [pool.submit(work, unit, per_unit) for unit in units]:
                f.result()

    def _timeout(self, seconds: float, kind: str) -> float:
        """A process' time limit: ``GRACE`` times its share, at least ``MIN_S[kind]``, never past the
        budget."""
        return max(1.0, min(max(seconds * GRACE, MIN_S[kind]), self.budget.left()))

    # -- 1. environment --------------------------------------------------------------------------------
    def environment(self, allowance: float) -> None:
        start = self.clock()
        smi = nvidia_smi()
        gpus = smi.get("gpus") or []
        self.row("environment", "ok" if gpus or self.opts.device == "cpu" else "not available",
                 ", ".join(f"{g.get('name')} {g.get('memory.total')}, driver {g.get('driver_version')}"
                           for g in gpus) or smi.get("error", "no GPU"), backend="nvidia-smi")
        names = self.names = self.opts.backends or backends.names()
        self._parallel(names, self._probe, allowance - (self.clock() - start))
        record = {"schema": records.DOCTOR_ENVIRONMENT, "device": self.opts.device, "written": _now(),
                  "host": host(), "nvidia_smi": smi, "doctor": {"jobs": self.opts.jobs, "env": self.env(),
                                                                "use_tox": self.opts.use_tox},
                  "backends": {b: self.probes.get(b) for b in names}}
        records.dump_atomic(self.out / "environment.json", record)
        if self.opts.device == "gpu" and not self.available():
            reasons = "; ".join(_wrap(f"{b}: {(self.probes.get(b) or {}).get('reason') or 'failed'}", 110)
                                for b in names)
            self.write_summary(finished=True)
            seen = "found" if gpus else smi.get("error", "no GPU")
            raise UserError(f"--device gpu: no backend can run on a GPU here (nvidia-smi: {seen}; "
                            f"{reasons}); use --device cpu")

    def _python(self, name: str) -> str | None:
        """The interpreter that runs backend ``name``, or None (with the reason in its probe)."""
        info = backends.get(name)
        lacking = launcher.missing((*launcher.CORE_MODULES, *info.requires))
        if not lacking:
            return sys.executable
        if not self.opts.use_tox:
            self.probes[name] = {"backend": name, "status": "not available",
                                 "reason": f"{', '.join(lacking)} not importable in {sys.executable}"}
            return None
        built = launcher.ROOT / ".tox" / info.tox_env / "bin" / "python"
        if built.exists():  # an environment tox built before: asking tox again costs seconds per call
            return str(built)
        try:
            return launcher.tox_python(info.tox_env, quiet=True)
        except UserError as exc:
            self.probes[name] = {"backend": name, "status": "not available", "reason": str(exc)[:300]}
            return None

    def _probe(self, name: str, seconds: float) -> None:
        start = self.clock()
        python = self._python(name)
        if python is not None:
            self.pythons[name] = python
            result = self.out / "logs" / f"probe-{name}.json"
            argv = launcher.doctor_probe_argv(name, self.opts.device, result, self.opts.precisions)
            code = self.launch(python, argv, self._timeout(seconds, "probe"),
                               self.log(f"probe-{name}"), self.env())
            try:
                self.probes[name] = json.loads(result.read_text())
            except (OSError, ValueError):
                why = "timed out" if code == TIMED_OUT else f"exit {code}"
                self.probes[name] = {"backend": name, "status": "failed",
                                     "reason": f"the probe {why}; log {self.log(f'probe-{name}')}"}
        p = self.probes[name]
        d = p.get("describe") or {}
        if p["status"] == "available":
            offered = [k for k, v in p.get("precisions", {}).items() if v == "ok"]
            versions = ", ".join(f"{k} {v}" for k, v in (d.get("versions") or {}).items())
            detail = f"{d.get('device_name')} ({d.get('device')}); {versions}; precisions {','.join(offered)}"
        else:
            detail = p.get("reason") or ""
        self.row("environment", p["status"], detail, backend=name, seconds=self.clock() - start)

    # -- 2. parity -------------------------------------------------------------------------------------
    def parity(self, allowance: float) -> None:
        names = self.available("fp32")
        if not names:
            self.row("parity", "skipped", "no backend available")
            return
        self._parallel(list(self.opts.parity_cells), lambda cell, s: self._parity_cell(cell, names, s),
                       allowance)

    def _parity_cell(self, cell: str, names: list[str], seconds: float) -> None:
        import numpy as np

        from backends import canonical, reference
        from harness.common import metrics
        from harness.parity import check as parity

        o, start = self.opts, self.clock()
        if self.budget.left() < MIN_S["parity"]:
            self.row(f"parity {cell}", "skipped", f"budget: {max(0.0, self.budget.left()):.0f} s left",
                     precision="fp32")
            return
        deadline = start + max(seconds * GRACE, MIN_S["parity"])
        seen: dict[str, dict[str, Any]] = {}
        env = self.env(**(STRICT_FP32_ENV if o.device == "gpu" else {}))

        def collect(b: str, task: str, scale: str, cell: str, steps: int, folder: Path,
                    optim: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
            spec, _ = parity.parity_spec(task, scale, cell, optim)
            with np.load(folder / "batch.npz") as batch:
                x, y = batch["x"], batch["y"]
            expected = reference.forward(spec, canonical.load(str(folder / "weights.npz")), x)
            result = folder / f"{b}.npz"
            argv = launcher.parity_worker_argv(task, scale, cell, b, steps, optim, folder, result, o.device)
            left = min(deadline - self.clock(), self.budget.left())
            code = self.launch(self.pythons[b], argv, left, self.log(f"parity-{cell}-{b}"), env) \
                if left > 0 else TIMED_OUT
            if code != 0 or not result.exists():
                why = "stopped at the time budget" if code == TIMED_OUT else f"exit {code}"
                seen[b] = {"status": "failed", "error": f"parity worker {why}; log "
                                                        f"{self.log(f'parity-{cell}-{b}')}"}
                return {"forward": np.full_like(expected, np.nan), "losses": np.full(steps, np.nan)}
            with np.load(result) as r:
                got = {k: r[k] for k in r.files}
            described = json.loads(str(got.pop("describe"))) if "describe" in got else {}
            ok, why = kernel_check(b, described, cell, True, "fp32", o.device)
            seen[b] = {"status": "ok" if ok else "failed", "kernel_ok": ok, "kernel": why,
                       "kernel_path": described.get("kernel_path"), "ran_on": described.get("device"),
                       "device_name": described.get("device_name"),
                       "forward_vs_reference": float(np.max(np.abs(got["forward"] - expected))),
                       "first_loss_vs_reference": abs(float(got["losses"][0])
                                                      - metrics.LOSSES[spec.loss](expected, y)),
                       "error": None if ok else f"kernel path: {why}"}
            return got

        try:
            table, ok = parity.run(o.parity_task, names, o.parity_scale, [cell], o.parity_steps,
                                   collect=collect)
        except (UserError, KeyError, ValueError) as exc:
            self.row("parity", "failed", f"{cell}: {exc}", precision="fp32", seconds=self.clock() - start)
            return
        ok = ok and all(s["status"] == "ok" for s in seen.values())
        path = self.out / "parity" / f"{o.parity_task}-{cell}.json"
        records.dump_atomic(path, {
            "schema": records.DOCTOR_PARITY, "task": o.parity_task, "scale": o.parity_scale, "cell": cell,
            "device": o.device, "steps": o.parity_steps, "precision": "fp32",
            "tf32": "off" if o.device == "gpu" else None, "tolerance": {"forward": parity.FORWARD_TOL,
                                                                         "train": parity.TRAIN_TOL},
            "ok": ok, "backends": seen, "table": table, "written": _now()})
        detail = "; ".join(f"{b} {s.get('forward_vs_reference', float('nan')):.1e} {s.get('kernel_path')}"
                           if s["status"] == "ok" else f"{b} {s['error']}" for b, s in seen.items())
        if not ok and all(s["status"] == "ok" for s in seen.values()):
            detail = "a pair differs beyond tolerance (see the record's table); " + detail
        self.row(f"parity {cell}", "ok" if ok else "failed", detail, precision="fp32",
                 seconds=self.clock() - start, record=path)

    # -- 3. smoke --------------------------------------------------------------------------------------
    def smoke_tasks(self) -> list[str]:
        names = self.opts.tasks or tasks.all_names()
        return [t for t in SMOKE_FIRST if t in names] + [t for t in names if t not in SMOKE_FIRST]

    def smoke(self, precision: str, allowance: float) -> None:
        names = self.available(precision)
        not_offered = [b for b in self.available() if b not in names]
        for b in not_offered:  # the adapter's own refusal is a limitation it documents; a crash is not
            offered = (self.probes[b].get("precisions") or {}).get(precision, "not probed")
            self.row(f"smoke {precision}", "not available" if offered.startswith("refused") else "failed",
                     f"{precision} {offered}", backend=b, precision=precision)
        if names:
            self._parallel(names, lambda b, s: self._smoke_unit(b, precision, s), allowance)

    def _smoke_unit(self, backend: str, precision: str, seconds: float) -> None:
        o, start = self.opts, self.clock()
        if self.budget.left() < MIN_S["smoke"]:
            self.row(f"smoke {precision}", "skipped", f"budget: {self.budget.left():.0f} s left",
                     backend=backend, precision=precision)
            return
        seconds = min(max(seconds, MIN_S["smoke"]), self.budget.left())  # every backend gets a try
        task_names = self.smoke_tasks()
        result = self.out / "smoke" / f"{backend}-{precision}.json"
        argv = launcher.doctor_worker_argv(backend, o.device, precision, task_names, o.epochs,
                                           self.out / "smoke" / f"{backend}-{precision}", result,
                                           time.time() + seconds, self.n_threads, o.data_dir, o.cache_dir)
        code = self.launch(self.pythons[backend], argv, self._timeout(seconds, "smoke"),
                           self.log(f"smoke-{backend}-{precision}"), self.env())
        try:
            done = json.loads(result.read_text())["tasks"]
        except (OSError, ValueError, KeyError):
            done = []
        by_status: dict[str, list[str]] = {}
        for t in done:
            by_status.setdefault(t["status"], []).append(t["task"])
        lost = [t for t in task_names if t not in {d["task"] for d in done}]
        if lost:  # the worker ended before reaching them: stopped at the budget, or crashed
            by_status.setdefault("skipped" if code == TIMED_OUT else "failed", []).extend(lost)
        failed = [t for t in done if t["status"] in ("failed", "diverged")]
        kernels: dict[str, int] = {}
        for t in done:
            if t.get("kernel_path"):
                kernels[t["kernel_path"]] = kernels.get(t["kernel_path"], 0) + 1
        parts = [f"{len(v)} {k}" + (f" ({','.join(v)})" if k != "ok" else "") for k, v in by_status.items()]
        parts.append("kernels " + ", ".join(f"{k} x{n}" for k, n in kernels.items()) if kernels
                     else "no runs")
        parts += [f"{t['task']}: {t['error']}"[:160] for t in failed[:2]]
        if lost and code != TIMED_OUT:
            parts.append(f"worker exit {code}; log {self.log(f'smoke-{backend}-{precision}')}")
        status = ("failed" if failed or (lost and code != TIMED_OUT) or code not in (0, 1, TIMED_OUT)
                  else "skipped" if not by_status.get("ok") and by_status.get("skipped")
                  else "partial" if by_status.get("skipped") else "ok")
        self.row(f"smoke {precision}", status, "; ".join(parts), backend=backend, precision=precision,
                 seconds=self.clock() - start, record=result if result.exists() else None)

    # -- 4. bench --------------------------------------------------------------------------------------
    def bench(self, precision: str, allowance: float) -> None:
        from harness.bench import driver as bench
        from harness.bench import plan as bench_plan
        from harness.bench import quiet

        o, start = self.opts, self.clock()
        names = self.available(precision)
        if not names:
            self.row(f"bench {precision}", "skipped", f"no backend runs {precision}", precision=precision)
            return
        soft, hard = start + allowance, start + min(allowance * GRACE, self.budget.left())
        opts = {"tasks": list(o.bench_tasks), "backends": names, "scale": o.bench_scale, "sweeps": [],
                "settings": None, "repeats": o.bench_repeats, "steps": o.bench_steps,
                "warmup": o.bench_warmup,
                "threads": threads.usable_cores(), "device": o.device, "precision": precision,
                "flush_to_zero": True,
                "points": bench_plan.plan(list(o.bench_tasks), o.bench_scale, [])}
        skip = "skipped: the doctor's time budget for the bench was spent"

        def make(backend: str, folder: Path) -> Any:
            if self.clock() >= soft:
                raise UserError(skip)
            return _Budgeted(self.bench_worker(backend, opts, folder), soft, hard, self.clock, skip)

        sampler = quiet.sample if not launcher.missing(("psutil",)) else _no_sampler
        folder, recs = bench.run(opts, self.out / "bench" / precision, make, sampler=sampler, progress=False,
                                 say=self.say)
        for b in names:
            mine = [r for r in recs if r["backend"] == b]
            self._bench_row(b, precision, mine, folder, self.clock() - start)
        if sampler is _no_sampler:
            self.say("doctor: psutil is missing: the bench could not check that the machine was quiet")

    def _bench_row(self, backend: str, precision: str, recs: list[dict[str, Any]], folder: Path,
                   seconds: float) -> None:
        statuses, parts = [], []
        for r in recs:
            point = r["point"]
            err = r.get("error") or ""
            if err.startswith("skipped:") or "skipped: the doctor's time budget" in err:
                statuses.append("skipped")
                parts.append(f"{point['id']} skipped (budget)")
                continue
            if r["status"] != "ok":
                statuses.append("failed")
                parts.append(f"{point['id']} {err[:120]}")
                continue
            peak = (r.get("memory") or {}).get("peak_device_bytes")
            mem_ok = (isinstance(peak, int) and peak > 0) if self.opts.device == "gpu" else peak is None
            described = (r.get("environment") or {}).get("backend") or {}
            model = point.get("model") or {}
            fused = not model.get("recurrent_dropout") and point.get("cell") != "spiking-lstm"
            k_ok, why = kernel_check(backend, described, point.get("cell"), fused, precision,
                                     self.opts.device)
            rate = r["train"]["samples_per_s"]["median"]
            mem = f"peak {peak / 2**20:,.1f} MiB" if isinstance(peak, int) else "no device memory"
            parts.append(f"{point['id']} {rate:,.0f} samples/s, {mem}, {described.get('kernel_path')}"
                         + ("" if mem_ok else " (peak device memory missing)" if self.opts.device == "gpu"
                            else " (a device peak on a CPU)")
                         + ("" if k_ok else f" (kernel: {why})"))
            statuses.append("ok" if mem_ok and k_ok else "failed")
        status = ("failed" if "failed" in statuses else "skipped" if statuses and set(statuses) == {"skipped"}
                  else "partial" if "skipped" in statuses else "ok" if statuses else "skipped")
        self.row(f"bench {precision}", status, "; ".join(parts), backend=backend, precision=precision,
                 seconds=seconds, record=folder)


class _Budgeted:
    """A bench worker that measures only before ``soft`` and is killed at ``hard`` (a hung device)."""

    def __init__(self, worker: Any, soft: float, hard: float, clock: Callable[[], float], skip: str) -> None:
        self.worker, self.soft, self.hard, self.clock, self.skip = worker, soft, hard, clock, skip
        self.pid = getattr(worker, "pid", None)

    def measure(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.clock() >= self.soft:
            raise UserError(self.skip)
        proc = getattr(self.worker, "proc", None)
        timer = None
        if proc is not None:
            timer = threading.Timer(max(0.0, self.hard - self.clock()), launcher.kill_group, (proc.pid,))
            timer.daemon = True
            timer.start()
        try:
            return self.worker.measure(request)
        finally:
            if timer is not None:
                timer.cancel()

    def close(self) -> None:
        self.worker.close()


def _process_worker(backend: str, opts: dict[str, Any], folder: Path) -> Any:
    from harness.bench import driver as bench

    for key, value in CHILD_ENV.items():  # the worker inherits this process' environment
        os.environ.setdefault(key, value)
    return bench.ProcessWorker(backend, opts, folder / "logs" / f"{backend}.log")


def _no_sampler(pids: list[int]) -> Any:
    """Load samples without psutil: nothing measured, so nothing flagged."""
    from harness.bench import quiet

    return quiet.Sample(time.monotonic(), 0.0, 0.0, 0.0, os.getloadavg())


def table(summary: dict[str, Any]) -> str:
    """The short table printed at the end: one row per step."""
    from tabulate import tabulate

    rows = [(r["step"], r["backend"], r["precision"], r["status"],
             "" if r["seconds"] is None else f"{r['seconds']:.0f}", _wrap(r["detail"]))
            for r in summary["steps"]]
    counts = ", ".join(f"{n} {k}" for k, n in summary["counts"].items())
    return (tabulate(rows, headers=("step", "backend", "precision", "status", "s", "detail"),
                     tablefmt="simple_outline", disable_numparse=True)
            + f"\ndoctor ({summary['device']}): {counts} in {summary['elapsed_s']:.0f} s of a "
              f"{summary['budget_s']:.0f} s budget")


def _wrap(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def options_from_args(args: Any) -> Options:
    """The command line as ``Options``, checked: names against the registries, sizes positive."""
    for flag, value in (("--budget-s", args.budget_s), ("--epochs", args.epochs),
                        ("--parity-steps", args.parity_steps), ("--bench-steps", args.bench_steps),
                        ("--bench-repeats", args.bench_repeats), ("--jobs", args.jobs or 1)):
        if value <= 0:
            raise UserError(f"{flag} {value}: give a positive number")
    precisions = tuple(parse_names(args.precisions, ("fp32", "bf16", "fp16"), "precision"))
    cells = tuple(parse_names(args.parity_cells, ("rnn", "gru", "lstm"), "cell"))
    bench_tasks = tuple(parse_names(args.bench_tasks, tasks.all_names(), "task"))
    for name in bench_tasks:
        try:
            tasks.get(name).scale(args.bench_scale)
        except KeyError as exc:
            raise UserError(f"--bench-scale: {exc.args[0]}") from None
    jobs = args.jobs or (1 if args.device == "cpu" else max(1, min(4, threads.usable_cores() // 4)))
    return Options(
        device=args.device, out=Path(args.out), budget_s=float(args.budget_s),
        backends=parse_names(args.backends, backends.names(), "backend") if args.backends else [],
        tasks=parse_names(args.tasks, tasks.all_names(), "task") if args.tasks else [],
        precisions=precisions, epochs=args.epochs, parity_cells=cells, parity_steps=args.parity_steps,
        bench_tasks=bench_tasks,
        bench_scale=args.bench_scale, bench_steps=args.bench_steps, bench_warmup=min(2, args.bench_steps),
        bench_repeats=args.bench_repeats,
        data_dir=args.data_dir or os.environ.get("RNNBENCH_DATA_DIR"), cache_dir=args.cache_dir,
        use_tox=args.device == "cpu" if args.tox is None else args.tox, jobs=jobs)


def main(args: Any) -> int:
    """The ``doctor`` command: run, print the table, write ``summary.txt``; 1 if a step failed."""
    opts = options_from_args(args)
    print(f"rnnbench doctor: --device {opts.device}, budget {opts.budget_s:.0f} s, {opts.jobs} job(s), "
          f"records in {Path(opts.out).resolve()}", file=sys.stderr, flush=True)
    doctor = Doctor(opts)
    summary = doctor.run()
    text = table(summary)
    (doctor.out / "summary.txt").write_text(text + "\n")
    print(text)
    print(f"doctor: summary {doctor.out / 'summary.json'}")
    return 1 if summary["status"] == "failed" else 0

