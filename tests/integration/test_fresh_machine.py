"""The README's main command on a new user's machine: the checkout with ``shared/data`` beside it, no
``RNNBENCH_DATA_DIR``, an empty cache, no network (tests/offline/sitecustomize.py), typed in a shell with
the system Python. It must find the mirror by itself; without the mirror it must end in the one-line
error that names both ways out.

Runs in the ``torch`` tox environment only, once (it needs that environment built)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tasks import data
from tests.conftest import ROOT
from tests.integration.test_bad_inputs import ENV_NAME, PREFIX, system_python

pytestmark = pytest.mark.skipif(ENV_NAME not in (None, "torch"),
                                reason="the fresh-machine check runs once, in the torch environment")
OFFLINE_SITE = ROOT / "tests" / "offline"


def offline(*args: str, cache: Path, data_dir: str | None = None) -> subprocess.CompletedProcess:
    """``python -m harness ARGS`` as typed on a machine without network, with an empty cache and no
    ``RNNBENCH_DATA_DIR`` (or the given one)."""
    venv = os.environ.get("VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TOX_", "VIRTUAL_ENV", "PYTHON", "RNNBENCH_", "PYTEST"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not (venv and p.startswith(venv)))
    env.update(PYTHONPATH=str(OFFLINE_SITE), RNNBENCH_TEST_OFFLINE="1", RNNBENCH_CACHE_DIR=str(cache))
    if data_dir is not None:
        env["RNNBENCH_DATA_DIR"] = data_dir
    return subprocess.run([system_python(), "-m", "harness", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def test_the_main_command_finds_the_mirror_beside_the_checkout(tmp_path: Path) -> None:
    if not (data.DEFAULT_MIRROR / "imdb").is_dir():
        pytest.skip(f"no mirror beside the checkout ({data.DEFAULT_MIRROR})")
    out = tmp_path / "runs"
    result = offline("run", "--task", "imdb", "--backend", "torch", "--scale", "smoke", "--no-progress",
                     "--out", str(out), cache=tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "downloading" not in result.stdout + result.stderr
    record = json.loads(next(out.glob("*.json")).read_text())
    assert record["config"]["data"]["source"] == "mirror"
    assert 0.0 <= record["metrics"]["test_accuracy"] <= 1.0
    assert not (tmp_path / "cache" / "downloads").exists()  # tokenised arrays only: nothing was fetched
    assert list((tmp_path / "cache" / "imdb").glob("*.npz"))


def test_no_mirror_and_no_network_is_the_one_line_error(tmp_path: Path) -> None:
    result = offline("run", "--task", "imdb", "--backend", "torch", "--scale", "smoke", "--no-progress",
                     "--out", str(tmp_path / "runs"), cache=tmp_path / "cache", data_dir="")
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert lines[-1].startswith(f"{PREFIX}could not download https://ai.stanford.edu/"), lines[-1]
    assert "point --data-dir or RNNBENCH_DATA_DIR at a local mirror instead" in lines[-1]
    assert "Traceback" not in result.stderr + result.stdout
    assert not list((tmp_path / "cache").rglob("*.part"))  # no half-downloaded file left behind
