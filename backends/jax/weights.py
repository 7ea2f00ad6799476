"""Flax parameters <-> canonical weights (``backends.canonical``).

The model keeps the canonical layout: recurrent layers (encoder ``rnn{l}``, decoder ``dec{l}``) store
``kernel`` (in, G*H), ``recurrent_kernel`` (H, G*H), ``bias`` and (GRU) ``recurrent_bias`` in the canonical
gate order (spiking-lstm's are the LSTM's); ``nnx.Linear`` stores ``kernel`` (in, out) and ``nnx.Embed``
``embedding`` (vocab, dim). Conversion is a copy.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from backends import canonical
from backends.jax.model import RecurrentNet


def _params(model: RecurrentNet) -> dict[str, object]:
    """Canonical name -> the ``nnx.Param`` that holds it."""
    out: dict[str, object] = {}
    if model.embedding is not None:
        out["embedding"] = model.embedding.embedding
    layers = [(f"rnn{k}", layer) for k, layer in enumerate(model.layers)]
    layers += [(f"dec{k}", layer) for k, layer in enumerate(model.decoder)]
    for prefix, layer in layers:
        out[f"{prefix}/kernel"] = layer.kernel
        if getattr(layer, "recurrent_kernel", None) is not None:  # scan cells have none
            out[f"{prefix}/recurrent_kernel"] = layer.recurrent_kernel
        out[f"{prefix}/bias"] = layer.bias
        if getattr(layer, "recurrent_bias", None) is not None:
            out[f"{prefix}/recurrent_bias"] = layer.recurrent_bias
        if getattr(layer, "lam", None) is not None:  # rglru's Lambda
            out[f"{prefix}/lambda"] = layer.lam
    for k, linear in enumerate(model.dense):
        out[f"dense{k}/kernel"] = linear.kernel
        out[f"dense{k}/bias"] = linear.bias
    return out


def to_canonical(model: RecurrentNet) -> dict[str, np.ndarray]:
    return {name: np.array(param[...], dtype=np.float32) for name, param in _params(model).items()}


def from_canonical(model: RecurrentNet, weights: dict[str, np.ndarray]) -> None:
    canonical.check(model.spec, weights)
    for name, param in _params(model).items():
        param[...] = jnp.asarray(np.asarray(weights[name], dtype=np.float32))
