"""Keras-specific checks of the extensions: the spike's surrogate gradient on each Keras backend, the carried
state staying inside one compiled step, and what the encoder-decoder and stateful models are made of."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import backends
from backends import canonical, reference
from backends.base import BackendError
from backends.keras import cells, runtime
from tasks.spec import SPIKE_ALPHA, Dense, ModelSpec, Recipe
from tests.conformance.test_adapters import RECIPE, batch, make

KERAS = [pytest.param(name, marks=pytest.mark.skipif(not backends.importable(info),
                                                     reason=f"{', '.join(info.requires)} not installed"))
         for name, info in backends.registry().items() if name.startswith("keras")]
SGD = Recipe(optimizer="sgd", lr=0.0, batch_size=8, epochs=1)
LM = ModelSpec(cell="lstm", vocab_size=12, embed_dim=5, hidden_size=6, num_layers=2, head=(Dense(12),),
               output="sequence", init="torch")


def _spike_value_and_grad(backend: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H(z) and d sum(H(z)) / dz through ``cells.spike``, with the backend's own autodiff."""
    keras = runtime.load(backend)
    if backend == "jax":
        import jax

        return np.asarray(cells.spike(keras, z)), np.asarray(jax.grad(
            lambda v: keras.ops.sum(cells.spike(keras, v)))(z))
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(v)
            out = cells.spike(keras, v)
            total = tf.reduce_sum(out)
        return out.numpy(), tape.gradient(total, v).numpy()
    import torch

    v = torch.tensor(z, requires_grad=True)
    out = cells.spike(keras, v)
    out.sum().backward()
    return out.detach().numpy(), v.grad.numpy()


@pytest.mark.parametrize("backend", KERAS)
def test_spike_is_heaviside_forward_and_erf_surrogate_backward(backend):
    z = np.array([-3.0, -0.7, -1e-6, 0.0, 1e-6, 0.25, 2.0], dtype=np.float32)
    value, grad = _spike_value_and_grad(backends.get(backend).options["keras_backend"], z)
    np.testing.assert_array_equal(value, (z >= 0).astype(np.float32))  # exactly H, 1 at z == 0
    expected = SPIKE_ALPHA / np.sqrt(np.pi) * np.exp(-((SPIKE_ALPHA * z.astype(np.float64)) ** 2))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_spiking_lstm_gradients_agree_across_keras_backends():
    """One SGD step (lr 1) moves each weight by minus its gradient: the three backends take the same step."""
    names = [p.values[0] for p in KERAS if all(not m.args[0] for m in p.marks)]
    if len(names) < 2:
        pytest.skip("needs two Keras backends")
    spec = ModelSpec(cell="spiking-lstm", vocab_size=11, input="onehot", hidden_size=6, num_layers=2,
                     head=(Dense(4),), loss="softmax_mse", init="torch")
    x, y = batch(spec, steps=6)
    start = canonical.init(spec, 0)
    steps = {}
    for name in names:
        adapter = make(name, spec, recipe=replace(SGD, lr=1.0))
        adapter.losses([adapter.train_step(x, y)])
        steps[name] = {k: v - start[k] for k, v in adapter.get_weights().items()}
    assert np.abs(steps[names[0]]["rnn0/recurrent_kernel"]).max() > 0  # the surrogate reached layer 0
    for name in names[1:]:
        for k, step in steps[name].items():
            np.testing.assert_allclose(step, steps[names[0]][k], atol=1e-5, rtol=1e-3, err_msg=f"{name} {k}")


@pytest.mark.parametrize("backend", KERAS)
def test_spiking_lstm_trains_with_dropout(backend):
    spec = ModelSpec(cell="spiking-lstm", vocab_size=11, input="onehot", hidden_size=6, head=(Dense(4),),
                     loss="softmax_mse", init="torch", input_dropout=0.2, recurrent_dropout=0.2)
    adapter = make(backend, spec)
    x, y = batch(spec, steps=6)
    assert np.all(np.isfinite(adapter.losses([adapter.train_step(x, y) for _ in range(3)])))
    np.testing.assert_allclose(adapter.predict(x), reference.forward(spec, adapter.get_weights(), x),
                               atol=1e-4, rtol=1e-4)  # inference: no dropout


