"""JAX-specific checks of the extensions beyond the shared ones: the spiking gate's custom JVP, the
consecutive-sampling state staying on the device with one compile per shape, and the cuDNN path's
decoder and carried state (run on a CPU with JAX's reference LSTM standing in for cuDNN)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

import backends  # noqa: E402
from backends import canonical, reference  # noqa: E402
from backends.jax import weights  # noqa: E402
from backends.jax.model import Recurrence, RecurrentNet, spike  # noqa: E402
from tasks.spec import SPIKE_ALPHA  # noqa: E402
from tests.conformance.test_adapters import RECIPE, batch  # noqa: E402
from tests.conformance.test_extensions import SGD, decoder_spec, lm_spec, spiking_spec  # noqa: E402


def _adapter(spec, recipe):
    adapter = backends.create(backends.get("jax"), device="cpu")
    adapter.build(spec, recipe, 0)
    adapter.set_weights(canonical.init(spec, 0))
    return adapter


def test_spike_is_the_step_forward_and_the_erf_surrogate_backward():
    z = jnp.asarray([-1.0, -1e-7, 0.0, 1e-7, 0.3, 2.0], jnp.float32)
    np.testing.assert_array_equal(spike(z), [0, 0, 1, 1, 1, 1])
    grad = jax.vmap(jax.grad(spike))(z)
    np.testing.assert_allclose(grad, SPIKE_ALPHA / math.sqrt(math.pi) * np.exp(-(SPIKE_ALPHA * z) ** 2),
                               rtol=1e-6)


def test_spiking_layer_gradient_matches_the_stop_gradient_formulation():
    """The custom JVP gives the same layer gradients as H(z) + s(z) - stop_gradient(s(z)), s the erfc."""
    spec = spiking_spec()
    w = canonical.init(spec, 3)
    layer = Recurrence("spiking-lstm", spec.input_size, spec.hidden_size)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 6, spec.input_size)), jnp.float32)
    u, b = jnp.asarray(w["rnn0/recurrent_kernel"]), jnp.asarray(w["rnn0/bias"])
    k = jnp.asarray(w["rnn0/kernel"])
    layer.kernel[...], layer.recurrent_kernel[...], layer.bias[...] = k, u, b
    grads = nnx.grad(lambda m: jnp.sum(m(x)[0] ** 2))(layer)  # differentiate the layer's own parameters

    def trick(k, u):
        def step(carry, xt):
            h, c = carry
            z = xt @ k + b + h @ u
            s = 0.5 * jax.scipy.special.erfc(-SPIKE_ALPHA * z)
            i, f, g, o = jnp.split((z >= 0).astype(z.dtype) + s - jax.lax.stop_gradient(s), 4, axis=-1)
            c = f * c + i * g
            return (o * c, c), o * c
        zeros = jnp.zeros((4, spec.hidden_size))
        return jnp.sum(jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(x, 0, 1))[1] ** 2)

    expected = jax.grad(trick, argnums=(0, 1))(k, u)
    got = grads["kernel"][...], grads["recurrent_kernel"][...]
    np.testing.assert_allclose(jnp.sum(layer(x)[0] ** 2), trick(k, u), rtol=1e-6)  # the same forward
    assert float(jnp.abs(expected[1]).max()) > 0  # the surrogate does reach the recurrent kernel
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_random_sampling_keeps_no_state():
    adapter = _adapter(lm_spec("lstm"), SGD)
    x, y = batch(lm_spec("lstm"), steps=6)
    adapter.losses([adapter.train_step(x, y)])
    adapter.predict(x)
    adapter.reset_state()  # a no-op, as the protocol says
    assert adapter.state is None
    assert "consecutive" not in adapter.describe()["kernel_detail"]


def test_consecutive_state_stays_on_the_device_and_compiles_once_per_shape():
    spec = lm_spec("gru")
    adapter = _adapter(spec, replace(RECIPE, sampling="consecutive"))
    x, y = batch(spec, steps=6)
    with jax.transfer_guard_device_to_host("disallow"):  # the carried state never visits the host
        handles = [adapter.train_step(x, y) for _ in range(3)]
        adapter.reset_state()
        handles += [adapter.train_step(x, y), adapter.train_step(x[:3], y[:3]), adapter.train_step(x, y)]
    assert np.all(np.isfinite(adapter.losses(handles)))
    assert isinstance(adapter.state[0], jax.Array) and adapter.state[0].shape == (8, spec.hidden_size)
    assert adapter.compiled_steps() == 2  # batch 8 and batch 3, not once per reset or carried state
    assert adapter.describe()["sampling"] == "consecutive"


def test_consecutive_batch_size_change_starts_from_zeros():
    spec = lm_spec("lstm")
    adapter = _adapter(spec, replace(SGD, sampling="consecutive"))
    x, _ = batch(spec, steps=8)
    adapter.predict(x[:, :4])
    expected = reference.forward(spec, canonical.init(spec, 0), x[:5, 4:])
    np.testing.assert_allclose(adapter.predict(x[:5, 4:]), expected, atol=1e-5, rtol=1e-4)


def test_encoder_decoder_carries_only_the_encoder_state():
    spec = decoder_spec("gru")
    w = canonical.init(spec, 0)
    adapter = _adapter(spec, replace(SGD, sampling="consecutive"))
    x, _ = batch(spec, steps=8)
    _, state = reference.forward(spec, w, x[:, :5], return_state=True)
    adapter.predict(x[:, :5])
    np.testing.assert_allclose(adapter.predict(x[:, 5:]), reference.forward(spec, w, x[:, 5:], state=state),
                               atol=1e-5, rtol=1e-4)


@pytest.fixture
def cudnn_on_cpu(monkeypatch):
    """``jax.experimental.rnn.lstm`` needs cuDNN; JAX's own reference LSTM takes the same arguments."""
    from jax.experimental import rnn

    def lstm(x, h0, c0, packed, lengths, input_size, hidden_size, num_layers, dropout, bidirectional):
        w = rnn.unpack_lstm_weights(packed, input_size, hidden_size, num_layers, bidirectional)
        return rnn.lstm_ref(x, h0, c0, *w, lengths, input_size, hidden_size, num_layers, dropout,
                            bidirectional)

    monkeypatch.setattr(rnn, "lstm", lstm)


@pytest.mark.usefixtures("cudnn_on_cpu")
def test_cudnn_path_runs_the_decoder_and_the_carried_state():
    spec = replace(decoder_spec("lstm"), num_layers=2, decoder_layers=2)
    w = canonical.init(spec, 0)
    model = RecurrentNet(spec)
    weights.from_canonical(model, w)
    model.use_cudnn(True)
    x, _ = batch(spec, steps=8)
    _, state = reference.forward(spec, w, x[:, :3], return_state=True)
    carried = tuple((jnp.asarray(h, jnp.float32), jnp.asarray(c, jnp.float32)) for h, c in state)
    out, final = model(jnp.asarray(x[:, 3:]), state=carried)
    expected, expected_state = reference.forward(spec, w, x[:, 3:], state=state, return_state=True)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-4)
    for (h, c), (eh, ec) in zip(final, expected_state, strict=True):
        np.testing.assert_allclose(h, eh, atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(c, ec, atol=1e-5, rtol=1e-4)
