"""The doctor with fake backends, in process: its records, the kernel-path and peak-memory checks, the
budget (a scripted clock), backends that are not available, and ``--device gpu`` without a GPU. Its
workers (probe, parity, smoke) run through the real command line (``cli.main``) in this process; the
bench runs its in-process worker. No test asserts a speed."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import time

import numpy as np
import pytest

import backends
import tasks
from backends import reference
from backends.base import Adapter, BackendError, BackendInfo
from harness import cli, launcher, records
from harness.bench.worker import InProcessWorker, Measurer
from harness.common import ftz, metrics
from harness.doctor import driver as doctor
from harness.doctor import worker as doctor_worker
from harness.errors import UserError
from tests.fakes import synthetic_task


class ReferenceAdapter(Adapter):
    """Computes the NumPy reference's function (so parity passes) and never updates its weights; on a
    "GPU" it says cuda:0 and cuDNN wherever the model admits a fused kernel, and reports device memory.
    Class attributes script the failures: an output offset, a refused precision, the kernel path and
    peak memory a GPU run reports."""

    framework = "reference"
    offset = 0.0
    refuse: tuple[str, ...] = ("fp16",)  # on a CPU, as the real adapters
    gpu = False  # whether this fake "sees" a GPU
    gpu_kernel: str | None = None  # None: cudnn where fused, else the per-step loop
    gpu_peak: int | None = 64 * 2**20

    def __init__(self, device: str = "auto", precision: str = "fp32", **options) -> None:
        super().__init__(device, precision, **options)
        if device == "gpu" and not self.gpu:
            raise BackendError("--device gpu: the fake sees no GPU; use --device cpu")
        self.on_gpu = self.gpu and device != "cpu"
        if precision in self.refuse and not self.on_gpu:
            raise BackendError(f"--precision {precision} needs a GPU; use bf16 or fp32 on a CPU")

    def build(self, spec, recipe, seed):
        self.spec, self.weights = spec, None

    def set_weights(self, weights):
        self.weights = {k: np.asarray(v) for k, v in weights.items()}

    def get_weights(self):
        return dict(self.weights)

    def _out(self, x):
        return reference.forward(self.spec, self.weights, x).astype(np.float32) + self.offset

    def train_step(self, x, y):
        return metrics.LOSSES[self.spec.loss](self._out(x), y)

    def losses(self, handles):
        return np.asarray(handles, dtype=np.float32)

    def predict(self, x):
        return self._out(x)

    def set_lr(self, lr):
        pass

    def synchronize(self):
        pass

    def describe(self):
        if self.on_gpu:
            kernel = self.gpu_kernel or ("cudnn" if self.spec.fused_ok else "loop")
            device, name = "cuda:0", "Fake GPU"
        else:
            kernel, device, name = "fused", "cpu", "cpu"
        return {"framework": "reference", "versions": {"reference": "1"}, "device": device,
                "device_name": name, "kernel_path": kernel, "precision": self.precision, "threads": 1}

    def peak_device_memory(self):
        return self.gpu_peak if self.on_gpu else None


PEAK = ReferenceAdapter.gpu_peak


class OffAdapter(ReferenceAdapter):
    offset = 1e-3  # a layout bug's worth of difference: parity must catch it


FAKES = {
    "good": BackendInfo("good", "unused:Unused", (), "core", "reference double"),
    "off": BackendInfo("off", "unused:Unused", (), "core", "reference double, off by 1e-3"),
    "absent": BackendInfo("absent", "unused:Unused", ("no_such_framework_xyz",), "core", "not installed"),
}


@pytest.fixture
def fakes(monkeypatch):
    """The fake backends and the synthetic task (under every task name) as the only ones; the doctor's
    processes run in this one, through the command line."""
    task = synthetic_task(epochs=1)
    task = dataclasses.replace(task, scales={"smoke": task.scales["smoke"], "full": task.scales["smoke"]})
    monkeypatch.setattr(tasks, "get", lambda name: task)
    monkeypatch.setattr(tasks, "all_names", lambda: ["synthetic"])
    monkeypatch.setattr(backends, "registry", lambda: dict(FAKES))
    monkeypatch.setattr(backends, "names", lambda: list(FAKES))
    monkeypatch.setattr(backends, "get", lambda name: FAKES[name])

    def create(info, device="auto", precision="fp32"):
        return (OffAdapter if info.name == "off" else ReferenceAdapter)(device, precision)

    monkeypatch.setattr(backends, "create", create)
    monkeypatch.setattr(doctor, "nvidia_smi", lambda: {"found": False, "error": "nvidia-smi not found"})
    flushing = ftz.enabled()
    yield ReferenceAdapter
    ReferenceAdapter.refuse, ReferenceAdapter.gpu = ("fp16",), False
    ReferenceAdapter.gpu_kernel, ReferenceAdapter.gpu_peak = None, PEAK
    ftz.set_flush_to_zero(bool(flushing))


def in_process(calls: list | None = None, advance: dict | None = None, clock=None):
    """A launcher that runs ``python -m harness argv`` as ``cli.main(argv)`` here, keeping this process'
    environment (workers set thread variables); ``advance`` moves a scripted ``clock`` per command."""

    def launch(python, argv, timeout, log, env):
        if calls is not None:
            calls.append((argv[0], timeout, dict(env)))
        if advance and clock is not None:
            clock.now += advance.get(argv[0], 0.0)
        saved = dict(os.environ)
        try:
            return cli.main(argv)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    return launch


def bench_worker(backend, opts, folder):
    return InProcessWorker(Measurer(backend, opts["device"], opts["precision"], 1,
                                    factory=lambda: backends.create(backends.get(backend), opts["device"],
                                                                    opts["precision"])))


def options(tmp_path, **kw) -> doctor.Options:
    base = dict(device="cpu", out=tmp_path / "doctor", backends=["good"], budget_s=600.0,
                precisions=("fp32", "bf16"), parity_task="synthetic", parity_steps=2,
                bench_tasks=("synthetic",), bench_scale="smoke", bench_steps=2, bench_warmup=1,
                bench_repeats=1)
    base.update(kw)
    return doctor.Options(**base)


def run(tmp_path, calls=None, **kw):
    d = doctor.Doctor(options(tmp_path, **kw), launch=in_process(calls), bench_worker=bench_worker,
                      say=lambda text: None)
    return d, d.run()


def by_step(summary):
    return {(r["step"], r["backend"]): r for r in summary["steps"]}


# -- the kernel-path check -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend,described,cell,fused,precision,device,ok", [
    ("torch", {"device": "cuda:0", "kernel_path": "cudnn"}, "rnn", True, "fp32", "gpu", True),
    ("torch", {"device": "cuda:0", "kernel_path": "fused"}, "lstm", True, "bf16", "gpu", False),
    ("torch", {"device": "cpu", "kernel_path": "fused"}, "lstm", True, "fp32", "gpu", False),
    ("torch", {"device": "cuda:0", "kernel_path": "loop"}, "spiking-lstm", False, "fp32", "gpu", True),
    ("torch", {"device": "cuda:0", "kernel_path": "cudnn"}, "lstm", False, "fp32", "gpu", False),
    ("jax", {"device": "gpu:0", "kernel_path": "cudnn"}, "lstm", True, "fp32", "gpu", True),
    ("jax", {"device": "gpu:0", "kernel_path": "scan"}, "lstm", True, "bf16", "gpu", True),
    ("jax", {"device": "gpu:0", "kernel_path": "cudnn"}, "lstm", True, "bf16", "gpu", False),
    ("jax", {"device": "gpu:0", "kernel_path": "scan"}, "gru", True, "fp32", "gpu", True),
    ("keras-jax", {"device": "gpu:0", "kernel_path": "scan"}, "gru", True, "fp32", "gpu", True),
    ("keras-torch", {"device": "gpu:0", "kernel_path": "cudnn"}, "gru", True, "fp32", "gpu", True),
    ("keras-torch", {"device": "gpu:0", "kernel_path": "scan"}, "rnn", True, "fp32", "gpu", True),
    ("torch", {"device": "cpu", "kernel_path": "fused"}, "lstm", True, "fp32", "cpu", True),
    ("torch", {"device": "cuda:0", "kernel_path": "cudnn"}, "lstm", True, "fp32", "cpu", False),
])
def test_kernel_check_wants_the_gpu_and_cudnn_where_promised(backend, described, cell, fused, precision,
                                                            device, ok):
    got, why = doctor.kernel_check(backend, described, cell, fused, precision, device)
    assert got is ok, why
    if not ok:
        assert "expected cudnn" in why or "asked for" in why or "no cuDNN kernel" in why


# -- the whole check on a CPU ----------------------------------------------------------------------------

def test_cpu_check_writes_every_record_and_parses(fakes, tmp_path):
    calls: list = []
    d, summary = run(tmp_path, calls, precisions=("fp32", "bf16", "fp16"))
    out = d.out
    assert summary["status"] == "ok" and summary["finished"]
    rows = by_step(summary)
    assert rows[("environment", "good")]["status"] == "available"
    for cell in ("rnn", "gru", "lstm"):
        assert rows[(f"parity {cell}", "")]["status"] == "ok"
        rec = json.loads((out / "parity" / f"synthetic-{cell}.json").read_text())
        assert rec["ok"] is True and rec["cell"] == cell and rec["device"] == "cpu"
        assert rec["backends"]["good"]["forward_vs_reference"] <= 1e-6
        assert rec["backends"]["good"]["kernel_path"] == "fused" and "numpy reference" in rec["table"]
    for p in ("fp32", "bf16"):
        assert rows[(f"smoke {p}", "good")]["status"] == "ok"
        smoke = json.loads((out / "smoke" / f"good-{p}.json").read_text())
        (entry,) = smoke["tasks"]
        assert entry["status"] == "ok" and entry["kernel_ok"] is True and entry["ran_on"] == "cpu"
        run_record = records.load(entry["record"])
        assert run_record["config"]["options"]["precision"] == p and run_record["scale"] == "smoke"
        assert run_record["memory"]["peak_device_bytes"] is None
        bench = rows[(f"bench {p}", "good")]
        assert bench["status"] == "ok" and "no device memory" in bench["detail"]
    env = json.loads((out / "environment.json").read_text())
    probe = env["backends"]["good"]
    assert probe["precisions"]["fp32"] == "ok"
    assert probe["precisions"]["fp16"].startswith("refused: --precision fp16 needs a GPU")
    assert env["host"]["cpu_count"] >= 1 and env["nvidia_smi"]["found"] is False
    # fp16 is not offered on a CPU: said so, not run, no failure
    assert rows[("smoke fp16", "good")]["status"] == "not available"
    # every process had a time limit, and workers ran in the order of importance
    assert [c[0] for c in calls] == ["doctor-probe", *["parity-worker"] * 3, "doctor-worker", "doctor-worker"]
    assert all(c[1] > 0 for c in calls)
    assert (out / "summary.json").exists() and json.loads((out / "summary.json").read_text())["schema"] \
        == records.DOCTOR
    text = doctor.table(summary)
    assert "parity lstm" in text and "doctor (cpu): " in text


def test_a_backend_that_differs_fails_parity_and_the_check(fakes, tmp_path):
    _, summary = run(tmp_path, backends=["good", "off"], precisions=("fp32",))
    rows = by_step(summary)
    assert summary["status"] == "failed"
    assert rows[("parity lstm", "")]["status"] == "failed"
    rec = json.loads((tmp_path / "doctor" / "parity" / "synthetic-lstm.json").read_text())
    assert rec["ok"] is False and "FAIL" in rec["table"]
    assert rec["backends"]["off"]["forward_vs_reference"] == pytest.approx(1e-3, rel=1e-3)
    assert rec["backends"]["good"]["forward_vs_reference"] <= 1e-6


def test_a_missing_framework_is_not_available_and_no_failure(fakes, tmp_path):
    calls: list = []
    _, summary = run(tmp_path, calls, backends=["good", "absent"], precisions=("fp32",))
    rows = by_step(summary)
    assert rows[("environment", "absent")]["status"] == "not available"
    assert "no_such_framework_xyz not importable" in rows[("environment", "absent")]["detail"]
    assert summary["status"] == "ok" and summary["not_available"] == {
        "absent": rows[("environment", "absent")]["detail"]}
    assert not any(r["backend"] == "absent" for r in summary["steps"] if r["step"] != "environment")
    assert sum(1 for c in calls if c[0] == "doctor-probe") == 1  # no process for what is not there


def test_a_precision_the_adapter_refuses_is_not_available_not_run(fakes, tmp_path):
    fakes.refuse = ("fp16", "bf16")
    calls: list = []
    _, summary = run(tmp_path, calls)
    rows = by_step(summary)
    assert rows[("smoke bf16", "good")]["status"] == "not available"
    assert "refused: --precision bf16" in rows[("smoke bf16", "good")]["detail"]
    assert rows[("bench bf16", "")]["status"] == "skipped" and summary["status"] == "ok"
    assert sum(1 for c in calls if c[0] == "doctor-worker") == 1


# -- the GPU paths, with a fake GPU ----------------------------------------------------------------------

def test_gpu_check_wants_cudnn_and_device_memory(fakes, tmp_path, monkeypatch):
    fakes.gpu = True
    monkeypatch.setattr(doctor, "nvidia_smi", lambda: {"found": True, "gpus": [
        {"name": "Fake GPU", "memory.total": "1 MiB", "driver_version": "1.0"}]})
    calls: list = []
    d, summary = run(tmp_path, calls, device="gpu", precisions=("fp32", "bf16", "fp16"))
    rows = by_step(summary)
    assert summary["status"] == "ok", summary["steps"]
    assert rows[("smoke fp16", "good")]["status"] == "ok"  # offered on the GPU
    assert "peak 64.0 MiB" in rows[("bench fp32", "good")]["detail"]
    parity = json.loads((d.out / "parity" / "synthetic-gru.json").read_text())
    assert parity["tf32"] == "off" and parity["backends"]["good"]["kernel_path"] == "cudnn"
    parity_env = [c[2] for c in calls if c[0] == "parity-worker"][0]
    assert parity_env["NVIDIA_TF32_OVERRIDE"] == "0"
    assert parity_env["JAX_DEFAULT_MATMUL_PRECISION"] == "highest"
    assert all(c[2]["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for c in calls)


def test_gpu_runs_on_a_cpu_path_or_without_device_memory_fail(fakes, tmp_path):
    fakes.gpu, fakes.gpu_kernel, fakes.gpu_peak = True, "fused", None
    d, summary = run(tmp_path, device="gpu", precisions=("fp32",))
    rows = by_step(summary)
    assert summary["status"] == "failed"
    parity = rows[("parity rnn", "")]
    assert parity["status"] == "failed" and "expected cudnn" in parity["detail"]
    smoke = json.loads((d.out / "smoke" / "good-fp32.json").read_text())["tasks"][0]
    assert smoke["status"] == "failed" and smoke["kernel_ok"] is False and "expected cudnn" in smoke["error"]
    bench = rows[("bench fp32", "good")]
    assert bench["status"] == "failed" and "peak device memory missing" in bench["detail"]


def test_device_gpu_without_a_gpu_is_one_line(fakes, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(launcher, "run_timed", in_process())
    code = cli.main(["doctor", "--device", "gpu", "--out", str(tmp_path / "d"), "--backends", "good,absent",
                     "--bench-tasks", "synthetic", "--bench-scale", "smoke"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert last.startswith("python -m harness: error: --device gpu: no backend can run on a GPU here")
    assert "nvidia-smi: nvidia-smi not found" in last and "good: --device gpu: the fake sees no GPU" in last
    assert last.endswith("use --device cpu")
    env = json.loads((tmp_path / "d" / "environment.json").read_text())
    assert env["backends"]["good"]["status"] == "not available"


@pytest.mark.parametrize("argv,message", [
    (["--backends", "nope"], "unknown backend 'nope'; choose from: good, off, absent"),
    (["--budget-s", "0"], "--budget-s 0.0: give a positive number"),
    (["--precisions", "fp8"], "unknown precision 'fp8'"),
    (["--parity-cells", "lstm,tcn"], "unknown cell 'tcn'; choose from: rnn, gru, lstm"),
    (["--bench-scale", "huge"], "--bench-scale: task 'synthetic' has no scale 'huge'"),
])
def test_bad_options_are_one_line_errors(fakes, tmp_path, capsys, argv, message):
    code = cli.main(["doctor", "--device", "cpu", "--out", str(tmp_path / "d"), "--bench-tasks", "synthetic",
                     *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_an_out_folder_with_other_files_is_refused_and_an_old_check_replaced(fakes, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files"):
        run(tmp_path, out=tmp_path / "other")
    run(tmp_path, precisions=("fp32",))
    (tmp_path / "doctor" / "smoke" / "stale.json").write_text("{}")
    _, summary = run(tmp_path, precisions=("fp32",))
    assert summary["status"] == "ok" and not (tmp_path / "doctor" / "smoke" / "stale.json").exists()


# -- the budget ------------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_phases_share_the_time_left_and_what_no_longer_fits_is_skipped(fakes, tmp_path):
    clock = FakeClock()
    calls: list = []
    # every process takes 25 scripted seconds of a 100-second budget
    launch = in_process(calls, advance={"doctor-probe": 25.0, "parity-worker": 25.0, "doctor-worker": 25.0},
                        clock=clock)
    d = doctor.Doctor(options(tmp_path, budget_s=100.0), launch=launch, bench_worker=bench_worker,
                      clock=clock, say=lambda text: None)
    summary = d.run()
    rows = summary["steps"]
    done = [r["step"] for r in rows if r["status"] == "ok" and r["step"] != "environment"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    # the most important steps ran; the rest is skipped, each saying why
    assert done[:3] == ["parity rnn", "parity gru", "parity lstm"] and "smoke fp32" not in done
    assert skipped and all(r["detail"].startswith("budget: ") for r in skipped)
    assert {r["step"] for r in skipped} >= {"smoke fp32", "bench fp32", "smoke bf16", "bench bf16"}
    assert summary["status"] == "ok" and summary["skipped"] == skipped
    # a process' limit is its share with grace, never past the budget
    left = [c[1] for c in calls]
    assert all(0 < t <= 100.0 for t in left)
    assert left[0] == doctor.MIN_S["probe"]  # a probe is never cut short of it


def test_phase_shares_pass_unspent_time_on():
    clock = FakeClock()
    budget = doctor.Budget(100.0, clock)
    weights = [w for _, _, w in doctor.PHASES]
    first = budget.share(weights[0], sum(weights))
    assert first == pytest.approx(95.0 * weights[0] / sum(weights))
    clock.now += 1.0  # the first phase used 1 s of its share: the rest goes to the phases after it
    second = budget.share(weights[1], sum(weights[1:]))
    assert second == pytest.approx(94.0 * weights[1] / sum(weights[1:])) and second > 95.0 * weights[1]
    clock.now += 200.0
    assert budget.share(weights[2], sum(weights[2:])) == 0.0 and budget.left() < 0


def test_the_smoke_worker_starts_nothing_past_its_deadline_and_says_no_data(fakes, tmp_path, monkeypatch):
    from tasks.data import DataError

    result = tmp_path / "smoke.json"
    out = doctor_worker.smoke("good", "cpu", "fp32", ["synthetic"], 1, tmp_path / "runs", result,
                              deadline=time.time() - 1)
    assert [t["status"] for t in out["tasks"]] == ["skipped"]
    assert json.loads(result.read_text())["tasks"][0]["error"].startswith("the doctor's time budget")

    task = tasks.get("synthetic")

    def no_data(*args):
        raise DataError("imdb data not found: expected /nowhere; fix --data-dir")

    monkeypatch.setattr(tasks, "get", lambda name: dataclasses.replace(task, load=no_data))
    out = doctor_worker.smoke("good", "cpu", "fp32", ["synthetic"], 1, tmp_path / "runs", result,
                              deadline=time.time() + 60)
    assert out["tasks"][0]["status"] == "no data" and "data not found" in out["tasks"][0]["error"]


def test_a_process_past_its_time_limit_is_stopped(tmp_path):
    script = tmp_path / "slow"
    marker = tmp_path / "pid"
    script.write_text(f"#!/bin/sh\necho $$ > {marker}\nexec sleep 30\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    code = launcher.run_timed(str(script), ["doctor-worker"], 1.0, tmp_path / "log", {})
    assert code == doctor.TIMED_OUT
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "stopped after 1 s" in (tmp_path / "log").read_text()
