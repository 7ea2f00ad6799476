"""JAX-specific checks beyond the shared conformance tests: what can be checked of the GPU path on a CPU
(cuDNN weight packing, fp16 loss scaling), optimizer rules against PyTorch's, and no recompilation."""

from __future__ import annotations

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
from backends.base import BackendError  # noqa: E402
from backends.jax import train  # noqa: E402
from backends.jax.adapter import JaxAdapter  # noqa: E402
from backends.jax.model import RecurrentNet, cudnn_lstm_weights  # noqa: E402
from tasks.spec import Recipe  # noqa: E402
from tests.conformance.test_adapters import RECIPE, batch, spec_for  # noqa: E402


def test_cudnn_weight_packing_matches_the_scan():
    """The flat vector handed to cuDNN, unpacked by JAX's own reference LSTM, gives the scan's outputs."""
    from jax.experimental import rnn

    spec = replace(spec_for("lstm"), num_layers=1)
    model = RecurrentNet(spec)
    w = canonical.init(spec, 1)
    layer = model.layers[0]
    layer.kernel[...], layer.recurrent_kernel[...] = w["rnn0/kernel"], w["rnn0/recurrent_kernel"]
    layer.bias[...] = w["rnn0/bias"]
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 7, spec.input_size)), jnp.float32)
    h = spec.hidden_size
    packed = cudnn_lstm_weights(layer.kernel[...], layer.recurrent_kernel[...], layer.bias[...])
    assert packed.shape == (rnn.get_num_params_in_lstm(spec.input_size, h, 1, False),)
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(packed, spec.input_size, h, 1, False)
    zeros = jnp.zeros((1, 4, h))
    expected, _, _ = rnn.lstm_ref(x, zeros, zeros, w_ih, w_hh, b_ih, b_hh, jnp.full((4,), 7, jnp.int32),
                                  spec.input_size, h, 1, 0.0, False)
    np.testing.assert_allclose(layer(x)[0], expected, atol=1e-6)
    # a carried state goes in as cuDNN's (layers, B, H) h0/c0 and comes back the same way
    h0, c0 = (jnp.asarray(np.random.default_rng(s).standard_normal((4, h)), jnp.float32) for s in (1, 2))
    expected, hn, cn = rnn.lstm_ref(x, h0[None], c0[None], w_ih, w_hh, b_ih, b_hh,
                                    jnp.full((4,), 7, jnp.int32), spec.input_size, h, 1, 0.0, False)
    y, (h_last, c_last) = layer(x, state=(h0, c0))
    np.testing.assert_allclose(y, expected, atol=1e-6)
    np.testing.assert_allclose(h_last, hn[0], atol=1e-6)
    np.testing.assert_allclose(c_last, cn[0], atol=1e-6)


def _torch_rule(recipe: Recipe, grads: list[np.ndarray], p: np.ndarray) -> np.ndarray:
    """PyTorch's Adam / RMSprop / SGD (after global-norm clipping), written out in NumPy."""
    m, v, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if recipe.clip_norm:
            g = g * min(1.0, recipe.clip_norm / (np.linalg.norm(g) + 1e-6))
        g = g + recipe.weight_decay * p
        if recipe.optimizer == "adam":
            m = recipe.beta1 * m + (1 - recipe.beta1) * g
            v = recipe.beta2 * v + (1 - recipe.beta2) * g * g
            denom = np.sqrt(v / (1 - recipe.beta2 ** t)) + recipe.eps
            p = p - recipe.lr * (m / (1 - recipe.beta1 ** t)) / denom
        elif recipe.optimizer == "rmsprop":
            v = recipe.rho * v + (1 - recipe.rho) * g * g
            step = g / (np.sqrt(v) + recipe.eps)
            if recipe.momentum:
                buf = recipe.momentum * buf + step
                step = buf
            p = p - recipe.lr * step
        else:
            if recipe.momentum:
                buf = g if t == 1 else recipe.momentum * buf + g
                g = buf
            p = p - recipe.lr * g
    return p


@pytest.mark.parametrize("recipe", [
    Recipe(optimizer="adam", lr=0.01, eps=1e-3, weight_decay=0.1, clip_norm=0.5),
    Recipe(optimizer="rmsprop", lr=0.01, rho=0.8, eps=1e-2, momentum=0.9, weight_decay=0.05),
    Recipe(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=0.01, clip_norm=1.0),
], ids=["adam", "rmsprop", "sgd"])
def test_optimizers_follow_pytorch_update_rules(recipe):
    import optax

    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(6).astype(np.float32)
    grads = [rng.standard_normal(6).astype(np.float32) for _ in range(4)]
    tx = train.optimizer(recipe)
    params = jnp.asarray(p0)
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params, _torch_rule(recipe, grads, p0.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)


def test_compiles_on_the_first_step_once():
    spec = spec_for("lstm", "binary")
    adapter = backends.create(backends.get("jax"), device="cpu")
    adapter.build(spec, RECIPE, 0)
    adapter.set_weights(canonical.init(spec, 0))
    assert adapter.compiled_steps() == 0  # nothing compiled in build
    x, y = batch(spec)
    adapter.losses([adapter.train_step(x, y) for _ in range(3)])
    adapter.set_lr(0.001)
    adapter.set_weights(adapter.get_weights())
    adapter.losses([adapter.train_step(x, y) for _ in range(3)])
    assert adapter.compiled_steps() == 1
    assert adapter.describe()["kernel_path"] == "scan" and adapter.describe()["xla_jit"] is True


def test_bf16_runs_close_to_fp32():
    spec = spec_for("gru")
    adapter = backends.create(backends.get("jax"), device="cpu", precision="bf16")
    adapter.build(spec, RECIPE, 0)
    adapter.set_weights(canonical.init(spec, 0))
    x, y = batch(spec)
    out = adapter.predict(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference.forward(spec, canonical.init(spec, 0), x), atol=0.05)
    assert np.all(np.isfinite(adapter.losses([adapter.train_step(x, y) for _ in range(3)])))
    assert adapter.describe()["precision"] == "bf16"


def test_fp16_needs_a_gpu():
    with pytest.raises(BackendError, match="fp16"):
        backends.create(backends.get("jax"), device="cpu", precision="fp16")


def test_fp16_loss_scaling_step_on_cpu():
    """The fp16 step's loss scaling, run on the CPU by skipping the GPU check: it learns, the scale stays
    finite, and an overflowing scale is halved instead of corrupting the weights."""
    spec = spec_for("lstm", "binary")
    adapter = JaxAdapter(device="cpu")
    adapter.precision, adapter.dtype = "fp16", jnp.float16
    adapter.build(spec, replace(RECIPE, lr=0.03), 0)
    adapter.set_weights(canonical.init(spec, 0))
    x, y = batch(spec)
    losses = adapter.losses([adapter.train_step(x, y) for _ in range(10)])
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    adapter.scaler = (jnp.float32(1e38), jnp.int32(0))  # scaled loss overflows fp32
    before = adapter.get_weights()
    adapter.losses([adapter.train_step(x, y)])
    assert float(adapter.scaler[0]) == pytest.approx(5e37)
    for k, v in adapter.get_weights().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert isinstance(nnx.merge(adapter.graphdef, adapter.params), RecurrentNet)
