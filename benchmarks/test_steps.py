"""Micro-benchmarks (pytest-benchmark): one training step and one inference batch per backend.

Fixed shapes, the IMDB ``full`` model (written out here so a change to the task does not move the
benchmark): LSTM 100 over 200 ids, batch 64 for training and 500 for inference, canonical weights of
seed 0. Backends whose framework is not importable in this environment are skipped, so each backend's
tox environment benchmarks its own backend. Not part of the unit tests (``pytest tests``); run with

    tox exec -e torch -- pytest benchmarks --benchmark-autosave          # before a framework upgrade
    tox exec -e torch -- pytest benchmarks --benchmark-compare \\
        --benchmark-compare-fail=median:15%                                # after it: fails if slower

``RNNBENCH_BENCH_DEVICE`` (``auto``, ``cpu`` or ``gpu``; default ``cpu``) picks the device.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import backends
from backends import canonical
from harness.common import ftz
from tasks.spec import Dense, Dropout, ModelSpec, Recipe

pytest.importorskip("pytest_benchmark", reason="pytest-benchmark is in the test extras")

SPEC = ModelSpec(cell="lstm", vocab_size=1000, embed_dim=50, hidden_size=100, embed_dropout=0.2,
                 input_dropout=0.2, recurrent_dropout=0.0, head=(Dense(250, "relu"), Dropout(0.2), Dense(1)),
                 loss="binary_crossentropy", init="keras")
RECIPE = Recipe(optimizer="adam", lr=1e-3, eps=1e-7, batch_size=64, eval_batch_size=500, epochs=1)
SEQ_LEN, WARMUP_STEPS = 200, 3
DEVICE = os.environ.get("RNNBENCH_BENCH_DEVICE", "cpu")

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(not backends.importable(info),
                                                        reason=f"{', '.join(info.requires)} not installed"))
            for name, info in backends.registry().items()]


def batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, SPEC.vocab_size, size=(n, SEQ_LEN)).astype(np.int32)
    return x, rng.integers(0, 2, size=n).astype(np.float32)


@pytest.fixture(scope="module", params=BACKENDS)
def adapter(request):
    ftz.set_flush_to_zero(True)  # as in every run: before the framework starts its threads
    adapter = backends.create(backends.get(request.param), DEVICE, "fp32")
    adapter.build(SPEC, RECIPE, 0)
    adapter.set_weights(canonical.init(SPEC, 0))
    adapter.set_lr(RECIPE.lr)
    return adapter


def _describe(benchmark, adapter, batch_size: int) -> None:
    info = adapter.describe()
    benchmark.extra_info.update({
        "batch_size": batch_size, "seq_len": SEQ_LEN, "device": info.get("device"),
        "kernel_path": info.get("kernel_path"), "versions": info.get("versions"),
        "threads": info.get("threads"), "flush_to_zero": ftz.enabled(),
    })


@pytest.mark.benchmark(group="train step (batch 64 x 200 ids)")
def test_train_step(benchmark, adapter):
    x, y = batch(RECIPE.batch_size)

    def step():
        adapter.losses([adapter.train_step(x, y)])  # waits for the step: a synchronised time
        adapter.synchronize()

    for _ in range(WARMUP_STEPS):  # compilation and allocator warm-up stay out of the figures
        step()
    benchmark(step)
    _describe(benchmark, adapter, RECIPE.batch_size)


@pytest.mark.benchmark(group="inference (batch 500 x 200 ids)")
def test_inference(benchmark, adapter):
    x, _ = batch(RECIPE.eval_batch_size, seed=1)

    def predict():
        out = adapter.predict(x)
        adapter.synchronize()
        return out

    for _ in range(WARMUP_STEPS):
        predict()
    logits = benchmark(predict)
    assert logits.shape[0] == RECIPE.eval_batch_size and np.all(np.isfinite(logits))
    _describe(benchmark, adapter, RECIPE.eval_batch_size)
