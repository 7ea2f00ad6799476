"""What the later tasks ask of every adapter: the spiking LSTM, the softmax-MSE loss, encoder-decoders
and hidden state carried between calls (consecutive sampling). Written once, parametrised by backend,
compared with the NumPy reference (``backends.reference``) on the same canonical weights.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from backends import canonical, reference
from harness.common import metrics
from tasks.spec import Dense, ModelSpec, Recipe
from tests.conformance.test_adapters import BACKENDS, RECIPE, batch, make

SGD = Recipe(optimizer="sgd", lr=0.0, batch_size=8, epochs=1)


def spiking_spec(**kw) -> ModelSpec:
    base = ModelSpec(cell="spiking-lstm", vocab_size=11, input="onehot", hidden_size=6,
                     head=(Dense(4),), loss="softmax_mse", init="torch")
    return replace(base, **kw)


def decoder_spec(cell: str) -> ModelSpec:
    return ModelSpec(cell=cell, vocab_size=13, input="onehot", hidden_size=5, head=(Dense(13),),
                     output="sequence", decoder_steps=4, init="keras")


def lm_spec(cell: str) -> ModelSpec:
    return ModelSpec(cell=cell, vocab_size=12, embed_dim=5, hidden_size=6, num_layers=2,
                     head=(Dense(12),), output="sequence", init="torch")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layers", [1, 2])
def test_spiking_lstm_matches_the_reference(backend, layers):
    spec = spiking_spec(num_layers=layers)
    adapter = make(backend, spec)
    x, _ = batch(spec, steps=7)
    out = adapter.predict(x)
    expected = reference.forward(spec, canonical.init(spec, 0), x)
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)
    assert adapter.describe()["kernel_path"] not in ("fused", "cudnn")


@pytest.mark.parametrize("backend", BACKENDS)
def test_spiking_lstm_learns_through_the_surrogate_gradient(backend):
    spec = spiking_spec()
    adapter = make(backend, spec, recipe=replace(RECIPE, lr=0.05))
    x, y = batch(spec, steps=6)
    before = metrics.softmax_mse(adapter.predict(x), y)
    start = adapter.get_weights()["rnn0/recurrent_kernel"]
    losses = adapter.losses([adapter.train_step(x, y) for _ in range(60)])
    after = metrics.softmax_mse(adapter.predict(x), y)
    assert np.all(np.isfinite(losses))
    assert not np.allclose(adapter.get_weights()["rnn0/recurrent_kernel"], start)  # gradient reached it
    assert after < before, (before, after)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["lstm", "spiking-lstm"])
def test_softmax_mse_is_the_training_loss(backend, cell):
    spec = spiking_spec(cell=cell)
    adapter = make(backend, spec, recipe=SGD)  # lr 0: the step reports the loss of these weights
    x, y = batch(spec, steps=5)
    expected = metrics.softmax_mse(reference.forward(spec, canonical.init(spec, 0), x), y)
    np.testing.assert_allclose(adapter.losses([adapter.train_step(x, y)])[0], expected, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_encoder_decoder_matches_the_reference(backend, cell):
    spec = decoder_spec(cell)
    adapter = make(backend, spec)
    x, _ = batch(spec, steps=8)
    expected = reference.forward(spec, canonical.init(spec, 0), x)
    out = adapter.predict(x)
    assert out.shape == (8, 4, 13)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-4)
    assert set(adapter.get_weights()) == set(canonical.shapes(spec))


@pytest.mark.parametrize("backend", BACKENDS)
def test_encoder_decoder_trains(backend):
    spec = decoder_spec("lstm")
    adapter = make(backend, spec, recipe=replace(RECIPE, lr=0.03))
    x, _ = batch(spec, steps=8)
    y = np.random.default_rng(1).integers(0, 13, size=(8, 4)).astype(np.int32)
    before = metrics.categorical_crossentropy(adapter.predict(x), y)
    adapter.losses([adapter.train_step(x, y) for _ in range(40)])
    assert metrics.categorical_crossentropy(adapter.predict(x), y) < 0.9 * before


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_consecutive_sampling_carries_the_state_between_calls(backend, cell):
    spec = lm_spec(cell)
    weights = canonical.init(spec, 0)
    adapter = make(backend, spec, recipe=replace(SGD, sampling="consecutive"))
    x, y = batch(spec, steps=10)
    whole = reference.forward(spec, weights, x)
    adapter.reset_state()
    np.testing.assert_allclose(adapter.predict(x[:, :4]), whole[:, :4], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(adapter.predict(x[:, 4:]), whole[:, 4:], atol=1e-5, rtol=1e-4)
    adapter.reset_state()  # back to zeros: the second half alone
    np.testing.assert_allclose(adapter.predict(x[:, 4:]), reference.forward(spec, weights, x[:, 4:]),
                               atol=1e-5, rtol=1e-4)
    adapter.reset_state()  # a training step (lr 0) carries its final state into the next call too
    adapter.losses([adapter.train_step(x[:, :4], y[:, :4])])
    np.testing.assert_allclose(adapter.predict(x[:, 4:]), whole[:, 4:], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_sampling_starts_every_call_from_zeros(backend):
    spec = lm_spec("lstm")
    adapter = make(backend, spec, recipe=SGD)
    x, _ = batch(spec, steps=10)
    adapter.predict(x[:, :4])
    expected = reference.forward(spec, canonical.init(spec, 0), x[:, 4:])
    np.testing.assert_allclose(adapter.predict(x[:, 4:]), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_consecutive_training_learns(backend):
    spec = lm_spec("lstm")
    adapter = make(backend, spec, recipe=replace(RECIPE, lr=0.03, sampling="consecutive"))
    x, y = batch(spec, steps=12)
    adapter.reset_state()
    before = metrics.categorical_crossentropy(adapter.predict(x), y)
    for _ in range(20):
        adapter.reset_state()
        adapter.losses([adapter.train_step(x[:, :6], y[:, :6]), adapter.train_step(x[:, 6:], y[:, 6:])])
    adapter.reset_state()
    assert metrics.categorical_crossentropy(adapter.predict(x), y) < 0.9 * before


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_head_makes_the_recurrent_output_the_logits(backend):
    spec = ModelSpec(cell="rnn", vocab_size=7, input="onehot", hidden_size=7, head=(), output="sequence",
                     init="torch")
    adapter = make(backend, spec)
    x, y = batch(spec, steps=4)
    np.testing.assert_allclose(adapter.predict(x), reference.forward(spec, canonical.init(spec, 0), x),
                               atol=1e-5, rtol=1e-4)
    assert np.all(np.isfinite(adapter.losses([adapter.train_step(x, y) for _ in range(3)])))
