"""``python -m harness doctor --device cpu`` end to end, as CI runs the GPU check: real processes for
the probe, the parity workers, the smoke worker and the bench workers, in this environment's Python.

One backend per environment (torch in the torch one, jax in the jax one), sized small (``CASES``): one
smoke task, the bench at the smoke scale, two timed steps. The budget is far above what the check takes,
so nothing is skipped; what is checked is that every record is written, parses, and says what ran. No
speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import backends
from harness import records

ROOT = Path(__file__).resolve().parents[2]
# (precisions, parity cells, bench tasks): torch goes through every step in fp32 and bf16 (and is told
# fp16 needs a GPU); jax, whose compilations make each step slower on a CPU, checks the fp32 path of its
# one cuDNN cell, to keep CI short
CASES = {"torch": (("fp32", "bf16", "fp16"), ("rnn", "gru", "lstm"), ("imdb", "ptb")),
         "jax": (("fp32",), ("lstm",), ("imdb",))}


def _runs_here(backend: str, precision: str) -> bool:
    """Whether this CPU has the backend's kernels for ``precision``: oneDNN's bf16 LSTM needs AVX-512, so
    on an AVX2-only CPU the torch adapter refuses bf16 at build, and the doctor says so and skips it."""
    if precision == "fp32":
        return True
    from backends.base import BackendError
    from tests.conformance.test_adapters import RECIPE, spec_for

    try:
        adapter = backends.create(backends.get(backend), device="cpu", precision=precision)
        adapter.build(spec_for("lstm"), RECIPE, 0)
    except BackendError:
        return False
    return True


@pytest.mark.parametrize("backend", [
    pytest.param(name, marks=pytest.mark.skipif(not backends.importable(backends.get(name)),
                                                 reason=f"{name} not installed here"))
    for name in CASES])
def test_doctor_runs_end_to_end_on_a_cpu(backend, tmp_path, cache):
    precisions, cells, bench_tasks = CASES[backend]
    out = tmp_path / "doctor"
    cmd = [sys.executable, "-m", "harness", "doctor", "--device", "cpu", "--no-tox", "--backends", backend,
           "--tasks", "five-words", "--precisions", ",".join(precisions), "--parity-cells", ",".join(cells),
           "--parity-steps", "3", "--bench-tasks", ",".join(bench_tasks), "--bench-scale", "smoke",
           "--bench-steps", "2", "--bench-repeats", "1", "--budget-s", "1500", "--cache-dir", str(cache),
           "--out", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "doctor (cpu): " in result.stdout and "│ parity lstm" in result.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "rnnbench.doctor/1" and summary["status"] == "ok" and summary["finished"]
    steps = {(r["step"], r["backend"]): r for r in summary["steps"]}
    ran = [p for p in precisions if p != "fp16" and _runs_here(backend, p)]
    # a precision this CPU has no kernels for is skipped, saying so; nothing else is, and nothing fails
    assert all(r["precision"] not in ran for r in summary["skipped"]), summary["skipped"]
    assert not any(r["status"] == "failed" for r in summary["steps"])
    assert steps[("environment", backend)]["status"] == "available"
    assert (out / "summary.txt").read_text().strip().splitlines()[-1].startswith("doctor (cpu): ")

    probe = json.loads((out / "environment.json").read_text())["backends"][backend]
    assert probe["describe"]["device"].startswith("cpu") and probe["describe"]["versions"]
    assert all(probe["precisions"][p] == "ok" for p in ran) and probe["packages"] and probe["build"]
    for p in set(precisions) - set(ran) - {"fp16"}:
        assert probe["precisions"][p].startswith("refused: --precision"), probe["precisions"][p]
    if "fp16" in precisions:  # offered on a GPU only: said so, and no failure
        assert probe["precisions"]["fp16"].startswith("refused: --precision fp16 needs a GPU")
        assert steps[("smoke fp16", backend)]["status"] == "not available"

    for cell in cells:
        rec = json.loads((out / "parity" / f"imdb-{cell}.json").read_text())
        mine = rec["backends"][backend]
        assert rec["ok"] is True and mine["status"] == "ok", rec["table"]
        assert mine["forward_vs_reference"] <= 1e-5 and mine["first_loss_vs_reference"] <= 1e-5
        assert mine["kernel_path"] in ("fused", "scan") and mine["ran_on"].startswith("cpu")

    for p in ran:
        smoke = json.loads((out / "smoke" / f"{backend}-{p}.json").read_text())
        (entry,) = smoke["tasks"]
        assert entry["task"] == "five-words" and entry["status"] == "ok", entry
        assert entry["kernel_ok"] is True and entry["peak_device_bytes"] is None
        run = records.load(entry["record"])
        assert run["status"] == "ok" and run["config"]["options"]["precision"] == p
        assert run["environment"]["backend"]["precision"] == p and run["metrics"]["test_loss"] > 0

        (folder,) = (out / "bench" / p).glob("bench-*")
        assert json.loads((folder / "bench.json").read_text())["status"] == "finished"
        for task in bench_tasks:
            rec = json.loads((folder / f"{task}-smoke--{backend}.json").read_text())
            assert rec["status"] == "ok" and rec["protocol"]["precision"] == p and len(rec["repeats"]) == 1
            assert rec["memory"]["peak_device_bytes"] is None and rec["memory"]["peak_host_bytes"] > 0
            assert rec["train"]["samples_per_s"]["median"] > 0
        assert steps[(f"bench {p}", backend)]["status"] == "ok"
