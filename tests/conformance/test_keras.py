"""Keras-specific checks: what each Keras backend records it ran, and the recipe's L2 weight decay."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import backends
from tests.conformance.test_adapters import RECIPE, batch, make, spec_for

KERAS = [pytest.param(name, marks=pytest.mark.skipif(not backends.importable(info),
                                                     reason=f"{', '.join(info.requires)} not installed"))
         for name, info in backends.registry().items() if name.startswith("keras")]

# On a CPU: the recurrence Keras 3.15 runs, and whether the step is XLA-compiled.
ON_CPU = {"keras": ("scan", False), "keras-jax": ("scan", True), "keras-torch": ("loop", False)}


@pytest.mark.parametrize("backend", KERAS)
def test_keras_records_backend_kernel_path_and_xla(backend):
    for variant in ("classify", "recurrent-dropout"):
        info = make(backend, spec_for("lstm", variant)).describe()
        assert (info["kernel_path"], info["xla"]) == ON_CPU[backend]
        assert info["keras_backend"] == backends.get(backend).options["keras_backend"]
        assert info["framework"] == "keras" and info["versions"]["keras"].startswith("3.")
    assert "recurrent dropout" in info["kernel_detail"]


@pytest.mark.parametrize("backend", KERAS)
def test_weight_decay_is_l2_added_to_the_gradient(backend):
    """SGD with L2 decay d moves each weight by an extra -lr * d * w (PyTorch's weight_decay semantics)."""
    spec = spec_for("rnn", "binary")
    x, y = batch(spec)
    recipe = replace(RECIPE, optimizer="sgd", lr=0.1)
    after = {}
    for decay in (0.0, 0.5):
        adapter = make(backend, spec, seed=1, recipe=replace(recipe, weight_decay=decay))
        before = adapter.get_weights()
        adapter.losses([adapter.train_step(x, y)])
        after[decay] = adapter.get_weights()
    for name, w in before.items():
        expected = -0.1 * 0.5 * w
        np.testing.assert_allclose(after[0.5][name] - after[0.0][name], expected, atol=1e-6, err_msg=name)


KERAS_TORCH = [p for p in KERAS if p.values[0] == "keras-torch"]


@pytest.mark.parametrize("backend", KERAS_TORCH)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_keras_torch_on_a_cpu_picks_the_backends_op_or_the_generic_loop_by_length(backend, cell, monkeypatch):
    """Below LOOP_FROM steps the torch backend's own op runs, from there Keras' generic loop: the same
    outputs either way."""
    import sys

    from backends.keras.adapter import LOOP_FROM

    spec = spec_for(cell)
    adapter = make(backend, spec)
    layer = adapter.model.get_layer("rnn0")
    keras_backend = sys.modules[type(layer).__mro__[1].__module__].backend  # what Keras' layer calls
    op, lengths = getattr(keras_backend, cell), []
    monkeypatch.setattr(keras_backend, cell, lambda x, *a, **k: lengths.append(x.shape[1]) or op(x, *a, **k))
    limit = LOOP_FROM[cell]
    short, _ = batch(spec, steps=limit - 1)
    long, _ = batch(spec, steps=limit)
    adapter.predict(short)
    assert lengths == [limit - 1, limit - 1]  # both layers, the backend's op
    looped = adapter.predict(long)
    assert lengths == [limit - 1, limit - 1]  # the generic loop: the op not called
    for name in ("rnn0", "rnn1"):
        adapter.model.get_layer(name).loop_from = 10**6
    np.testing.assert_allclose(adapter.predict(long), looped, rtol=1e-5, atol=1e-6)
    assert lengths[2:] == [limit, limit]
    assert f"below {limit} steps" in adapter.describe()["kernel_detail"]
