"""``matrix --executor ray``: every combination a Ray task, on a cluster (by default a local one).

A complete matrix is days of CPU on one machine. Ray schedules each run on a node that has the resources
it asks for (``num_cpus`` = the run's threads, one GPU with ``--device gpu``), rather than a scheduler of
our own. A task runs the same ``python -m harness run ...`` on its node, in that node's checkout and in
the backend's tox environment there, into a scratch folder, and returns the record, the files beside it
(checkpoints, plots) and the log; the driver writes them atomically into ``--out``, and
:mod:`harness.matrix.driver` keeps the manifest, so resume, report, baseline and compare work as with
the local executor. Records name the node they ran on (``environment.node``) next to its machine fingerprint.

A task lost with its node or its worker process is submitted again, at most ``RETRIES`` times; after that
the combination is recorded as failed with the reason, and the matrix goes on. The run's process is
killed with the Ray worker that started it (``PR_SET_PDEATHSIG``), so a lost attempt never finishes
behind the driver's back and writes a second record. Ray is imported only here, and only when this
executor is used: the harness core runs without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import backends
from harness import launcher, records
from harness.errors import UserError
from harness.matrix.executors import Job, Outcome

INSTALL = "python -m pip install -e '.[ray]'"
RETRIES = 2  # further attempts of a combination lost with its node (or its worker process)
CONNECT_TIMEOUT_S = 5.0
CHECK_NODES_S = 30.0  # how often a driver waiting for results checks that some node can still run them
BACKEND_RESOURCE = "rnnbench:{}"  # a custom resource: only nodes that declare it run that backend

def connect(address: str | None, options: dict[str, Any], say: Callable[[str], None]) -> RayExecutor:
    """An executor joined to the Ray cluster at ``address`` (``None``: a new local cluster of this machine);
    a one-line error when Ray is missing or the cluster cannot be reached."""
    if importlib.util.find_spec("ray") is None:
        raise UserError(f"--executor ray needs Ray, which {sys.executable} cannot import: install it with "
                        f"`{INSTALL}` (ray==2.60.0), or run the matrix with `tox exec -e ray -- python -m "
                        "harness matrix ...`")
    if address:
        check_reachable(address)
    return RayExecutor(address, options, say)


def check_reachable(address: str) -> None:
    """Fail in one line, before Ray tries for a minute, when nothing listens at ``HOST:PORT``."""
    if address == "auto":
        return
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--address {address}: give the cluster's head as HOST:PORT (`ray start --head` "
                        "prints it; port 6379 by default), or `auto` for the cluster started on this machine")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): start its head "
                        "there with `ray start --head`, or drop --address for a local cluster of this "
                        "machine") from None


def plan_resources(options: dict[str, Any],
                   nodes: Sequence[dict[str, float]]) -> tuple[dict[str, float], int]:
    """What each run asks Ray for, and the threads it is given, from the nodes' resources.

    ``--threads N`` asks for N CPUs. Without it a run takes a whole node (the smallest one's CPUs), or with
    ``--device gpu`` one GPU and its share of the node's CPUs, so no two timed runs share cores."""
    gpu = options.get("device") == "gpu"
    usable = [n for n in nodes if n.get("CPU", 0) >= 1 and (not gpu or n.get("GPU", 0) >= 1)]
    if not usable:
        raise UserError("--device gpu: no node of the Ray cluster has a GPU; add GPU nodes or run on the CPU"
                        if gpu else "no node of the Ray cluster has a CPU to run on")
    threads = options.get("threads")
    if threads is None:
        threads = max(1, min(int(n["CPU"] // n["GPU"]) if gpu else int(n["CPU"]) for n in usable))
    elif not any(n["CPU"] >= threads for n in usable):
        most = max(n["CPU"] for n in usable)
        raise UserError(f"--threads {threads}: no node of the Ray cluster has {threads} CPUs (the most is "
                        f"{most:g}); lower --threads")
    return {"num_cpus": threads, "num_gpus": 1 if gpu else 0}, threads


def backend_resources(backend: str, nodes: Sequence[dict[str, float]]) -> dict[str, float]:
    """``{rnnbench:<backend>: 0.001}`` when some node declares that resource (``ray start --resources``):
    a backend that only some nodes can run goes to those; otherwise nothing."""
    key = BACKEND_RESOURCE.format(backend)
    return {key: 0.001} if any(key in n for n in nodes) else {}


def fits(request: dict[str, Any], node: dict[str, float]) -> bool:
    """Whether a node (its total resources) could ever run a task of ``request``."""
    wants = {"CPU": request.get("num_cpus", 0), "GPU": request.get("num_gpus", 0),
             **request.get("resources", {})}
    return all(node.get(k, 0) >= v for k, v in wants.items() if v)


class RayExecutor:
    """Runs a matrix's jobs as Ray tasks and writes what they return into the driver's ``--out``."""

    def __init__(self, address: str | None, options: dict[str, Any], say: Callable[[str], None]) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a benchmark does not report home
        import ray

        self.ray, self.say = ray, say
        where = f"at {address}" if address else "(a new local one of this machine)"
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(address="local", include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, its own
            with contextlib.suppress(Exception):
                ray.shutdown()
            raise UserError(f"cannot join the Ray cluster {where}: {_first_line(exc)}") from None
        self.nodes = nodes
        self.request, self.threads = plan_resources(options, nodes)
        self.device_gpu = options.get("device") == "gpu"
        cpus, gpus = sum(n.get("CPU", 0) for n in nodes), sum(n.get("GPU", 0) for n in nodes)
        asks = f"{self.threads} CPU{'s' * (self.threads != 1)}" + (" and 1 GPU" if self.device_gpu else "")
        say(f"matrix: Ray cluster {where}: {len(nodes)} node{'s' * (len(nodes) != 1)}, {cpus:g} CPUs, "
            f"{gpus:g} GPUs; each run asks for {asks}\n")

    def close(self) -> None:
        self.ray.shutdown()

    def argv(self, argv: list[str]) -> list[str]:
        """The run's arguments with the threads it was given CPUs for."""
        return argv if "--threads" in argv else [*argv, "--threads", str(self.threads)]

    def __call__(self, jobs: list[Job], done: Callable[[Job, Outcome], None]) -> None:
        ray = self.ray
        task = ray.remote(run_on_node)
        pending: dict[Any, tuple[Job, list[dict[str, Any]]]] = {}

        def request(job: Job) -> dict[str, Any]:
            return {**self.request, "resources": backend_resources(job.entry["backend"], self.nodes)}

        def submit(job: Job, lost: list[dict[str, Any]]) -> None:
            options = {**request(job), "max_retries": 0, "retry_exceptions": False,
                       "name": f"rnnbench {job.entry['key']}"}
            ref = task.options(**options).remote(self.argv(job.argv), job.entry["backend"], self.device_gpu)
            pending[ref] = (job, lost)

        for job in jobs:
            submit(job, [])
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=CHECK_NODES_S)
                if not ready:  # Ray waits for a node that fits for ever; the matrix does not
                    alive = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
                    for ref, (job, lost) in list(pending.items()):
                        if not any(fits(request(job), n) for n in alive):
                            ray.cancel(ref, force=True)
                            del pending[ref]
                            reason = f"no node of the Ray cluster can run it any more ({request(job)})"
                            done(job, self._failed(job, lost, reason))
                    continue
                job, lost = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:  # this module failed on the node: no retry
                    done(job, self._failed(job, lost, f"the Ray task failed on its node: {_first_line(exc)}"))
                except ray.exceptions.RayError as exc:  # the node or the worker process was lost
                    lost.append({"error": _first_line(exc), "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
                    if len(lost) <= RETRIES:
                        self.say(f"matrix: {job.entry['key']} was lost ({lost[-1]['error']}); retrying it "
                                 f"({len(lost)} of {RETRIES})\n")
                        submit(job, lost)
                    else:
                        done(job, self._failed(job, lost, f"lost {len(lost)} times with its node or worker "
                                                          f"process, last: {lost[-1]['error']}"))
                else:
                    done(job, self.store(job, result, lost))
        except KeyboardInterrupt:  # the driver stops: so do its runs (finished ones are in the manifest)
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise

    @staticmethod
    def _failed(job: Job, lost: list[dict[str, Any]], reason: str) -> Outcome:
        text = "".join(f"lost: {a['error']}\n" for a in lost) + f"failed: {reason}\n"
        records.write_bytes_atomic(job.log, text)
        return Outcome(1, None, 0.0, {"attempts": lost} if lost else {}, error=reason)

    @staticmethod
    def store(job: Job, result: dict[str, Any], lost: list[dict[str, Any]]) -> Outcome:
        """Write a task's record, files and log into the driver's ``--out`` (atomically, never over another
        run's record) and say what became of it."""
        out = Path(job.argv[job.argv.index("--out") + 1])
        name, record, files = result["record_name"], result["record"], dict(result["files"])
        found = None
        if record is not None:
            stem = free_stem(out, Path(name).stem)
            if stem != Path(name).stem:  # a record of that name is there already: rename this one's files
                old = Path(name).stem
                files = {rel.replace(old, stem): data for rel, data in files.items()}
                for key in ("checkpoint", "checkpoint_final"):
                    if isinstance(record.get(key), str):
                        record[key] = record[key].replace(old, stem)
                png = record.get("analysis", {}).get("confusion_png")
                if isinstance(png, str):
                    record["analysis"]["confusion_png"] = png.replace(old, stem)
                record["run_id"] = stem
            record.setdefault("environment", {})["node"] = {**result["node"], "executor": "ray"}
        for rel, data in files.items():
            parts = PurePosixPath(rel).parts
            if PurePosixPath(rel).is_absolute() or ".." in parts:
                raise UserError(f"a Ray task returned the file {rel!r}, outside its run's folder")
            records.write_bytes_atomic(out.joinpath(*parts), data)
        if record is not None:
            path = records.write_atomic(out / f"{stem}.json", record)
            found = (path, record)
        records.write_bytes_atomic(job.log, result["log"])
        extra: dict[str, Any] = {"node": result["node"]}
        if lost:
            extra["attempts"] = lost
        return Outcome(result["code"], found, result["seconds"], extra)


def free_stem(out: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``-3``... when a record of that name is in ``out`` already."""
    n, name = 1, stem
    while (out / f"{name}.json").exists():
        n += 1
        name = f"{stem}-{n}"
    return name


def run_on_node(argv: list[str], backend: str, gpu: bool) -> dict[str, Any]:
    """On a node: ``python -m harness run ARGV`` into a scratch folder; the record, the other files it
    wrote (checkpoints, plots) and the log, for the driver to write into its own ``--out``."""
    import ray

    node = {"id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "address": ray.util.get_node_ip_address()}
    scratch = Path(tempfile.mkdtemp(prefix="rnnbench-ray-"))
    try:
        out, log = scratch / "runs", scratch / "run.log"
        argv = list(argv)
        argv[argv.index("--out") + 1] = str(out)
        started = time.perf_counter()
        code = _launch(argv, backend, gpu, log)
        seconds = time.perf_counter() - started
        name, record, files = _collect(out)
        return {"node": node, "code": code, "seconds": seconds, "record_name": name, "record": record,
                "files": files, "log": log.read_text(errors="replace") if log.exists() else ""}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _launch(argv: list[str], backend: str, gpu: bool, log: Path) -> int:
    """The run in the backend's environment on this node, its output in ``log``; its exit status."""
    env = launcher.child_env()
    if not gpu:  # a run that asked Ray for no GPU gets none (Ray sets the variable only for GPU tasks)
        env["CUDA_VISIBLE_DEVICES"] = ""
    info = backends.get(backend)
    with open(log, "w") as out:
        try:
            with _build_lock(), contextlib.redirect_stderr(out):  # a failed build's output: in the log
                python = launcher.env_python(info)
        except UserError as exc:
            out.write(f"python -m harness: error: {exc}\n")
            return 2
        if python != sys.executable:  # no second hop: this interpreter has the framework
            env[launcher.IN_TOX] = info.tox_env
        return launcher.run_tied(python, argv, out, env)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One tox build or check at a time per checkout: tox environments are not built concurrently."""
    import fcntl

    digest = hashlib.sha1(str(launcher.ROOT).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"rnnbench-tox-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _collect(out: Path) -> tuple[str | None, dict[str, Any] | None, dict[str, bytes]]:
    """The record a run wrote into ``out`` (the newest, should there be several) and its other files."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    files: dict[str, bytes] = {}
    if not out.is_dir():
        return None, None, files
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.parent == out and path.suffix == ".json":
            try:
                record = records.load(path)
            except (OSError, ValueError):
                pass
            else:
                found.append((record.get("started", ""), path.name, record))
                continue
        files[path.relative_to(out).as_posix()] = path.read_bytes()
    if not found:
        return None, None, files
    _, name, record = max(found, key=lambda f: (f[0], f[1]))
    return name, record, files


def _first_line(exc: BaseException, limit: int = 240) -> str:
    """The first line of Ray's message, cut after a whole sentence when long (its advice follows)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    line = lines[0] if lines else type(exc).__name__
    if len(line) > limit:
        cut = line.rfind(". ", 0, limit)
        line = line[: cut + 1] if cut > 0 else line[:limit]
    return line
