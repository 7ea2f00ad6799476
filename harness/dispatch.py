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

from harness.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
CORE_MODULES = ("numpy", "pandas", "tabulate", "tqdm", "matplotlib")
IN_TOX = "RNNBENCH_IN_TOX"


def missing(modules: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` this interpreter cannot import."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _tox() -> list[str]:
    if shutil.which("tox"):
        return ["tox"]
    if importlib.util.find_spec("tox") is not None:
        return [sys.executable, "-m", "tox"]
    raise UserError("tox is not installed, and it is needed to build the backend's environment: "
                    "run `python -m pip install tox`, or install the backend into this Python")


def run_in_tox(env: str, argv: list[str], lacking: list[str]) -> int:
    """Re-run ``python -m harness argv`` in tox environment ``env``; its exit status."""
    if os.environ.get(IN_TOX):
        raise UserError(f"{', '.join(lacking)} cannot be imported even inside tox environment '{env}'; "
                        f"rebuild it with `tox run -e {env} --recreate --notest`")
    tox = [*_tox(), "-c", str(ROOT / "tox.ini")]
    print(f"rnnbench: {', '.join(lacking)} not importable in {sys.executable}; running in tox environment "
          f"'{env}' (built on first use, which can take minutes)", file=sys.stderr, flush=True)
    built = subprocess.run([*tox, "run", "-e", env, "--notest", "-q"], cwd=ROOT)
    if built.returncode != 0:
        raise UserError(f"could not build tox environment '{env}' (tox exited {built.returncode}, output "
                        "above); check access to the package index, or install the backend into this Python")
    child_env = {**os.environ, IN_TOX: "1", "RNNBENCH_CWD": os.getcwd()}
    cmd = [*tox, "exec", "-e", env, "-qq", "--", "python", "-m", "harness", *argv]
    return subprocess.call(cmd, cwd=ROOT, env=child_env)
