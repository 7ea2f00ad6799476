"""Bad inputs as a new user types them: the README's commands, run by the system Python (no framework, no
NumPy), which re-runs them in the backends' tox environments. Each ends in exit status 2 with the
harness' one-line error as the last line and no traceback, or does the right thing (a damaged cache is
rebuilt, a broken record is named, two runs of the same second both keep their records).

Runs in the ``torch`` tox environment only (it needs the torch and report environments built), once."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, data_dir

ENV_NAME = os.environ.get("TOX_ENV_NAME")
pytestmark = pytest.mark.skipif(ENV_NAME not in (None, "torch") or shutil.which("git") is None,
                                reason="the CLI-as-typed checks run once, in the torch environment")
PREFIX = "python -m harness: error: "


def system_python() -> str:
    """The interpreter this test environment was made from: the user's Python, without its packages."""
    return getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable


def typed(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m harness ARGS`` as typed in a shell: the system Python, no virtual environment on the
    PATH, no test-environment variables."""
    venv = os.environ.get("VIRTUAL_ENV")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not (venv and p.startswith(venv)))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TOX_", "VIRTUAL_ENV", "PYTHON", "RNNBENCH_IN_TOX", "PYTEST"))}
    env["PATH"] = path
    if data_dir() is not None:  # as the README's commands do: RNNBENCH_DATA_DIR=../shared/data
        env["RNNBENCH_DATA_DIR"] = str(data_dir())
    return subprocess.run([system_python(), "-m", "harness", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, message: str) -> None:
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert result.returncode == 2, result.stderr[-2000:]
    assert lines and lines[-1].startswith(PREFIX), result.stderr[-2000:]
    assert message in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture(scope="module")
def mirror_dir() -> Path:
    path = data_dir()
    if path is None or not (path / "imdb").is_dir():
        pytest.skip("needs the dataset mirror (RNNBENCH_DATA_DIR or ../shared/data)")
    return path


def test_the_system_python_has_no_framework():
    probe = subprocess.run([system_python(), "-c", "import torch"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("the system Python has torch: nothing would be re-run in tox environments")


@pytest.mark.parametrize("args,message", [
    (["run", "--task", "nope", "--backend", "torch"], "unknown task 'nope'; choose one of: arithmetic"),
    (["run", "--task", "imdb", "--backend", "tensorflow"], "unknown backend 'tensorflow'; choose one of"),
    (["run", "--task", "imdb", "--backend", "torch", "--bogus"], "unrecognized arguments: --bogus"),
    (["run", "--task", "imdb", "--backend", "torch", "--out", "/proc/x"],
     "--out /proc/x: cannot write there"),
    (["run", "--task", "imdb", "--backend", "torch", "--set", "model.hiden_size=64"],
     "unknown key 'model.hiden_size'; model fields: cell, vocab_size"),
    (["run", "--config", "/nonexistent/exp.toml"], "--config /nonexistent/exp.toml: no such file"),
    (["matrix", "--tasks", "imdb", "--backends", "torch", "--out", "/proc/x"], "--out /proc/x: cannot write"),
    (["parity", "--task", "imdb", "--backends", "torch,nope"], "unknown backend(s) nope; choose from: "),
])
def test_errors_found_before_any_environment(args, message):
    assert_one_line_error(typed(*args, timeout=120), message)


@pytest.mark.parametrize("args,message", [
    (["--scale", "huge"], "task 'imdb' has no scale 'huge'; choose one of: smoke, full, seed"),
    (["--set", "model.hidden_size=0"], "model.hidden_size=0: give a positive number"),
    (["--set", "data.vocab=5"], "unknown key 'data.vocab'; imdb data options: num_words, maxlen"),
    (["--device", "gpu"], "--device gpu: torch sees no CUDA GPU"),
    (["--data-dir", "/nonexistent/mirror"], "/nonexistent/mirror"),
    (["--set", "model.scan=parallel"],
     "model.scan=parallel: cell lstm is not a scan cell, so nothing reads it"),
])
def test_errors_inside_the_backends_environment_stay_last(args, message):
    """Found in the torch environment the command re-ran itself in: its line is still the last one."""
    result = typed("run", "--task", "imdb", "--backend", "torch", "--scale", "smoke", "--no-progress", *args)
    assert_one_line_error(result, message)


def test_corrupt_data_is_named(tmp_path, mirror_dir):
    bad = tmp_path / "mirror" / "imdb"
    bad.mkdir(parents=True)
    for name in ("train.jsonl.gz", "test.jsonl.gz"):
        (bad / name).write_bytes(gzip.compress(b'{"text": "tampered", "label": 1}\n'))
    result = typed("run", "--task", "imdb", "--backend", "torch", "--scale", "smoke", "--no-progress",
                   "--data-dir", str(tmp_path / "mirror"), "--cache-dir", str(tmp_path / "cache"))
    assert_one_line_error(result, "sha256")


def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path, mirror_dir):
    from harness.common import overrides
    from tasks import imdb

    settings = ["data.train_limit=400", "data.test_limit=200", "data.maxlen=50"]
    task = imdb.TASK
    scale = overrides.apply(task.scale("smoke"), overrides.parse_settings(settings, task), task)
    cache = tmp_path / "cache"
    path, _, _ = imdb.cache_entry(scale, mirror_dir, cache)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 half a zip file")
    result = typed("run", "--task", "imdb", "--backend", "torch", "--scale", "smoke", "--epochs", "1",
                   "--no-progress", "--data-dir", str(mirror_dir), "--cache-dir", str(cache),
                   "--out", str(tmp_path / "runs"), *[a for s in settings for a in ("--set", s)])
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"the cached arrays {path} are damaged" in result.stderr and "rebuilding them" in result.stderr
    record = json.loads(next((tmp_path / "runs").glob("imdb-smoke-*.json")).read_text())
    assert record["status"] == "ok" and record["config"]["splits"]["test"] == 200
    with __import__("numpy").load(path) as arrays:  # rebuilt: a valid archive again
        assert arrays["x_train"].shape[1] == 50


def test_report_names_a_record_that_is_not_valid_json(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "imdb-smoke-torch-cpu-s0-20260101T000000.json").write_text('{"schema": "rnnbench.run/1",')
    result = typed("report", "--runs", str(runs), "--out", str(tmp_path / "report"), "--bench",
                   str(tmp_path / "no-bench"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"skipped {runs / 'imdb-smoke-torch-cpu-s0-20260101T000000.json'}: not a readable JSON file" \
        in result.stderr


def test_the_readme_parity_command_works_from_the_system_python():
    result = typed("parity", "--task", "imdb", "--backends", "torch", "--cells", "rnn", "--steps", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "imdb/smoke cell=rnn" in result.stdout and "reference" in result.stdout


def test_two_runs_of_the_same_second_keep_both_records(tmp_path, mirror_dir):
    args = ("run", "--task", "five-words", "--backend", "torch", "--scale", "smoke", "--epochs", "1",
            "--no-progress", "--out", str(tmp_path / "runs"))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: typed(*args), range(2)))
    assert [r.returncode for r in results] == [0, 0], results[0].stderr[-2000:]
    found = sorted(p.name for p in (tmp_path / "runs").glob("five-words-*.json"))
    assert len(found) == 2, found
    assert not list((tmp_path / "runs").glob(".*.claim"))
