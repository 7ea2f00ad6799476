"""Test doubles shared by the unit tests: a scripted NumPy backend, a synthetic task, synthetic records.

``scripted`` (a fixture, see ``tests/unit/conftest.py``) puts the scripted backend and the synthetic task
into the registries, so the real training loop, CLI and matrix run in milliseconds without a framework.
``make_record`` builds a complete ``rnnbench.run/1`` record without training, for reports and baselines.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest

import backends
import tasks
from backends.base import Adapter, BackendInfo
from harness import records
from harness.common import ftz
from tasks.base import Dataset, Scale, Split, Target, Task
from tasks.spec import Dense, ModelSpec, Recipe


class ScriptedAdapter(Adapter):
    """Predicts the label (x[:, 0] >= 5) correctly once it has taken ``learn_at`` steps, and forgets it
    after ``forget_at``; its "weights" are its step count, so checkpoints are observable."""

    framework = "scripted"
    learn_at, forget_at, nan_at = 4, 10**9, None

    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        self.steps, self.lr = 0, None

    def set_weights(self, weights):
        self.steps = int(weights.get("steps", 0))

    def get_weights(self):
        return {"steps": np.array(self.steps)}

    def train_step(self, x, y):
        self.steps += 1
        return float("nan") if self.steps == self.nan_at else 1.0 / self.steps

    def losses(self, handles):
        return np.asarray(handles, dtype=np.float32)

    def predict(self, x):
        sign = 1.0 if self.learn_at <= self.steps < self.forget_at else -1.0
        return (sign * (x[:, :1] - 4.5)).astype(np.float32)

    def set_lr(self, lr):
        self.lr = lr

    def synchronize(self):
        pass

    def describe(self):
        return {"framework": "scripted", "versions": {"scripted": "1"}, "device": "cpu",
                "device_name": "cpu", "kernel_path": "none", "precision": self.precision, "threads": 1}


def split(rng, n):
    x = rng.integers(0, 10, size=(n, 3)).astype(np.int32)
    return Split(x, (x[:, 0] >= 5).astype(np.int32))


def synthetic_task(epochs=3):
    spec = ModelSpec(cell="rnn", vocab_size=10, embed_dim=2, hidden_size=2, head=(Dense(1),),
                     loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    data = Dataset(split(rng, 40), split(rng, 20), split(rng, 30), {"source": "synthetic"})
    scale = Scale("smoke", "synthetic", spec, Recipe(batch_size=8, epochs=epochs, eval_batch_size=16))
    return Task(name="synthetic", description="", scales={"smoke": scale}, load=lambda *a: data,
                metric="accuracy", target=Target("accuracy", 0.9), default_scale="smoke", seq_len=3)


SCRIPTED = BackendInfo("scripted", "unused:Unused", (), "core", "test double")


@pytest.fixture
def scripted(monkeypatch):
    """The scripted backend and synthetic task as the only backend and task (also under other names,
    so a matrix of several backends or tasks runs them all)."""
    task = synthetic_task()
    monkeypatch.setattr(tasks, "get", lambda name: task)
    monkeypatch.setattr(backends, "get", lambda name: dataclasses.replace(SCRIPTED, name=name))
    monkeypatch.setattr(backends, "registry", lambda: {"scripted": SCRIPTED})
    monkeypatch.setattr(backends, "create", lambda info, *args: ScriptedAdapter(*args))
    monkeypatch.setattr(tasks, "all_names", lambda: ["synthetic"])
    monkeypatch.setattr(backends, "names", lambda: ["scripted"])
    flushing = ftz.enabled()
    yield ScriptedAdapter
    ScriptedAdapter.learn_at, ScriptedAdapter.forget_at, ScriptedAdapter.nan_at = 4, 10**9, None
    ftz.set_flush_to_zero(bool(flushing))  # runs turn flush-to-zero on for the whole process


def make_record(task: str = "imdb", backend: str = "torch", seed: int = 0, *, train: float = 1000.0,
                evaluate: float = 5000.0, status: str = "ok", machine: str = "m1", device: str = "cpu",
                started: str = "2026-01-01T00:00:00+00:00", accuracy: float = 0.8, epochs: int = 2,
                spread: float = 0.02, scale: str = "smoke", **override: Any) -> dict[str, Any]:
    """A complete synthetic record; ``spread`` is the relative min-max of its per-epoch throughput."""
    run_id = f"{task}-{scale}-{backend}-{device}-s{seed}-{started[:19].replace(':', '').replace('-', '')}"
    record = {
        "schema": records.RUN, "run_id": run_id, "task": task, "backend": backend, "scale": scale,
        "seed": seed, "status": status, "error": None if status == "ok" else f"{status} on purpose",
        "started": started,
        "config": {"options": {"epochs": epochs, "precision": "fp32"}, "param_count": 1234,
                   "target": {"metric": "accuracy", "value": 0.84, "mode": "max"}},
        "metrics": {"test_accuracy": accuracy, "test_accuracy_final": accuracy} if status == "ok" else {},
        "throughput": {
            "train_samples_per_s": train, "train_tokens_per_s": train * 100,
            "train_samples_per_s_epochs": {"median": train, "min": train * (1 - spread / 2),
                                           "max": train * (1 + spread / 2), "n": epochs},
            "eval_samples_per_s": evaluate, "eval_tokens_per_s": evaluate * 100,
            "eval_samples_per_s_runs": {"median": evaluate, "min": evaluate * (1 - spread / 2),
                                        "max": evaluate * (1 + spread / 2), "n": epochs},
            "seq_len": 100,
        } if status == "ok" else {},
        "timings": {"first_step_s": 0.5, "wall_s": 10.0, "time_to_target_s": None},
        "curves": [{"epoch": e + 1, "val_accuracy": accuracy - 0.1 / (e + 1), "wall_s": 5.0 * (e + 1),
                    "val_loss": 0.5} for e in range(epochs)],
        "memory": {"peak_host_bytes": 300 * 2**20, "peak_device_bytes": None},
        "environment": {"cpu": f"CPU of {machine}", "cpu_count": 2, "machine": machine,
                        "backend": {"framework": backend, "versions": {backend: "1.0"}, "device": device,
                                    "device_name": "cpu" if device == "cpu" else "Some GPU",
                                    "kernel_path": "fused", "precision": "fp32"}},
    }
    for dotted, value in override.items():  # e.g. environment__backend=None
        *parents, last = dotted.split("__")
        target = record
        for p in parents:
            target = target[p]
        target[last] = value
    return copy.deepcopy(record)


def make_bench_record(point: str = "imdb-full", backend: str = "torch", *, train: float = 1000.0,
                      infer: float = 4000.0, spread: float = 0.04, machine: str = "m1", busy: bool = False,
                      overrides: dict | None = None, bench_id: str = "bench-20260101T000000",
                      status: str = "ok", started: str = "2026-01-01T00:00:00+00:00",
                      device_name: str = "cpu") -> dict[str, Any]:
    """A complete synthetic ``rnnbench.bench/1`` record of five repeats around ``train``/``infer``; on the
    CPU, or on a GPU called ``device_name``."""

    task, scale = point.split("+")[0].rsplit("-", 1)
    overrides = overrides or {}
    pid = f"{task}-{scale}" + "".join(f"+{k.split('.', 1)[1]}={v}" for k, v in overrides.items())

    def figures(median: float) -> dict[str, Any]:
        values = [median * (1 + spread * f) for f in (-0.5, -0.25, 0.0, 0.25, 0.5)]
        return {"median": median, "min": min(values), "max": max(values), "n": 5, "values": values,
                "spread": spread}

    return {
        "schema": records.BENCH, "bench_id": bench_id, "run_id": f"{bench_id}/{pid}/{backend}",
        "point": {"id": pid, "task": task, "scale": scale, "overrides": overrides, "seq_len": 200,
                  "train_batch": overrides.get("recipe.batch_size", 64), "infer_batch": 500, "cell": "lstm",
                  "hidden_size": overrides.get("model.hidden_size", 100), "num_layers": 1,
                  "optimizer": "adam",
                  "model": {"cell": "lstm", "vocab_size": 1000,
                            "hidden_size": overrides.get("model.hidden_size", 100), "input": "embedding",
                            "embed_dim": 50, "num_layers": 1, "output": "last",
                            "head": [{"type": "dense", "units": 250, "activation": "relu"},
                                     {"type": "dense", "units": 1, "activation": "linear"}]}},
        "task": task, "scale": scale, "backend": backend, "status": status,
        "error": None if status == "ok" else "RuntimeError: on purpose", "started": started,
        "protocol": {"steps": 30, "warmup": 3, "repeats": 5, "threads": 2,
                     "device": "cpu" if device_name == "cpu" else "gpu",
                     "precision": "fp32", "synchronised": True,
                     "interleaved": ["torch", "keras", "keras-jax", "keras-torch", "jax", "mxnet"]},
        "repeats": [{"repeat": i, "load": {"busy": busy}, "train_samples_per_s": t, "infer_samples_per_s": f}
                    for i, (t, f) in enumerate(zip(figures(train)["values"], figures(infer)["values"],
                                                   strict=True))],
        "train": {"samples_per_s": figures(train), "tokens_per_s": figures(train * 200)},
        "inference": {"samples_per_s": figures(infer), "tokens_per_s": figures(infer * 200)},
        "first_step_s": 0.3, "busy": busy,
        "environment": {"cpu": f"CPU of {machine}", "cpu_count": 2, "machine": machine,
                        "backend": {"framework": backend,
                                    "device": "cpu" if device_name == "cpu" else "gpu:0",
                                    "device_name": device_name,
                                    "kernel_path": "fused", "precision": "fp32"}},
    }
