"""A reference row end to end, as a user types it: ``harness bench`` runs an adapter and its framework's
hand-written loop (benchmarks/reference/) side by side in real worker processes, at a tiny size of the
IMDB model. No speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import backends
from harness.bench import reference as bench_reference

ROOT = Path(__file__).resolve().parents[2]
IMPORTABLE = [name for name, info in backends.registry().items()
              if backends.importable(info) and bench_reference.names([name])]

pytestmark = pytest.mark.skipif(not IMPORTABLE, reason="no backend framework with a reference loop here")


def test_bench_runs_an_adapter_and_its_reference_row(tmp_path):
    backend, out = IMPORTABLE[0], tmp_path / "bench"
    cmd = [sys.executable, "-m", "harness", "bench", "--tasks", "imdb", "--backends", backend, "--references",
           "--set", "hidden_size=8", "--set", "seq_len=20", "--repeats", "2", "--steps", "2", "--warmup", "1",
           "--threads", "1", "--out", str(out), "--no-progress"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = next(out.glob("bench-*"))
    point = "imdb-full+hidden_size=8+seq_len=20"
    adapter = json.loads((folder / f"{point}--{backend}.json").read_text())
    ref = json.loads((folder / f"{point}--{backend}-reference.json").read_text())
    assert adapter["status"] == ref["status"] == "ok", ref["error"]
    assert adapter["reference"] is False and ref["reference"] is True
    assert ref["protocol"]["interleaved"] == [backend, f"{backend}-reference"]
    described = ref["environment"]["backend"]
    assert described["reference"] is True and described["loop"].startswith("benchmarks/reference/")
    assert described["base_backend"] == backend and described["versions"]
    assert ref["environment"]["threads"]["OMP_NUM_THREADS"] == "1" and ref["train"]["samples_per_s"]["median"]
    assert f"{backend}-reference" in result.stdout and "train samples/s median [min-max]" in result.stdout
