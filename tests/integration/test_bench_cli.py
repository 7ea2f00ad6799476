"""The bench end to end, as a user types it: the driver starts real worker processes (a fresh one per
repeat) of every backend importable here, and every record parses and says what ran. No speed is
asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import backends

ROOT = Path(__file__).resolve().parents[2]
IMPORTABLE = [name for name, info in backends.registry().items() if backends.importable(info)]

pytestmark = pytest.mark.skipif(not IMPORTABLE, reason="no backend framework installed here")


@pytest.mark.parametrize("chosen", [
    pytest.param(IMPORTABLE[:1], id="first"),
    pytest.param(IMPORTABLE, id="all", marks=pytest.mark.full)])  # interleaved workers of every backend here
def test_bench_runs_real_workers_and_writes_records(chosen, tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "-m", "harness", "bench", "--tasks", "imdb", "--scale", "smoke",
           "--backends", ",".join(chosen), "--repeats", "2", "--steps", "2", "--warmup", "1",
           "--sweep", "cell=gru,lstm", "--out", str(out), "--no-progress"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    folder = next(out.glob("bench-*"))
    assert json.loads((folder / "bench.json").read_text())["status"] == "finished"
    for cell in ("gru", "lstm"):
        for backend in chosen:
            rec = json.loads((folder / f"imdb-smoke+cell={cell}--{backend}.json").read_text())
            assert rec["status"] == "ok", rec["error"]
            assert rec["point"]["cell"] == cell and rec["point"]["seq_len"] == 100
            assert len(rec["repeats"]) == 2 and rec["train"]["samples_per_s"]["median"] > 0
            # each repeat in a fresh worker process, its layout padding drawn anew and recorded
            assert len({r["pid"] for r in rec["repeats"]}) == 2 and rec["protocol"]["fresh_worker_per_repeat"]
            assert all(isinstance(r["layout_pad"], int) and r["first_step_s"] > 0 for r in rec["repeats"])
            assert rec["inference"]["samples_per_s"]["n"] == 2 and rec["first_step_s"] > 0
            env = rec["environment"]
            assert env["backend"]["kernel_path"] in ("fused", "scan", "loop", "cudnn")
            assert env["threads"]["OMP_NUM_THREADS"] == str(rec["protocol"]["threads"])
            assert env["flush_to_zero"] is True and env["backend"]["optimizer"]
    assert "imdb-smoke+cell=gru" in result.stdout and "train samples/s median [min-max]" in result.stdout


def test_unknown_sweep_field_is_one_line_error():
    cmd = [sys.executable, "-m", "harness", "bench", "--sweep", "hidden=1,2", "--backends", IMPORTABLE[0]]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m harness: error: unknown field 'hidden'; choose one of:")
    assert "hidden_size" in last and "Traceback" not in result.stderr
