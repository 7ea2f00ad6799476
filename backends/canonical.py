"""The canonical, framework-free weight format, and weight initialisation drawn once in NumPy.

Every adapter loads and exports exactly these arrays (float32), mapping its own layout and gate order:

=====================================  ==================  ==============================================
name                                   shape               meaning
=====================================  ==================  ==============================================
``embedding``                          (vocab, embed)      token embedding (``input="embedding"`` only)
``rnn{l}/kernel``                      (in, G*H)           input-to-hidden, gates stacked along columns
``rnn{l}/recurrent_kernel``            (H, G*H)            hidden-to-hidden
``rnn{l}/bias``                        (G*H,)              input-side bias (the only bias of rnn/lstm)
``rnn{l}/recurrent_bias``              (G*H,)              GRU only: bias inside the reset product
``rnn{l}/lambda``                      (H,)                rglru only: Lambda, a = sigmoid(Lambda)
``dec{l}/...``                         as ``rnn{l}/...``   decoder layers (``decoder_steps > 0``); dec0
                                                           reads the encoder's repeated last output (H)
``dense{k}/kernel``                    (in, out)           k-th Dense layer of the head
``dense{k}/bias``                      (out,)
=====================================  ==================  ==============================================

``y = x @ kernel + bias`` throughout. Gate blocks, G per cell: rnn (tanh) 1; lstm 4 in the order
input, forget, cell candidate, output (PyTorch's i,f,g,o = Keras' i,f,c,o), and so has spiking-lstm;
gru 3 in the order reset, update, new (PyTorch's r,z,n) with ``n = tanh(x W_n + b_n + r * (h U_n + rb_n))``
and ``h' = (1 - z) * n + z * h`` (Keras' ``reset_after=True``). PyTorch's and MXNet's two LSTM/RNN biases
are loaded as (bias, 0) and the second is frozen at 0: both would get the same gradient, so training
both would move their sum at twice the learning rate of the one-bias model (Keras', the seeds'). The
parity check caught exactly that.

The scan cells (``tasks.spec.SCAN_CELLS``) have no ``recurrent_kernel``: their gates read the input only.
Blocks: mingru 2 (z, h~), minlstm 3 (f, i, h~), rglru 3 (r, i, u) plus ``lambda``; equations in
``tasks.spec.ModelSpec``. Their kernel and bias follow the spec's ``init`` scheme (one bias, so "torch" draws
it once); ``lambda`` always takes Griffin's initialisation, ``a**c`` uniform in [0.9, 0.999] (slow decay:
the memory the cell is built for), whatever the scheme.

Drawing the initial weights here, once, means every backend starts from the same distribution, and
from the very same values for the same seed.
"""

from __future__ import annotations

import numpy as np

from tasks.spec import RGLRU_C, SCAN_CELLS, Dense, ModelSpec

GATES = {"rnn": 1, "gru": 3, "lstm": 4, "spiking-lstm": 4, "mingru": 2, "minlstm": 3, "rglru": 3}
RGLRU_DECAY = (0.9, 0.999)  # Griffin: Lambda initialised so that a**c is uniform in this range


def recurrent_layers(spec: ModelSpec) -> list[tuple[str, int]]:
    """(name prefix, input width) of every recurrent layer in order: ``rnn0..``, then ``dec0..``."""
    h = spec.hidden_size
    layers = [(f"rnn{k}", spec.input_size if k == 0 else h) for k in range(spec.num_layers)]
    if spec.decoder_steps:
        layers += [(f"dec{k}", h) for k in range(spec.decoder_layers)]
    return layers


def shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every canonical weight of ``spec``, in a fixed order."""
    out: dict[str, tuple[int, ...]] = {}
    if spec.input == "embedding":
        out["embedding"] = (spec.vocab_size, spec.embed_dim)
    g, h = GATES[spec.cell], spec.hidden_size
    for prefix, width in recurrent_layers(spec):
        out[f"{prefix}/kernel"] = (width, g * h)
        if spec.cell not in SCAN_CELLS:
            out[f"{prefix}/recurrent_kernel"] = (h, g * h)
        out[f"{prefix}/bias"] = (g * h,)
        if spec.cell == "gru":
            out[f"{prefix}/recurrent_bias"] = (g * h,)
        if spec.cell == "rglru":
            out[f"{prefix}/lambda"] = (h,)
    width = h
    for k, dense in enumerate(d for d in spec.head if isinstance(d, Dense)):
        out[f"dense{k}/kernel"] = (width, dense.units)
        out[f"dense{k}/bias"] = (dense.units,)
        width = dense.units
    return out


def param_count(spec: ModelSpec) -> int:
    return int(sum(np.prod(s) for s in shapes(spec).values()))


def _glorot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    limit = np.sqrt(6.0 / (shape[0] + shape[1]))
    return rng.uniform(-limit, limit, shape)


def _orthogonal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q.T if rows < cols else q


def rglru_lambda(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Griffin's Lambda: ``a = sigmoid(Lambda)`` with ``a**c`` uniform in ``RGLRU_DECAY``, so every unit
    starts with a slow decay (a time constant of 10 to 1000 steps at r = 1)."""
    a = rng.uniform(*RGLRU_DECAY, shape) ** (1.0 / RGLRU_C)
    return np.log(a) - np.log1p(-a)


def init(spec: ModelSpec, seed: int) -> dict[str, np.ndarray]:
    """Initial canonical weights for ``spec`` under its ``init`` scheme, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    h = spec.hidden_size
    weights: dict[str, np.ndarray] = {}
    for name, shape in shapes(spec).items():
        kind = name.split("/")[-1]
        if kind == "lambda":
            w = rglru_lambda(rng, shape)
        elif spec.init == "uniform":
            w = rng.uniform(-spec.init_scale, spec.init_scale, shape)
        elif spec.init == "keras":
            if name == "embedding":
                w = rng.uniform(-0.05, 0.05, shape)
            elif kind == "recurrent_kernel":
                w = _orthogonal(rng, shape)
            elif kind == "kernel":
                w = _glorot(rng, shape)
            else:
                w = np.zeros(shape)
                if spec.cell == "lstm" and name.startswith(("rnn", "dec")) and kind == "bias":
                    w[h : 2 * h] = 1.0  # unit forget bias
        else:  # PyTorch's defaults
            if name == "embedding":
                w = rng.standard_normal(shape)
            elif name.startswith(("rnn", "dec")):
                bound = 1.0 / np.sqrt(h)
                w = rng.uniform(-bound, bound, shape)
                if kind == "bias" and spec.cell not in ("gru", *SCAN_CELLS):  # PyTorch's b_ih + b_hh
                    w = w + rng.uniform(-bound, bound, shape)
            else:
                fan_in = shapes(spec)[name.replace("/bias", "/kernel")][0]
                bound = 1.0 / np.sqrt(fan_in)
                w = rng.uniform(-bound, bound, shape)
        weights[name] = w.astype(np.float32)
    return weights


def _prefix(layer: int | str) -> str:
    return f"rnn{layer}" if isinstance(layer, int) else layer


def split_biases(spec: ModelSpec, weights: dict[str, np.ndarray], layer: int | str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(input-side, recurrent-side) biases of ``layer`` (an encoder index or a prefix such as ``dec0``)
    for cuDNN's two-bias layout (PyTorch, MXNet)."""
    p = _prefix(layer)
    bias = weights[f"{p}/bias"]
    if spec.cell == "gru":
        return bias, weights[f"{p}/recurrent_bias"]
    return bias, np.zeros_like(bias)


def join_biases(spec: ModelSpec, layer: int | str, input_bias: np.ndarray, recurrent_bias: np.ndarray
                ) -> dict[str, np.ndarray]:
    """Canonical bias entries of ``layer`` from cuDNN's two biases (summed where the spec has one)."""
    p = _prefix(layer)
    if spec.cell == "gru":
        return {f"{p}/bias": input_bias, f"{p}/recurrent_bias": recurrent_bias}
    return {f"{p}/bias": input_bias + recurrent_bias}


def check(spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
    """Raise ``ValueError`` naming the first weight that is missing, extra or of the wrong shape."""
    expected = shapes(spec)
    missing = expected.keys() - weights.keys()
    extra = weights.keys() - expected.keys()
    if missing or extra:
        raise ValueError(f"canonical weights: missing {sorted(missing)}, unexpected {sorted(extra)}")
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise ValueError(f"canonical weight {name}: shape {weights[name].shape}, expected {shape}")


def save(path: str, weights: dict[str, np.ndarray]) -> None:
    np.savez(path, **weights)


def load(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
