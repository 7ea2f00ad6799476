"""Smoke training on the real IMDB data, for every backend importable here, and CLI data errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import backends
from harness import records
from harness.run import runner
from tests.conftest import ROOT

IMPORTABLE = [name for name, info in backends.registry().items() if backends.importable(info)]
# keras-torch (Keras' per-step ops on PyTorch) trains these 5-20x slower than the others: its training runs
# are the full suite's, but five-words (150 steps) and its conformance and parity tests run in every suite
TRAINED = [pytest.param(name, marks=pytest.mark.full) if name == "keras-torch" else name
           for name in IMPORTABLE]

pytestmark = pytest.mark.skipif(not IMPORTABLE, reason="no backend framework installed here")


@pytest.mark.data
@pytest.mark.parametrize("backend", TRAINED)
def test_imdb_smoke_learns(backend, mirror, cache, tmp_path):
    record, path = runner.run(runner.RunOptions(
        task="imdb", backend=backend, scale="smoke", device="cpu", data_dir=str(mirror),
        cache_dir=str(cache), out=str(tmp_path), progress=False))
    saved = records.load(path)
    assert saved["status"] == "ok"
    curves = saved["curves"]
    assert len(curves) == 3 and curves[-1]["train_loss"] < curves[0]["train_loss"] - 0.1
    assert max(c["val_accuracy"] for c in curves) > 0.68  # chance is 0.5
    assert saved["metrics"]["test_accuracy"] > 0.65
    assert saved["throughput"]["train_samples_per_s"] > 0 and saved["timings"]["first_step_s"] > 0
    env = saved["environment"]
    assert env["backend"]["framework"] and env["machine"] and env["python"]
    if sys.platform == "linux":
        assert env["flush_to_zero"] is True


def _cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_missing_data_is_one_line(tmp_path):
    result = _cli("run", "--task", "imdb", "--backend", IMPORTABLE[0], "--scale", "smoke",
                  "--data-dir", str(tmp_path), "--out", str(tmp_path / "runs"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "IMDB data not found in" in lines[0] and "imdb/train.jsonl.gz" in lines[0]


@pytest.mark.data
def test_cli_run_prints_summary_and_writes_record(mirror, cache, tmp_path):
    result = _cli("run", "--task", "imdb", "--backend", IMPORTABLE[0], "--scale", "smoke", "--epochs", "1",
                  "--device", "cpu", "--data-dir", str(mirror), "--cache-dir", str(cache),
                  "--out", "runs", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test accuracy (best val, epoch 1)" in result.stdout
    (path,) = (tmp_path / "runs").glob("imdb-smoke-*.json")
    assert json.loads(path.read_text())["curves"][0]["epoch"] == 1
