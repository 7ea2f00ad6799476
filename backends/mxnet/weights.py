"""Gluon parameters <-> canonical weights (``backends.canonical``).

Gluon's fused RNN layers (and :class:`~backends.mxnet.model.LoopRecurrence`) store ``l{k}_i2h_weight`` as
(G*H, in), i.e. the canonical kernel transposed, and ``l{k}_h2h_weight`` as (G*H, H), in the canonical gate
order (LSTM i,f,c,o; GRU r,z,n with the reset applied after the h2h matmul, like cuDNN). LSTM and RNN
have two biases that the canonical format sums; GRU's ``h2h_bias`` is the canonical ``recurrent_bias``.
``nn.Dense`` stores (out, in), the transposed canonical kernel. The spiking LSTM has the LSTM's layout.
Canonical ``rnn{k}/...`` are layer k of ``model.rnn``, ``dec{k}/...`` layer k of the decoder ``model.dec``.
"""

from __future__ import annotations

import mxnet as mx
import numpy as np

from backends import canonical


def _np(param) -> np.ndarray:
    return param.data().asnumpy().astype(np.float32, copy=True)


def _recurrent(model):
    """(canonical prefix, Gluon recurrence, layer index in it) of every recurrent layer."""
    for prefix, _ in canonical.recurrent_layers(model.spec):
        yield prefix, model.dec if prefix.startswith("dec") else model.rnn, int(prefix[3:])


def to_canonical(model) -> dict[str, np.ndarray]:
    spec = model.spec
    out: dict[str, np.ndarray] = {}
    if model.embedding is not None:
        out["embedding"] = _np(model.embedding.weight)
    for p, rnn, k in _recurrent(model):
        if spec.scan_cell:  # no h2h weights; rglru's Lambda
            out[f"{p}/kernel"] = _np(getattr(rnn, f"l{k}_i2h_weight")).T.copy()
            out[f"{p}/bias"] = _np(getattr(rnn, f"l{k}_i2h_bias"))
            if spec.cell == "rglru":
                out[f"{p}/lambda"] = _np(getattr(rnn, f"l{k}_lambda"))
            continue
        out[f"{p}/kernel"] = _np(getattr(rnn, f"l{k}_i2h_weight")).T.copy()
        out[f"{p}/recurrent_kernel"] = _np(getattr(rnn, f"l{k}_h2h_weight")).T.copy()
        out.update(canonical.join_biases(spec, p, _np(getattr(rnn, f"l{k}_i2h_bias")),
                                         _np(getattr(rnn, f"l{k}_h2h_bias"))))
    for k, dense in enumerate(model.denses()):
        out[f"dense{k}/kernel"] = _np(dense.weight).T.copy()
        out[f"dense{k}/bias"] = _np(dense.bias)
    return out


def from_canonical(model, weights: dict[str, np.ndarray], ctx: mx.Context) -> None:
    spec = model.spec
    canonical.check(spec, weights)

    def put(param, value: np.ndarray) -> None:
        param.set_data(mx.nd.array(np.ascontiguousarray(value), ctx=ctx, dtype=param.dtype))

    if model.embedding is not None:
        put(model.embedding.weight, weights["embedding"])
    for p, rnn, k in _recurrent(model):
        if spec.scan_cell:
            put(getattr(rnn, f"l{k}_i2h_weight"), weights[f"{p}/kernel"].T)
            put(getattr(rnn, f"l{k}_i2h_bias"), weights[f"{p}/bias"])
            if spec.cell == "rglru":
                put(getattr(rnn, f"l{k}_lambda"), weights[f"{p}/lambda"])
            continue
        put(getattr(rnn, f"l{k}_i2h_weight"), weights[f"{p}/kernel"].T)
        put(getattr(rnn, f"l{k}_h2h_weight"), weights[f"{p}/recurrent_kernel"].T)
        b_ih, b_hh = canonical.split_biases(spec, weights, p)
        put(getattr(rnn, f"l{k}_i2h_bias"), b_ih)
        put(getattr(rnn, f"l{k}_h2h_bias"), b_hh)
    for k, dense in enumerate(model.denses()):
        put(dense.weight, weights[f"dense{k}/kernel"].T)
        put(dense.bias, weights[f"dense{k}/bias"])
