"""Running a harness command inside a backend's tox environment when this Python lacks the framework.

Backends cannot share one environment (MXNet needs NumPy < 1.24, TensorFlow and JAX NumPy 2), so each has
its own tox environment. When the framework (or the harness' own dependencies) cannot be imported here,
the same command line is re-run inside that environment, which tox builds on first use.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.errors import UserError

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


def _build(tox: list[str], env: str, quiet: bool = False) -> None:
    """Build (or check) tox environment ``env``; ``quiet`` keeps tox's output off the screen unless it
    fails."""
    cmd = [*tox, "run", "-e", env, "--notest", "-q"]
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
