"""Keras layer weights <-> canonical weights (``backends.canonical``).

Keras kernels are (in, G*H) with ``y = x @ kernel + bias`` like the canonical format. LSTM gates are
i, f, c, o (the canonical order) with one bias, and so are the spiking LSTM cell's; SimpleRNN has one bias.
GRU (``reset_after=True``) stacks its gates z, r, h while the canonical order is r, z, n, so the first two
column blocks are swapped both ways, and its bias is (2, 3H): row 0 the input bias, row 1 the recurrent
bias. Recurrent layers are named by their canonical prefix (``rnn{k}``, ``dec{k}``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backends import canonical
from backends.keras.model import dense_layer_name
from tasks.spec import Dense, ModelSpec


def _swap_zr(a: np.ndarray, hidden: int) -> np.ndarray:
    """Swap the first two gate blocks along the last axis (r,z,n <-> z,r,h); its own inverse."""
    return np.concatenate([a[..., hidden : 2 * hidden], a[..., :hidden], a[..., 2 * hidden :]], axis=-1)


def _cells(spec: ModelSpec, model: Any) -> list[tuple[str, Any]]:
    """(canonical prefix, Keras cell) of every recurrent layer (a scan-cell layer is its own cell)."""
    layers = [(p, model.get_layer(p)) for p, _ in canonical.recurrent_layers(spec)]
    return layers if spec.scan_cell else [(p, layer.cell) for p, layer in layers]


def _denses(spec: ModelSpec, model: Any) -> list[Any]:
    n = sum(isinstance(layer, Dense) for layer in spec.head)
    return [model.get_layer(dense_layer_name(k)) for k in range(n)]


def to_canonical(spec: ModelSpec, model: Any) -> dict[str, np.ndarray]:
    def np_(v: Any) -> np.ndarray:
        return np.array(v.numpy(), dtype=np.float32)

    out: dict[str, np.ndarray] = {}
    if spec.input == "embedding":
        out["embedding"] = np_(model.get_layer("embedding").embeddings)
    h = spec.hidden_size
    for p, cell in _cells(spec, model):
        if spec.scan_cell:
            out[f"{p}/kernel"], out[f"{p}/bias"] = np_(cell.kernel), np_(cell.bias)
            if cell.lam is not None:
                out[f"{p}/lambda"] = np_(cell.lam)
            continue
        kernel, recurrent, bias = np_(cell.kernel), np_(cell.recurrent_kernel), np_(cell.bias)
        if spec.cell == "gru":
            out[f"{p}/kernel"] = _swap_zr(kernel, h)
            out[f"{p}/recurrent_kernel"] = _swap_zr(recurrent, h)
            out[f"{p}/bias"] = _swap_zr(bias[0], h)
            out[f"{p}/recurrent_bias"] = _swap_zr(bias[1], h)
        else:
            out[f"{p}/kernel"], out[f"{p}/recurrent_kernel"] = kernel, recurrent
            out[f"{p}/bias"] = bias
    for k, dense in enumerate(_denses(spec, model)):
        out[f"dense{k}/kernel"] = np_(dense.kernel)
        out[f"dense{k}/bias"] = np_(dense.bias)
    return out


def from_canonical(spec: ModelSpec, model: Any, weights: dict[str, np.ndarray]) -> None:
    canonical.check(spec, weights)

    def put(variable: Any, value: np.ndarray) -> None:
        variable.assign(np.ascontiguousarray(value, dtype=np.float32))

    if spec.input == "embedding":
        put(model.get_layer("embedding").embeddings, weights["embedding"])
    h = spec.hidden_size
    for p, cell in _cells(spec, model):
        if spec.scan_cell:
            put(cell.kernel, weights[f"{p}/kernel"])
            put(cell.bias, weights[f"{p}/bias"])
            if cell.lam is not None:
                put(cell.lam, weights[f"{p}/lambda"])
            continue
        kernel, recurrent, bias = (weights[f"{p}/{n}"] for n in ("kernel", "recurrent_kernel", "bias"))
        if spec.cell == "gru":
            put(cell.kernel, _swap_zr(kernel, h))
            put(cell.recurrent_kernel, _swap_zr(recurrent, h))
            put(cell.bias, np.stack([_swap_zr(bias, h), _swap_zr(weights[f"{p}/recurrent_bias"], h)]))
        else:
            put(cell.kernel, kernel)
            put(cell.recurrent_kernel, recurrent)
            put(cell.bias, bias)
    for k, dense in enumerate(_denses(spec, model)):
        put(dense.kernel, weights[f"dense{k}/kernel"])
        put(dense.bias, weights[f"dense{k}/bias"])