@pytest.mark.parametrize("backend", KERAS)
def test_two_layer_decoder_and_weight_round_trip(backend):
    spec = ModelSpec(cell="gru", vocab_size=9, embed_dim=4, hidden_size=5, num_layers=2, head=(Dense(9),),
                     output="sequence", decoder_steps=3, decoder_layers=2, init="torch")
    weights = canonical.init(spec, 4)
    adapter = make(backend, spec)
    adapter.set_weights(weights)
    exported = adapter.get_weights()
    assert list(exported) == list(canonical.shapes(spec))
    for k, w in weights.items():
        np.testing.assert_array_equal(exported[k], w, err_msg=k)
    x, _ = batch(spec, steps=7)
    np.testing.assert_allclose(adapter.predict(x), reference.forward(spec, weights, x), atol=1e-5, rtol=1e-4)
    assert [layer.name for layer in adapter.model.layers if layer.name.startswith("dec")] == ["dec0", "dec1"]


@pytest.mark.parametrize("backend", KERAS)
def test_random_sampling_model_has_no_state_inputs(backend):
    adapter = make(backend, LM, recipe=SGD)
    assert len(adapter.model.inputs) == 1 and len(adapter.model.outputs) == 1
    adapter.reset_state()  # allowed, and a no-op
    assert adapter.describe()["state"] == "zeros every call"


@pytest.mark.parametrize("backend", KERAS)
def test_consecutive_state_restarts_from_zeros_on_a_new_batch_size(backend):
    weights = canonical.init(LM, 0)
    adapter = make(backend, LM, recipe=replace(SGD, sampling="consecutive"))
    x, _ = batch(LM, steps=10)
    adapter.reset_state()
    adapter.predict(x[:, :4])
    np.testing.assert_allclose(adapter.predict(x[:5, 4:]), reference.forward(LM, weights, x[:5, 4:]),
                               atol=1e-5, rtol=1e-4)
    assert len(adapter.model.inputs) == 1 + 2 * LM.num_layers  # (h, c) of each encoder layer


@pytest.mark.parametrize("backend", ["keras", "keras-jax"])
def test_carried_state_keeps_one_compiled_step_per_shape(backend):
    if not backends.importable(backends.get(backend)):
        pytest.skip(f"{backend} not installed")
    adapter = make(backend, LM, recipe=replace(RECIPE, sampling="consecutive"))
    x, y = batch(LM, steps=12)
    for _ in range(3):
        adapter.reset_state()
        adapter.losses([adapter.train_step(x[:, :6], y[:, :6]), adapter.train_step(x[:, 6:], y[:, 6:])])
        adapter.predict(x[:, :6])
    train, predict = adapter.engine._train, adapter.engine._predict
    if backend == "keras":
        assert (train.experimental_get_tracing_count(), predict.experimental_get_tracing_count()) == (1, 1)
    else:
        assert (train._cache_size(), predict._cache_size()) == (1, 1)


@pytest.mark.parametrize("backend", KERAS)
def test_consecutive_sampling_in_bf16_runs(backend):
    spec = replace(LM, num_layers=1)
    try:
        adapter = backends.create(backends.get(backend), device="cpu", precision="bf16")
    except BackendError:
        pytest.skip("bf16 refused")
    adapter.build(spec, replace(RECIPE, sampling="consecutive"), 0)
    adapter.set_weights(canonical.init(spec, 0))
    x, y = batch(spec, steps=8)
    adapter.reset_state()
    losses = adapter.losses([adapter.train_step(x[:, :4], y[:, :4]), adapter.train_step(x[:, 4:], y[:, 4:])])
    assert np.all(np.isfinite(losses))
    assert np.all(np.isfinite(adapter.predict(x[:, :4])))
