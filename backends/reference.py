"""A NumPy forward pass of any :class:`~tasks.spec.ModelSpec` from canonical weights (inference mode).

It is the ground truth the conformance tests compare every adapter's ``predict`` with: written from the
equations in ``backends.canonical``, so a swapped gate or a transposed kernel in an adapter shows up as
a mismatch. Slow (a Python loop over time) but exact in float64.
"""

from __future__ import annotations

import numpy as np

from tasks.spec import Dense, ModelSpec


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _layer(spec: ModelSpec, w: dict[str, np.ndarray], k: int, x: np.ndarray) -> np.ndarray:
    kernel, recurrent = w[f"rnn{k}/kernel"], w[f"rnn{k}/recurrent_kernel"]
    bias, hidden = w[f"rnn{k}/bias"], spec.hidden_size
    h = np.zeros((x.shape[0], hidden))
    c = np.zeros_like(h)
    gi_all = x @ kernel + bias
    out = []
    for t in range(x.shape[1]):
        gi = gi_all[:, t]
        if spec.cell == "lstm":
            i, f, g, o = np.split(gi + h @ recurrent, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        elif spec.cell == "gru":
            gh = h @ recurrent + w[f"rnn{k}/recurrent_bias"]
            (ir, iz, in_), (hr, hz, hn) = np.split(gi, 3, axis=1), np.split(gh, 3, axis=1)
            r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
            h = (1 - z) * np.tanh(in_ + r * hn) + z * h
        else:
            h = np.tanh(gi + h @ recurrent)
        out.append(h)
    return np.stack(out, axis=1)


def forward(spec: ModelSpec, weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Logits for token ids ``x`` of shape (batch, time): (batch, out) or (batch, time, out)."""
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = w["embedding"][x] if spec.input == "embedding" else np.eye(spec.vocab_size)[x]
    for k in range(spec.num_layers):
        h = _layer(spec, w, k, h)
    if spec.output == "last":
        h = h[:, -1]
    dense = 0
    for layer in spec.head:
        if isinstance(layer, Dense):
            h = h @ w[f"dense{dense}/kernel"] + w[f"dense{dense}/bias"]
            if layer.activation == "relu":
                h = np.maximum(h, 0.0)
            dense += 1
    return h
