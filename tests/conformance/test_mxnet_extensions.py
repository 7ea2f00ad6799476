"""MXNet-specific checks of the extensions beyond the shared ones (test_extensions.py): the surrogate
spike itself, state carried through the per-step loop (spiking LSTM, recurrent dropout) and through an
encoder-decoder, and that the fused kernel stays in use when the state is carried.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("mxnet")

import mxnet as mx  # noqa: E402
from mxnet import autograd  # noqa: E402

from backends import canonical, reference  # noqa: E402
from backends.mxnet.model import spike  # noqa: E402
from tasks.spec import SPIKE_ALPHA, Dense, ModelSpec, Recipe  # noqa: E402
from tests.conformance.test_adapters import batch, make  # noqa: E402

CONSECUTIVE = Recipe(optimizer="sgd", lr=0.0, batch_size=8, sampling="consecutive")


def test_spike_is_heaviside_forward_and_the_surrogate_backward():
    z = np.array([-2.0, -0.3, -1e-7, 0.0, 1e-7, 0.4, 3.0], dtype=np.float32)
    for F in (mx.nd, mx.sym):
        zs = mx.nd.array(z) if F is mx.nd else None
        if F is mx.sym:  # the hybridized graph: the same function through the symbolic API
            var = mx.sym.var("z")
            exe = spike(mx.sym, var).simple_bind(mx.cpu(), z=z.shape)
            out = exe.forward(is_train=True, z=mx.nd.array(z))[0]
            exe.backward(mx.nd.ones(z.shape))
            grad = exe.grad_dict["z"]
        else:
            zs.attach_grad()
            with autograd.record():
                out = spike(mx.nd, zs)
            out.backward()
            grad = zs.grad
        np.testing.assert_array_equal(out.asnumpy(), (z >= 0).astype(np.float32))
        expected = SPIKE_ALPHA / np.sqrt(np.pi) * np.exp(-(SPIKE_ALPHA * z) ** 2)
        np.testing.assert_allclose(grad.asnumpy(), expected, rtol=1e-5, atol=1e-7)


def _spec(cell: str, **kw) -> ModelSpec:
    base = ModelSpec(cell=cell, vocab_size=11, input="onehot", hidden_size=6, num_layers=2,
                     head=(Dense(11),), output="sequence", init="torch")
    return replace(base, **kw)


@pytest.mark.parametrize("spec", [_spec("spiking-lstm"), _spec("lstm", recurrent_dropout=0.3),
                                  _spec("gru", recurrent_dropout=0.3)], ids=["spiking", "lstm-rd", "gru-rd"])
def test_the_loop_carries_the_state_between_calls(spec):
    adapter = make("mxnet", spec, recipe=CONSECUTIVE)
    assert adapter.describe()["kernel_path"] == "loop"
    weights = canonical.init(spec, 0)
    x, y = batch(spec, steps=9)
    whole = reference.forward(spec, weights, x)
    adapter.reset_state()
    np.testing.assert_allclose(adapter.predict(x[:, :5]), whole[:, :5], atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(adapter.predict(x[:, 5:]), whole[:, 5:], atol=1e-5, rtol=1e-4)
    if spec.recurrent_dropout:
        return  # a training step drops units of the state it carries
    adapter.reset_state()
    adapter.losses([adapter.train_step(x[:, :5], y[:, :5])])  # lr 0
    np.testing.assert_allclose(adapter.predict(x[:, 5:]), whole[:, 5:], atol=1e-5, rtol=1e-4)


def test_a_new_batch_size_starts_from_zeros():
    spec = _spec("lstm")
    adapter = make("mxnet", spec, recipe=CONSECUTIVE)
    x, _ = batch(spec, steps=8)
    adapter.predict(x[:, :4])
    expected = reference.forward(spec, canonical.init(spec, 0), x[:3, 4:])
    np.testing.assert_allclose(adapter.predict(x[:3, 4:]), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "spiking-lstm"])
def test_a_stateful_encoder_decoder_decodes_the_whole_sequence(cell):
    """The decoder reads the encoder's last output, so the second half's prediction, continuing the
    first half's state, is the prediction for the whole sequence; the decoder itself starts at zeros."""
    spec = _spec(cell, decoder_steps=3, decoder_layers=2, num_layers=1)
    adapter = make("mxnet", spec, recipe=CONSECUTIVE)
    weights = canonical.init(spec, 0)
    assert set(adapter.get_weights()) == set(canonical.shapes(spec))
    x, _ = batch(spec, steps=8)
    whole = reference.forward(spec, weights, x)
    adapter.reset_state()
    adapter.predict(x[:, :3])
    np.testing.assert_allclose(adapter.predict(x[:, 3:]), whole, atol=1e-5, rtol=1e-4)


def test_carried_state_keeps_the_fused_kernel_and_stays_on_the_device():
    spec = _spec("lstm", input="embedding", embed_dim=4)
    adapter = make("mxnet", spec, recipe=CONSECUTIVE)
    assert adapter.describe()["kernel_path"] == "fused"
    x, y = batch(spec, steps=6)
    adapter.reset_state()
    adapter.losses([adapter.train_step(x, y)])
    h, c = adapter._state
    assert isinstance(h, mx.nd.NDArray) and h.shape == c.shape == (2, 8, 6)
    assert h.context == adapter.ctx


def test_random_sampling_graphs_take_no_state():
    spec = _spec("lstm")
    adapter = make("mxnet", spec, recipe=replace(CONSECUTIVE, sampling="random"))
    x, y = batch(spec, steps=6)
    adapter.losses([adapter.train_step(x, y)])
    adapter.predict(x)
    assert adapter._state == []
    assert len(adapter.train_net._cached_graph[0]) == 2  # x and y only
    assert len(adapter.net._cached_graph[0]) == 1
    adapter.reset_state()  # does nothing, raises nothing
