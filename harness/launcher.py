"""Every process the harness starts, and the command lines of its hidden worker commands.

One module starts processes (as pyperf's runner does), so how a child gets its interpreter, environment
variables and arguments is read in one place:
- the backend's interpreter: backends cannot share one environment (MXNet needs NumPy < 1.24, TensorFlow
  and JAX NumPy 2), so each has its own tox environment; when the framework (or the harness' own
  dependencies) cannot be imported here, the same command line is re-run inside that environment, which
  tox builds on first use (``run_in_tox``, ``env_python``);
- the child's variables (``child_env``): the re-run markers dropped, thread counts, the checkout on
  ``PYTHONPATH``;
- the hidden worker commands (``parity-worker``, ``bench-worker``, ``doctor-probe``, ``doctor-worker``):
  each one's parser stands beside the function that builds its argv, so the two cannot drift;
- the ways a child runs: logged to a file (matrix), with a time limit (doctor), tied to its parent (Ray
  tasks), on pipes (bench workers), or captured (git, nvidia-smi).

Imports only the standard library: the CLI parses every command with it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from harness.common import threads
from harness.errors import UserError
from tasks import data as task_data

ROOT = Path(__file__).resolve().parent.parent
CORE_MODULES = ("numpy", "pandas", "tabulate", "tqdm", "matplotlib")
IN_TOX = "RNNBENCH_IN_TOX"
BOOTSTRAP = ROOT / ".tox-bootstrap"  # tox for a machine that has Python alone (``_bootstrap_tox``)


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` this interpreter cannot import."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _tox() -> list[str]:
    """The tox command: the installed one, else a private copy the harness installs once."""
    if shutil.which("tox"):
        return ["tox"]
    if importlib.util.find_spec("tox") is not None:
        return [sys.executable, "-m", "tox"]
    return _bootstrap_tox()


def _bootstrap_tox() -> list[str]:
    """tox in a virtual environment of its own (``.tox-bootstrap``), so a machine with Python alone
    needs no set-up step; installed on first use, with a line saying so."""
    python = BOOTSTRAP / "bin" / "python"
    works = python.exists() and subprocess.run([str(python), "-c", "import tox"], capture_output=True)
    if works and works.returncode == 0:
        return [str(python), "-m", "tox"]
    print(f"rnnbench: tox is not installed; installing it once into {BOOTSTRAP} (a private virtual "
          "environment)", file=sys.stderr, flush=True)
    for step in ([sys.executable, "-m", "venv", str(BOOTSTRAP)],
                 [str(python), "-m", "pip", "install", "--quiet", "tox>=4"]):
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write((done.stdout or "") + (done.stderr or ""))
            raise UserError(f"tox is not installed, and installing it into {BOOTSTRAP} failed "
                            f"(`{' '.join(step)}` exited {done.returncode}); run `python -m pip install "
                            "tox`, or install the backend into this Python")
    return [str(python), "-m", "tox"]


def run_tox(args: list[str]) -> int:
    """``tox ARGS`` in the repository (the test suite), with tox installed first where it is missing.
    ``--full`` (ours, not tox's) adds the long tests (``RNNBENCH_TESTS=full``, see tests/conftest.py). With
    no tox arguments, every environment runs, as many at once as there are cores: their tests are small
    models on one or two threads, and building an environment waits on the disk more than the CPU."""
    env = dict(os.environ)
    if "--full" in args:
        args = [a for a in args if a != "--full"]
        env["RNNBENCH_TESTS"] = "full"
    if not args:  # the whole suite: environments side by side, one a core (tox.ini's `depends` orders them)
        args = ["run-parallel", "--parallel", "auto", "--parallel-live"]  # every line as it comes: CI logs
    return subprocess.run([*_tox(), "-c", str(ROOT / "tox.ini"), *args], cwd=ROOT, env=env).returncode


@contextlib.contextmanager
def _build_lock(env: str) -> Iterator[None]:
    """One tox build or check of ``env`` at a time across processes: two commands started together (two
    `run`s in the background) would otherwise both reinstall the package into it, and the second finds the
    first's files half removed."""
    path = ROOT / ".tox" / f".{env}.build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(tox: list[str], env: str, quiet: bool = False) -> None:
    """Build (or check) tox environment ``env``; ``quiet`` keeps tox's output off the screen unless it
    fails."""
    cmd = [*tox, "run", "-e", env, "--notest", "-q"]
    with _build_lock(env):
        if quiet:
            built = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        else:
            built = subprocess.run(cmd, cwd=ROOT, stdout=sys.stderr)
    if built.returncode != 0:
        if quiet:
            sys.stderr.write(built.stdout + built.stderr)
        raise UserError(f"could not build tox environment '{env}' (tox exited {built.returncode}, output "
                        "above); check access to the package index, or install the backend into this Python")


_PYTHONS: dict[str, str] = {}  # tox environment -> its interpreter, once checked in this process


def tox_python(env: str, quiet: bool = False) -> str:
    """The interpreter of tox environment ``env``, which tox builds (or checks) first: once a process,
    since a check costs seconds and a parity or doctor run starts dozens of workers."""
    if env in _PYTHONS and Path(_PYTHONS[env]).exists():
        return _PYTHONS[env]
    tox = [*_tox(), "-c", str(ROOT / "tox.ini")]
    _build(tox, env, quiet)
    found = subprocess.run([*tox, "exec", "-e", env, "-qq", "--", "python", "-c",
                            "import sys; print(sys.executable)"], cwd=ROOT, capture_output=True, text=True)
    path = found.stdout.strip().splitlines()[-1] if found.stdout and found.stdout.strip() else ""
    if found.returncode != 0 or not path or not Path(path).exists():
        raise UserError(f"cannot find the Python of tox environment '{env}' (tox exited "
                        f"{found.returncode}); rebuild it: `tox run -e {env} --recreate --notest`")
    _PYTHONS[env] = path
    return path


def run_in_tox(env: str, argv: list[str], lacking: list[str]) -> int:
    """Re-run ``python -m harness argv`` with the Python of tox environment ``env``; its exit status.

    The environment's interpreter runs the command itself (not ``tox exec``), so the harness' own last
    line (an error, a summary) stays the last one on the screen, with no tox trailer after it. A Ctrl-C
    reaches the re-run command too, which keeps its finished records and exits; this process waits for it.
    ``RNNBENCH_IN_TOX`` names the environment a re-run is in: only a second hop into the same one is
    refused (its build is broken), so a command re-run in one environment (``report``) can still start
    workers in others (``parity``'s backends)."""
    if os.environ.get(IN_TOX) == env:
        raise UserError(f"{', '.join(lacking)} cannot be imported even inside tox environment '{env}'; "
                        f"rebuild it with `tox run -e {env} --recreate --notest`")
    if env not in _PYTHONS:  # said once a process
        print(f"rnnbench: {', '.join(lacking)} not importable in {sys.executable}; running in tox "
              f"environment '{env}' (built on first use, which can take minutes)",
              file=sys.stderr, flush=True)
    python = tox_python(env)
    child_env = {**os.environ, IN_TOX: env, "RNNBENCH_CWD": os.getcwd()}
    proc = subprocess.Popen([python, "-m", "harness", *argv], cwd=ROOT, env=child_env)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the child has the same Ctrl-C: it says so and exits by itself
            continue


def env_python(info: Any) -> str:
    """An interpreter that runs backend ``info``: this one when it has the framework and the harness'
    dependencies, else the Python of the backend's tox environment (built on first use)."""
    if not missing(CORE_MODULES) and not missing(info.requires):
        return sys.executable
    return tox_python(info.tox_env, quiet=True)


def in_core_env(argv: list[str], extra: tuple[str, ...] = ()) -> int | None:
    """For a command of the harness core (list, report, bench, doctor...): when this Python lacks the
    harness' dependencies (or ``extra``), re-run ``argv`` in the ``report`` tox environment and return its
    exit status; None when the command can run here."""
    lacking = missing((*CORE_MODULES, *extra))
    return run_in_tox("report", argv, lacking) if lacking else None


def in_backend_env(info: Any, argv: list[str]) -> int | None:
    """As ``in_core_env``, for a command that imports backend ``info``'s framework: its tox environment."""
    lacking = missing(CORE_MODULES) + missing(info.requires)
    return run_in_tox(info.tox_env, argv, lacking) if lacking else None


# -- a child's environment and command line --------------------------------------------------------------
def child_env(updates: Mapping[str, str] | None = None, *, pythonpath: bool = True,
              drop: Sequence[str] = ()) -> dict[str, str]:
    """This process' environment for a child: without the re-run markers (``RNNBENCH_IN_TOX``,
    ``RNNBENCH_CWD``: the child finds its own environment, in the caller's folder) and ``drop``, with
    ``updates``, and with the checkout first on ``PYTHONPATH`` (the child may run in another folder). The
    dataset mirror this process found by default (``tasks.data.DEFAULT_MIRROR``) is named in
    ``RNNBENCH_DATA_DIR``, so a child in another checkout (``bench --against``'s worktrees) reads it too."""
    env = {k: v for k, v in os.environ.items() if k not in (IN_TOX, "RNNBENCH_CWD", *drop)}
    if "RNNBENCH_DATA_DIR" not in env and (mirror := task_data.data_dir()) is not None:
        env["RNNBENCH_DATA_DIR"] = str(mirror)
    env.update(updates or {})
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def thread_env(n: int) -> dict[str, str]:
    """The variables that give every framework ``n`` threads, read when it is imported."""
    return threads.environ(n)


def harness_cmd(python: str, argv: Sequence[str]) -> list[str]:
    """``python -m harness ARGV``."""
    return [python, "-m", "harness", *argv]


# -- the ways a child runs ------------------------------------------------------------------------------
Process = subprocess.Popen
CAPTURE_ERRORS = (OSError, subprocess.SubprocessError)  # what ``capture`` raises: no such program, timeout
TIMED_OUT = 124  # the exit status ``run_timed`` reports for a process it stopped at its time limit


def capture(cmd: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A short tool's output (git, nvidia-smi), as text; raises one of ``CAPTURE_ERRORS``."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def call_harness(argv: list[str]) -> int:
    """``python -m harness argv`` with this interpreter, its output on this terminal; its exit status."""
    return subprocess.call(harness_cmd(sys.executable, argv))


def run_logged(argv: list[str], log: Path) -> int:
    """``python -m harness argv`` with this interpreter, output to ``log``; its exit status. On Ctrl-C
    (which the child gets too) the child is given a minute to write its record, then killed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(harness_cmd(sys.executable, argv), stdout=out, stderr=subprocess.STDOUT,
                                env=child_env())
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the child got the same SIGINT: let it write its record
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def run_logged_with(python: str, argv: list[str], log: Path, tree: str | None = None,
                    timeout: float = 900) -> int:
    """``python -m harness argv`` with another interpreter (an A/B row's environment) and, with ``tree``,
    another checkout's harness (``_in_tree``), output to ``log``; its exit status, or ``TIMED_OUT`` once
    it has run ``timeout`` seconds (a parity worker takes seconds: one that hangs is not waited for)."""
    env, cwd = _in_tree(child_env({"PYTHONUNBUFFERED": "1"}, pythonpath=False), tree)
    return _logged(python, argv, log, cwd, env, timeout)


def _logged(python: str, argv: list[str], log: Path, cwd: Path, env: Mapping[str, str], timeout: float,
            stopped: str = "") -> int:
    """``python -m harness argv`` in its own process group, its command line and output appended to
    ``log``; its exit status, or ``TIMED_OUT`` (the group killed, ``stopped`` written) after ``timeout``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        out.write(f"$ {python} -m harness {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(harness_cmd(python, argv), cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            out.write(stopped)
            return TIMED_OUT
        except BaseException:
            _kill(proc)
            raise


def _in_tree(env: dict[str, str], tree: str | None) -> tuple[dict[str, str], Path]:
    """A child's variables and folder to run checkout ``tree``'s harness (``bench --against``: first on
    its path, so it wins over an editable install of this one, in that folder); this checkout's without."""
    if not tree:
        return env, ROOT
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
    return env, Path(tree)


def run_timed(python: str, argv: list[str], timeout: float, log: Path, env: Mapping[str, str]) -> int:
    """``python -m harness argv`` in its own process group, output to ``log``; its exit status, or
    ``TIMED_OUT`` once it has run ``timeout`` seconds (the whole group is killed)."""
    child = child_env({**env, "PYTHONUNBUFFERED": "1"})
    return _logged(python, argv, log, ROOT, child, max(timeout, 1.0),
                   f"\ndoctor: stopped after {timeout:.0f} s (its share of the time budget)\n")


# Run in the child before it becomes `python -m harness ...`: die with the parent (SIGKILL on the parent's
# death survives exec), and give up if the parent is already gone.
_DIE_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"  # PR_SET_PDEATHSIG
                    "if os.getppid() != int(sys.argv[1]):\n"
                    "    sys.exit(137)\n"
                    "os.execv(sys.argv[2], sys.argv[2:])\n")


def run_tied(python: str, argv: list[str], out: IO[str], env: Mapping[str, str]) -> int:
    """``python -m harness argv`` killed with this process (``PR_SET_PDEATHSIG`` on Linux), so a Ray
    worker that is lost takes its run along; output to ``out``; its exit status."""
    cmd = harness_cmd(python, argv)
    if sys.platform.startswith("linux"):
        cmd = [python, "-c", _DIE_WITH_PARENT, str(os.getpid()), *cmd]
    return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(env), cwd=ROOT).returncode


def start_piped(python: str, argv: list[str], env: Mapping[str, str], stderr: IO[str],
                cwd: Path = ROOT) -> Process:
    """``python -m harness argv`` talking JSON lines on stdin/stdout, in its own session (Ctrl-C reaches
    the parent alone, which then ends it)."""
    return subprocess.Popen(harness_cmd(python, argv), cwd=cwd, env=dict(env), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)


def end_piped(proc: Process, last_line: str, timeout: float = 20) -> None:
    """Send ``last_line`` (the worker's quit request) and wait; kill its group when it does not end."""
    if proc.poll() is None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(last_line + "\n")
            proc.stdin.close()
            proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            kill_group(proc.pid)
            proc.wait()


def kill_group(pid: int) -> None:
    """SIGKILL a child's whole process group (it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _kill(proc: Process) -> None:
    kill_group(proc.pid)
    proc.wait()


# -- A/B environments and trees (bench --variant, --against) -------------------------------------------
ENVS = ROOT / ".cache" / "envs"  # one virtual environment per requirement set, built once
TREES = ROOT / ".cache" / "trees"  # one git worktree per commit benched with --against
ENV_FILE = "rnnbench-env.json"  # in each built environment: its requirements and the versions resolved
_RESOLVED = ("import importlib.metadata as m, json, sys; print(json.dumps({'python': sys.version.split()[0], "
             "'packages': {d.metadata['Name']: d.version for d in m.distributions()}}))")


def _pip_error(done: subprocess.CompletedProcess) -> str:
    """pip's first error line, shortened (its 'from versions' list can run to hundreds of names)."""
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR:")  # not its note on versions for other Pythons
              and not ln.startswith("ERROR: Ignored the following")] or lines[-1:] or ["no output"]
    line = errors[0].removeprefix("ERROR: ")
    return line.split(" (from versions:")[0][:300]


def check_requirements(requirements: Sequence[str]) -> str | None:
    """Whether pip can resolve ``requirements`` together for this Python (a dry run: nothing is
    installed); None when it can, else pip's reason in one line."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                           "--quiet", "--disable-pip-version-check", *requirements],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else _pip_error(done)


def env_key(requirements: Sequence[str]) -> str:
    """The folder name of a requirement set's environment: the same set (in any order) is one folder."""
    import hashlib

    text = "\n".join(sorted(r.strip() for r in requirements)) + f"\npython {sys.version_info[:2]}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def requirement_env(requirements: Sequence[str], say: Any = None) -> tuple[str, dict[str, Any]]:
    """The interpreter of a virtual environment with exactly ``requirements`` installed (and what pip
    resolved: ``{"python", "packages"}``), built once under ``ENVS`` and reused. Built in a temporary
    folder and renamed into place only when complete: a failed build leaves nothing behind."""
    import shutil as _shutil

    folder = ENVS / env_key(requirements)
    python = folder / "bin" / "python"
    if (folder / ENV_FILE).exists() and python.exists():
        return str(python), json.loads((folder / ENV_FILE).read_text())["resolved"]
    if say:
        say(f"rnnbench: building an environment for {' '.join(requirements)} in {folder} (once)")
    tmp = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    _shutil.rmtree(tmp, ignore_errors=True)
    try:
        steps = ([sys.executable, "-m", "venv", str(tmp)],
                 [str(tmp / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", *requirements])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                raise UserError(f"could not build an environment for {' '.join(requirements)!r}: "
                                f"{_pip_error(done)}; check the requirements (pip must resolve them "
                                "together)")
        found = subprocess.run([str(tmp / "bin" / "python"), "-c", _RESOLVED], capture_output=True, text=True)
        resolved = json.loads(found.stdout) if found.returncode == 0 else {}
        (tmp / ENV_FILE).write_text(json.dumps({"requirements": list(requirements), "resolved": resolved},
                                               indent=1) + "\n")
        _shutil.rmtree(folder, ignore_errors=True)  # a stale folder without its ENV_FILE
        os.replace(tmp, folder)  # its interpreter finds its packages from pyvenv.cfg, wherever it is
    except BaseException:
        _shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(folder / "bin" / "python"), resolved


def git_commit(ref: str) -> str | None:
    """The full commit ``ref`` names in this repository, or None when it names none."""
    try:
        done = capture(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], 20, ROOT)
    except CAPTURE_ERRORS:
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def git_tree(commit: str) -> Path:
    """A detached git worktree of ``commit`` under ``TREES`` (made once, reused); a failed checkout
    leaves no worktree behind."""
    path = TREES / commit[:12]
    if (path / "harness").is_dir():
        return path
    TREES.mkdir(parents=True, exist_ok=True)
    done = capture(["git", "worktree", "add", "--detach", "--force", str(path), commit], 300, ROOT)
    if done.returncode != 0:
        capture(["git", "worktree", "remove", "--force", str(path)], 60, ROOT)
        capture(["git", "worktree", "prune"], 60, ROOT)
        why = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
        raise UserError(f"--against: could not check out {commit[:12]} into {path} ({why}); check "
                        "`git worktree list`")
    return path


# -- hidden worker commands: each parser beside the argv that runs it ----------------------------------
def add_parity_worker(sub: Any) -> None:
    worker = sub.add_parser("parity-worker", help=argparse.SUPPRESS)
    for name in ("--task", "--scale", "--cell", "--backend", "--weights", "--batch", "--result", "--optim"):
        worker.add_argument(name, required=True)
    worker.add_argument("--steps", type=int, required=True)
    worker.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu")


def parity_worker_argv(task: str, scale: str, cell: str, backend: str, steps: int,
                       optim: dict[str, Any] | None, folder: Path, result: Path,
                       device: str | None = None) -> list[str]:
    """One backend's parity results from the shared ``folder`` (weights.npz, batch.npz) into ``result``."""
    argv = ["parity-worker", "--task", task, "--scale", scale, "--cell", cell, "--backend", backend,
            "--steps", str(steps), "--optim", json.dumps(optim or {})]
    if device is not None:
        argv += ["--device", device]
    return argv + ["--weights", str(folder / "weights.npz"), "--batch", str(folder / "batch.npz"),
                   "--result", str(result)]


def add_bench_worker(sub: Any) -> None:
    bench_worker = sub.add_parser("bench-worker", help=argparse.SUPPRESS)
    bench_worker.add_argument("--backend", required=True)
    bench_worker.add_argument("--device", default="auto")
    bench_worker.add_argument("--precision", default="fp32")
    bench_worker.add_argument("--threads", type=int, required=True)
    bench_worker.add_argument("--no-flush-to-zero", dest="flush_to_zero", action="store_false")


def bench_worker_argv(backend: str, device: str, precision: str, n_threads: int, flush_to_zero: bool
                      ) -> list[str]:
    """A bench worker serving measure requests on stdin (see harness/bench/worker.py)."""
    argv = ["bench-worker", "--backend", backend, "--device", device, "--precision", precision,
            "--threads", str(n_threads)]
    return argv if flush_to_zero else [*argv, "--no-flush-to-zero"]


def start_bench_worker(python: str, argv: list[str], n_threads: int, layout_env: Mapping[str, str],
                       layout_var: str, stderr: IO[str], tree: str | None = None) -> Process:
    """A bench worker with ``n_threads`` threads and the process layout ``layout_env`` (empty: the
    interpreter's own; ``layout_var`` is never inherited from this process). ``tree``: another checkout
    whose harness the worker runs (``bench --against``: first on its path, so it wins over an editable
    install of this one), in that folder."""
    env = child_env({**thread_env(n_threads), "PYTHONUNBUFFERED": "1"}, pythonpath=False, drop=(layout_var,))
    env.update(layout_env)
    env, cwd = _in_tree(env, tree)
    return start_piped(python, argv, env, stderr, cwd=cwd)


def add_doctor_probe(sub: Any) -> None:
    probe = sub.add_parser("doctor-probe", help=argparse.SUPPRESS)
    for name in ("--backend", "--device", "--result"):
        probe.add_argument(name, required=True)
    probe.add_argument("--precisions", default="fp32,bf16,fp16")


def doctor_probe_argv(backend: str, device: str, result: Path, precisions: Sequence[str]) -> list[str]:
    """A backend's probe: versions, device, the precisions it offers, into ``result``."""
    return ["doctor-probe", "--backend", backend, "--device", device, "--result", str(result),
            "--precisions", ",".join(precisions)]


def add_doctor_worker(sub: Any) -> None:
    dw = sub.add_parser("doctor-worker", help=argparse.SUPPRESS)
    for name in ("--backend", "--device", "--precision", "--tasks", "--out", "--result"):
        dw.add_argument(name, required=True)
    dw.add_argument("--epochs", type=int, required=True)
    dw.add_argument("--deadline", type=float, required=True, help="a time.time() after which no task starts")
    dw.add_argument("--threads", type=int)
    dw.add_argument("--data-dir")
    dw.add_argument("--cache-dir")


def doctor_worker_argv(backend: str, device: str, precision: str, task_names: Sequence[str], epochs: int,
                       out: Path, result: Path, deadline: float, n_threads: int, data_dir: str | None,
                       cache_dir: str | None) -> list[str]:
    """A backend's smoke runs of ``task_names`` at ``precision``, none started after ``deadline``."""
    argv = ["doctor-worker", "--backend", backend, "--device", device, "--precision", precision,
            "--tasks", ",".join(task_names), "--epochs", str(epochs), "--out", str(out), "--result",
            str(result), "--deadline", f"{deadline:.3f}", "--threads", str(n_threads)]
    for flag, value in (("--data-dir", data_dir), ("--cache-dir", cache_dir)):
        if value:
            argv += [flag, str(Path(value).resolve())]
    return argv
