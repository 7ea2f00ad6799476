"""``python -m harness matrix``: every (task, backend, seed) combination, one after another.

Each combination is one child process, ``python -m harness run ...``, which re-runs itself in the backend's
tox environment when this Python lacks the framework, so every backend trains in its own environment.
Repeats use seeds ``0..K-1``. Backends are interleaved within each seed (task, seed, backend order), so
a slow drift of the machine's load touches every backend alike.

A manifest (JSON, written atomically after every run) lists each combination with its status
(``pending``, ``running``, ``ok``, ``diverged``, ``failed``), its record, its log and its error. With
``--resume`` a matrix interrupted at any point carries on with the combinations not yet finished; a
finished one (ok, diverged or failed: its record or error is kept) is never run again, unless
``--retry-failed`` asks for failed ones to be retried. A matrix killed outright leaves its current
combination ``running``: resuming runs it again. Imports only the standard library.

An executor (``--executor ray``: :mod:`harness.matrix.executors.ray`) may run the combinations
concurrently, elsewhere: it is handed them all at once as :class:`~harness.matrix.executors.Job` objects
and reports each :class:`~harness.matrix.executors.Outcome` as it finishes, and this module alone keeps the
manifest, so resume and the report work alike for every executor (the local one runs each combination
here, one after another: :mod:`harness.matrix.executors.local`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import backends
import tasks
from harness import launcher, records
from harness.common import outdir
from harness.errors import UserError
from harness.matrix.executors import Executor, Job, Launcher, Outcome, local
from harness.options import parse_names

FINISHED = ("ok", "diverged", "failed")
METRIC_ABBREVIATIONS = {"accuracy": "acc", "perplexity": "ppl"}

# argparse destinations forwarded to every `run` (name in the manifest -> command-line flag)
RUN_OPTIONS = {
    "scale": "--scale", "epochs": "--epochs", "device": "--device", "precision": "--precision",
    "data_dir": "--data-dir", "cache_dir": "--cache-dir", "init": "--init", "sampling": "--sampling",
    "cell": "--cell", "threads": "--threads",
}

def _scale_labels(task_names: list[str], scale: str | None, settings: Sequence[str] = ()) -> dict[str, str]:
    """The scale each task will run at; checked here, with the ``--set`` settings, when the tasks can be
    imported (NumPy present)."""
    if launcher.missing(("numpy",)):
        return {t: scale or "default" for t in task_names}
    from harness.common import overrides

    labels = {}
    for name in task_names:
        task = tasks.get(name)
        try:
            labels[name] = task.scale(scale or task.default_scale).name
        except KeyError as exc:
            raise UserError(exc.args[0]) from None
        overrides.apply(task.scale(labels[name]), overrides.parse_settings(settings, task), task)
    return labels


def plan(task_names: list[str], backend_names: list[str], repeats: int, scales: dict[str, str]) -> list[dict]:
    """The combinations in running order: task, then seed, then backend."""
    return [
        {"key": f"{task}/{scales[task]}/{backend}/s{seed}", "task": task, "scale": scales[task],
         "backend": backend, "seed": seed, "status": "pending", "record": None, "error": None, "log": None,
         "seconds": None}
        for task in task_names for seed in range(repeats) for backend in backend_names
    ]


class Matrix:
    """A planned matrix bound to its manifest file."""

    def __init__(self, manifest: Path, options: dict[str, Any], runs: list[dict], out: Path) -> None:
        self.path, self.options, self.runs, self.out = manifest, options, runs, out
        self.created = datetime.now(timezone.utc).isoformat(timespec="seconds")

    # -- manifest ---------------------------------------------------------------------------------------
    def save(self) -> None:
        records.dump_atomic(self.path, {
            "schema": records.MATRIX, "created": self.created,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "options": self.options, "runs": self.runs,
        })

    @staticmethod
    def read(path: Path) -> dict[str, Any] | None:
        try:
            data = records.read(path, records.MATRIX)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read matrix manifest {path}: {exc}; remove it or pass --fresh") from None
        if data is None:
            raise UserError(f"{path} is not a matrix manifest; "
                            "choose another --manifest")
        return data

    def adopt(self, previous: dict[str, Any], retry_failed: bool) -> int:
        """Take over the finished combinations of ``previous`` (same options); how many were taken."""
        differing = sorted(k for k in set(self.options) | set(previous["options"])
                           if self.options.get(k) != previous["options"].get(k))
        if differing:
            was = ", ".join(f"{k}={previous['options'].get(k)!r}" for k in differing)
            raise UserError(f"{self.path} was written for a different matrix ({was}); resume with the same "
                            "options, or pass --fresh to start a new one")
        by_key = {r["key"]: r for r in previous["runs"]}
        taken = 0
        for i, entry in enumerate(self.runs):
            old = by_key.get(entry["key"])
            if old is None:
                continue
            if old["status"] in FINISHED and not (retry_failed and old["status"] == "failed"):
                self.runs[i] = old
                taken += 1
        self.created = previous.get("created", self.created)
        return taken

    # -- running ----------------------------------------------------------------------------------------
    def argv(self, entry: dict[str, Any]) -> list[str]:
        argv = ["run", "--task", entry["task"], "--backend", entry["backend"], "--seed", str(entry["seed"]),
                "--out", str(self.out), "--no-progress"]
        for name, flag in RUN_OPTIONS.items():
            if self.options.get(name) is not None:
                argv += [flag, str(self.options[name])]
        if self.options.get("flush_to_zero") is False:
            argv.append("--no-flush-to-zero")
        for setting in self.options.get("settings") or []:
            argv += ["--set", setting]
        return argv

    def _snapshot(self) -> dict[Path, int]:
        """The modification time of every JSON file in OUT (a run's record is new or rewritten after it)."""
        stamps = {}
        for path in self.out.glob("*.json"):
            try:
                stamps[path] = path.stat().st_mtime_ns
            except OSError:  # removed meanwhile
                continue
        return stamps

    def _find_record(self, before: dict[Path, int], entry: dict[str, Any]) -> tuple[Path, dict] | None:
        """The record this run wrote: a new or rewritten file (run ids have one-second resolution)."""
        found = []
        for path, mtime in self._snapshot().items():
            if before.get(path) == mtime:
                continue
            try:
                record = records.read(path, records.RUN)
                if record is None:
                    continue
                records.validate(record)
            except (OSError, ValueError):
                continue
            if (record["task"], record["backend"], record["seed"]) == (entry["task"], entry["backend"],
                                                                         entry["seed"]):
                found.append((record.get("started", ""), path, record))
        if not found:
            return None
        _, path, record = max(found, key=lambda f: (f[0], str(f[1])))
        return path, record

    def log_path(self, entry: dict[str, Any]) -> Path:
        return self.path.parent / f"{self.path.stem}-logs" / f"{entry['key'].replace('/', '-')}.log"

    def run_one(self, entry: dict[str, Any], launch: Launcher) -> None:
        log = self.log_path(entry)
        entry.update(status="running", error=None, log=str(log), record=None)
        self.save()
        before = self._snapshot()
        started = time.perf_counter()
        try:
            code = launch(self.argv(entry), log)
        except KeyboardInterrupt:
            code = 130
        found = self._find_record(before, entry)
        self.settle(entry, Outcome(code, found, time.perf_counter() - started), log)

    def settle(self, entry: dict[str, Any], outcome: Outcome, log: Path) -> None:
        """Write a finished run into its entry and the manifest; an interrupted one is pending again."""
        entry["seconds"] = round(outcome.seconds, 1)
        entry.update(outcome.extra)
        code, found = outcome.code, outcome.found
        if code == 130 or (found and found[1].get("error") == "interrupted"):
            entry.update(status="pending", error="interrupted", record=str(found[0]) if found else None)
            self.save()
            raise KeyboardInterrupt
        if found:
            path, record = found
            entry.update(status=record["status"], record=str(path), error=record.get("error"),
                         scale=record.get("scale", entry["scale"]))
        else:
            entry.update(status="failed", error=outcome.error or _last_error(log)
                         or f"`python -m harness run` exited {code}")
        self.save()

    def execute(self, launch: Launcher, say: Callable[[str], None],
                executor: Executor | None = None) -> dict[str, int]:
        total = len(self.runs)
        jobs: dict[str, tuple[Job, str]] = {}
        for i, entry in enumerate(self.runs, 1):
            head = (f"[{i}/{total}] {entry['task']}/{entry['scale']} {entry['backend']} "
                    f"seed {entry['seed']} ...")
            if entry["status"] in FINISHED:
                say(f"{head} {describe(entry)} (earlier run)\n")
                continue
            if executor is not None:
                jobs[entry["key"]] = (Job(entry, self.argv(entry), self.log_path(entry)), head)
                continue
            say(f"{head} ")
            try:
                self.run_one(entry, launch)
            except KeyboardInterrupt:
                say("interrupted\n")
                raise
            say(f"{describe(entry)}\n")
        if executor is not None and jobs:
            self._hand_over(executor, jobs, say)
        counts: dict[str, int] = {}
        for entry in self.runs:
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        return counts

    def _hand_over(self, executor: Executor, jobs: dict[str, tuple[Job, str]],
                   say: Callable[[str], None]) -> None:
        """Give every unfinished combination to ``executor`` at once (it may run them side by side); each is
        settled into the manifest, with its progress line, as it finishes, so a crash keeps what finished."""
        for job, _ in jobs.values():
            job.entry.update(status="running", error=None, log=str(job.log), record=None)
        self.save()

        def done(job: Job, outcome: Outcome) -> None:
            self.settle(job.entry, outcome, job.log)
            node = job.entry.get("node")
            where = f" on node {node['id'][:8]} ({node['host']})" if node else ""
            say(f"{jobs[job.entry['key']][1]} {describe(job.entry)}{where}\n")

        try:
            executor([job for job, _ in jobs.values()], done)
        except KeyboardInterrupt:
            for job, _ in jobs.values():
                if job.entry["status"] == "running":
                    job.entry.update(status="pending", error="interrupted")
            self.save()
            raise


def _last_error(log: Path) -> str | None:
    """The harness' one-line error (or the last line) of a run's log."""
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    prefix = "python -m harness: error: "
    errors = [ln[len(prefix):] for ln in lines if ln.startswith(prefix)]
    line = (errors or lines or [None])[-1]
    return line[:500] if line else None


def describe(entry: dict[str, Any]) -> str:
    """``ok 0.812 acc, 1234 samples/s, 42 s`` or ``failed: <error>``, from the entry's record."""
    status = entry["status"]
    if status != "ok":
        return f"{status}: {entry.get('error') or 'no error recorded'}"
    parts = ["ok"]
    try:
        record = json.loads(Path(entry["record"]).read_text())
        metric = record["config"]["target"]["metric"]
        value = record["metrics"].get(f"test_{metric}")
        if value is not None:
            parts.append(f"{value:.3f} {METRIC_ABBREVIATIONS.get(metric, metric)},")
        rate = record["throughput"].get("train_samples_per_s")
        if rate is not None:
            parts.append(f"{rate:,.0f} samples/s,")
    except (OSError, ValueError, KeyError, TypeError):
        parts.append("(record unreadable),")
    parts.append(f"{entry['seconds']:.0f} s" if entry.get("seconds") is not None else "")
    return " ".join(p for p in parts if p).rstrip(",")


def main(args: Any, launch: Launcher | None = None, say: Callable[[str], None] | None = None) -> int:
    """Run the matrix described by parsed ``args``; 0 when every combination is ok, else 1."""
    launch = launch or local.launch
    say = say or (lambda text: print(text, end="", flush=True))
    task_names = parse_names(args.tasks, tasks.all_names(), "task")
    backend_names = parse_names(args.backends, list(backends.registry()), "backend")
    if args.repeats < 1:
        raise UserError(f"--repeats {args.repeats}: give at least 1 (repeats use seeds 0..K-1)")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs {args.epochs}: give a positive number of epochs")
    if args.resume and args.fresh:
        raise UserError("--resume and --fresh contradict each other; pass one")
    scales = _scale_labels(task_names, args.scale, getattr(args, "settings", None) or ())
    out = Path(args.out)
    manifest = Path(args.manifest) if args.manifest else out / "matrix.json"
    options = {"tasks": task_names, "backends": backend_names, "repeats": args.repeats, "out": str(out),
               "flush_to_zero": args.flush_to_zero, **{k: getattr(args, k) for k in RUN_OPTIONS}}
    if getattr(args, "settings", None):  # absent when empty: manifests from before --set still resume
        options["settings"] = list(args.settings)
    matrix = Matrix(manifest, options, plan(task_names, backend_names, args.repeats, scales), out)
    previous = None if args.fresh else Matrix.read(manifest)
    if previous is not None and args.resume:
        taken = matrix.adopt(previous, args.retry_failed)
        say(f"matrix: resuming {manifest}: {taken} of {len(matrix.runs)} combinations finished earlier\n")
    elif previous is not None:
        done = sum(r["status"] in FINISHED for r in previous["runs"])
        if done < len(previous["runs"]):
            raise UserError(f"{manifest} holds an unfinished matrix ({done} of {len(previous['runs'])} "
                            "combinations finished): pass --resume to continue it, or --fresh to start over")
    elif args.resume:
        say(f"matrix: no manifest at {manifest} to resume; starting a new matrix\n")
    executor: Executor | None = None
    if getattr(args, "executor", "local") == "ray":
        from harness.matrix.executors import ray as executor_ray  # imports Ray itself, and only now

        executor = executor_ray.connect(args.address, options, say)
    elif getattr(args, "address", None):
        raise UserError("--address names a Ray cluster: pass it with --executor ray")
    outdir.check_writable(out)
    matrix.save()
    try:
        counts = matrix.execute(launch, say, executor)
    except KeyboardInterrupt:
        say(f"matrix: interrupted; finished runs are kept in {manifest}: continue with the same command "
            "and --resume\n")
        raise
    finally:
        if executor is not None:
            executor.close()
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    say(f"matrix: {len(matrix.runs)} runs: {summary}; manifest {manifest}\n")
    if not args.no_report:
        log = manifest.parent / f"{manifest.stem}-logs" / "report.log"
        smoke = ["--include-smoke"] if any(r.get("scale") == "smoke" for r in matrix.runs) else []
        code = launch(["report", "--runs", str(out), "--out", args.report_out, *smoke], log)
        if code != 0:
            raise UserError(f"the report failed: {_last_error(log)} (log: {log})")
        say(f"matrix: report in {args.report_out} (tables, PNG plots, report.html)\n")
    return 0 if counts.get("ok", 0) == len(matrix.runs) else 1
