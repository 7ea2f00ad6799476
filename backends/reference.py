"""A NumPy forward pass of any :class:`~tasks.spec.ModelSpec` from canonical weights (inference mode).

It is the ground truth the conformance tests compare every adapter's ``predict`` with: written from the
equations in ``backends.canonical``, so a swapped gate or a transposed kernel in an adapter shows up as
a mismatch. Slow (a Python loop over time) but exact in float64.
"""

from __future__ import annotations

import numpy as np

from tasks.spec import RGLRU_C, Dense, ModelSpec


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def heaviside(z: np.ndarray) -> np.ndarray:
    """The spike: 1 where ``z >= 0`` (spikingjelly's ``heaviside``)."""
    return (z >= 0).astype(z.dtype)


State = list[tuple[np.ndarray, np.ndarray]]  # (h, c) per encoder layer; c is unused by rnn and gru


def scan_cell_step(cell: str, gates: np.ndarray, h: np.ndarray, lam: np.ndarray | None = None
                   ) -> np.ndarray:
    """One step of a scan cell, written as its paper writes it (not as ``a * h + b``): ``gates`` is the
    step's input projection ``x_t W + b`` (batch, G*H), ``h`` the previous state, ``lam`` rglru's Lambda.

    - mingru (Feng et al. 2024, eq. of section 3.1): ``z = sigmoid(.)``, ``h' = (1 - z) h + z h~``.
    - minlstm (section 3.2): ``f, i = sigmoid(.)``; ``f' = f/(f+i)``, ``i' = i/(f+i)``;
      ``h' = f' h + i' h~``.
    - rglru (De et al. 2024): ``r, i = sigmoid(.)``; ``a = sigmoid(Lambda)**(c r)``, c = 8;
      ``h' = a h + sqrt(1 - a^2) (i u)``.
    """
    if cell == "mingru":
        z, cand = np.split(gates, 2, axis=1)
        z = _sigmoid(z)
        return (1 - z) * h + z * cand
    if cell == "minlstm":
        f, i, cand = np.split(gates, 3, axis=1)
        f, i = _sigmoid(f), _sigmoid(i)
        return f / (f + i) * h + i / (f + i) * cand
    r, i, u = np.split(gates, 3, axis=1)
    a = _sigmoid(lam) ** (RGLRU_C * _sigmoid(r))
    return a * h + np.sqrt(1 - a * a) * (_sigmoid(i) * u)


def _layer(spec: ModelSpec, w: dict[str, np.ndarray], p: str, x: np.ndarray,
           state: tuple[np.ndarray, np.ndarray] | None = None
           ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    if spec.scan_cell:
        h = np.zeros((x.shape[0], spec.hidden_size)) if state is None else state[0].astype(np.float64)
        gates = x @ w[f"{p}/kernel"] + w[f"{p}/bias"]
        out = []
        for t in range(x.shape[1]):
            h = scan_cell_step(spec.cell, gates[:, t], h, w.get(f"{p}/lambda"))
            out.append(h)
        return np.stack(out, axis=1), (h, np.zeros_like(h))
    kernel, recurrent = w[f"{p}/kernel"], w[f"{p}/recurrent_kernel"]
    bias, hidden = w[f"{p}/bias"], spec.hidden_size
    h = np.zeros((x.shape[0], hidden)) if state is None else state[0].astype(np.float64)
    c = np.zeros_like(h) if state is None else state[1].astype(np.float64)
    gi_all = x @ kernel + bias
    out = []
    for t in range(x.shape[1]):
        gi = gi_all[:, t]
        if spec.cell == "spiking-lstm":
            i, f, g, o = np.split(heaviside(gi + h @ recurrent), 4, axis=1)
            c = f * c + i * g
            h = o * c
        elif spec.cell == "lstm":
            i, f, g, o = np.split(gi + h @ recurrent, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        elif spec.cell == "gru":
            gh = h @ recurrent + w[f"{p}/recurrent_bias"]
            (ir, iz, in_), (hr, hz, hn) = np.split(gi, 3, axis=1), np.split(gh, 3, axis=1)
            r, z = _sigmoid(ir + hr), _sigmoid(iz + hz)
            h = (1 - z) * np.tanh(in_ + r * hn) + z * h
        else:
            h = np.tanh(gi + h @ recurrent)
        out.append(h)
    return np.stack(out, axis=1), (h, c)


def forward(spec: ModelSpec, weights: dict[str, np.ndarray], x: np.ndarray,
            state: State | None = None, return_state: bool = False):
    """Logits for token ids ``x`` of shape (batch, time): (batch, out) or (batch, time, out).

    ``state`` starts the encoder layers from given (h, c) instead of zeros; with ``return_state`` the
    final encoder state comes back too, so a test can check a stateful adapter across calls.
    """
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    h = w["embedding"][x] if spec.input == "embedding" else np.eye(spec.vocab_size)[x]
    final: State = []
    for k in range(spec.num_layers):
        h, last = _layer(spec, w, f"rnn{k}", h, None if state is None else state[k])
        final.append(last)
    if spec.decoder_steps:
        h = np.repeat(h[:, -1:], spec.decoder_steps, axis=1)
        for k in range(spec.decoder_layers):
            h, _ = _layer(spec, w, f"dec{k}", h)
    if spec.output == "last":
        h = h[:, -1]
    dense = 0
    for layer in spec.head:
        if isinstance(layer, Dense):
            h = h @ w[f"dense{dense}/kernel"] + w[f"dense{dense}/bias"]
            if layer.activation == "relu":
                h = np.maximum(h, 0.0)
            dense += 1
    return (h, final) if return_state else h
