"""A Flax ``nnx`` model built from a :class:`~tasks.spec.ModelSpec`, parameters in the canonical layout.

The cells are written here rather than taken from ``flax.nnx``, with exactly the equations of
``backends.canonical``, each recurrent layer one ``jax.lax.scan`` over time (time-major). On a CPU each
step projects its own input (``x_t W + b + h U``, as Flax's ``OptimizedLSTMCell`` does); projecting every
step up front in one matmul (the GPU path) writes a (time, batch, gates) buffer through main memory and
measured 0.65-0.75x the speed of a Flax cell in training and about 0.4x in inference on a 2-core CPU.
Parameters keep the canonical shapes (``kernel`` (in, G*H), gates i,f,g,o / r,z,n), so loading weights is
a copy.

On a GPU, an LSTM without recurrent dropout in fp32 runs the fused cuDNN kernel from
``jax.experimental.rnn`` instead, one layer per call so that layer dropout stays ours.

The spiking LSTM is the LSTM scan with a Heaviside step for every gate; its gradient is the surrogate
derivative, attached with ``jax.custom_jvp`` so the forward pass is exactly the step.

Every layer takes an initial state and returns its final one, so consecutive sampling carries the encoder
state through the jitted step as a plain pytree (``None`` starts from zeros, which random sampling uses).

The scan cells (minGRU, minLSTM, RG-LRU) are :class:`ScanLayer`: ``jax.lax.associative_scan`` over the
(a, b) pairs of ``h_t = a_t h_{t-1} + b_t`` (``model.scan=parallel``) or ``jax.lax.scan`` over steps.

Dropout is explicit: the training forward pass takes a ``jax.random`` key and derives one key per
dropout site with ``fold_in``, so a build seed fixes every mask.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from backends.canonical import GATES
from tasks.spec import RGLRU_C, SPIKE_ALPHA, Dense, ModelSpec

# A layer's carried state: (h, c) for the LSTM kinds, h for rnn/gru; the model's is one per encoder layer.
State = Any


def dropout(key: jax.Array, x: jax.Array, rate: float, shape: tuple[int, ...] | None = None) -> jax.Array:
    """Inverted dropout; ``shape`` broadcasts one mask (e.g. (B, 1, F): one per sequence)."""
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, shape if shape is not None else x.shape)
    return x * (mask.astype(x.dtype) / jnp.asarray(keep, x.dtype))


@jax.custom_jvp
def spike(z: jax.Array) -> jax.Array:
    """Heaviside step ``z >= 0`` forward; the erf surrogate ``alpha/sqrt(pi) exp(-(alpha z)^2)`` backward."""
    return (z >= 0).astype(z.dtype)


@spike.defjvp
def _spike_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (z,), (dz,) = primals, tangents
    surrogate = (SPIKE_ALPHA / math.sqrt(math.pi)) * jnp.exp(-jnp.square(SPIKE_ALPHA * z))
    return spike(z), surrogate.astype(z.dtype) * dz


def zero_state(cell: str, batch: int, hidden_size: int, dtype, device: jax.Device | None = None) -> State:
    """One layer's initial state: (h, c) for the LSTM kinds, h for rnn/gru."""
    h = jnp.zeros((batch, hidden_size), dtype, device=device)
    return (h, jnp.zeros_like(h)) if cell in ("lstm", "spiking-lstm") else h


def encoder_zero_state(spec: ModelSpec, batch: int, dtype, device: jax.Device | None = None) -> State:
    """The encoder's initial state for consecutive sampling, one entry per encoder layer (a function of
    the spec, so the adapter needs no model instance to make it)."""
    return tuple(zero_state(spec.cell, batch, spec.hidden_size, dtype, device)
                 for _ in range(spec.num_layers))


def cudnn_lstm_weights(kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """One canonical LSTM layer as cuDNN's flat weight vector (``jax.experimental.rnn`` layout):
    W_ih (4H, in), W_hh (4H, H), b_ih, b_hh, gates i,f,g,o like canonical; b_hh is zero."""
    return jnp.concatenate([kernel.T.ravel(), recurrent_kernel.T.ravel(), bias, jnp.zeros_like(bias)])


class Recurrence(nnx.Module):
    """One recurrent layer (rnn/gru/lstm/spiking-lstm) with canonical parameters."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, unroll: int = 1) -> None:
        g = GATES[cell] * hidden_size
        self.cell, self.input_size, self.hidden_size, self.unroll = cell, input_size, hidden_size, unroll
        self.kernel = nnx.Param(jnp.zeros((input_size, g), jnp.float32))
        self.recurrent_kernel = nnx.Param(jnp.zeros((hidden_size, g), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((g,), jnp.float32))
        self.recurrent_bias = nnx.Param(jnp.zeros((g,), jnp.float32)) if cell == "gru" else None
        self.cudnn = False  # set by the adapter when the fused GPU kernel applies

    def __call__(self, x: jax.Array, mask: jax.Array | None = None, state: State | None = None,
                 steps: int = 0, per_step: bool = False) -> tuple[jax.Array, State]:
        """(batch, time, in) -> ((batch, time, hidden), final state). ``mask`` is the recurrent-dropout
        mask (B, H); ``state`` the initial state (zeros if None). ``steps > 0`` means ``x`` is one
        (batch, in) input repeated ``steps`` times (a decoder), projected once instead of per step.

        ``per_step`` projects each step's input inside the scan instead of all steps up front: the same
        arithmetic, without the (time, batch, gates) buffer (faster on a CPU; see the module's docstring)."""
        if self.cudnn and mask is None:
            if steps:
                x = jnp.broadcast_to(x[:, None], (x.shape[0], steps, x.shape[1]))
            return self._cudnn(x, state)
        dt = x.dtype
        kernel, bias = self.kernel[...].astype(dt), self.bias[...].astype(dt)
        per_step = per_step and not steps
        if steps:  # the same projection every step: one matmul, broadcast over time
            gi = jnp.broadcast_to(x @ kernel + bias, (steps, x.shape[0], kernel.shape[1]))
        elif per_step:  # time-major inputs, each projected inside its step
            gi = jnp.swapaxes(x, 0, 1)
        else:  # the input projection of all time steps at once, produced time-major for the scan
            gi = jnp.einsum("bti,ig->tbg", x, kernel) + bias

        def project(g: jax.Array) -> jax.Array:
            return g @ kernel + bias if per_step else g
        u = self.recurrent_kernel[...].astype(dt)
        carry = zero_state(self.cell, x.shape[0], self.hidden_size, dt) if state is None else state

        def recur(h: jax.Array) -> jax.Array:
            return (h * mask if mask is not None else h) @ u

        if self.cell == "lstm":
            def step(carry, g):
                h, c = carry
                i, f, gg, o = jnp.split(project(g) + recur(h), 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h
        elif self.cell == "spiking-lstm":
            def step(carry, g):
                h, c = carry
                i, f, gg, o = jnp.split(spike(project(g) + recur(h)), 4, axis=-1)
                c = f * c + i * gg
                h = o * c
                return (h, c), h
        elif self.cell == "gru":
            rb = self.recurrent_bias[...].astype(dt)

            def step(h, g):
                ir, iz, in_ = jnp.split(project(g), 3, axis=-1)
                hr, hz, hn = jnp.split(recur(h) + rb, 3, axis=-1)
                r, z = jax.nn.sigmoid(ir + hr), jax.nn.sigmoid(iz + hz)
                h = (1 - z) * jnp.tanh(in_ + r * hn) + z * h
                return h, h
        else:
            def step(h, g):
                h = jnp.tanh(project(g) + recur(h))
                return h, h
        final, ys = jax.lax.scan(step, carry, gi, unroll=self.unroll)
        return jnp.swapaxes(ys, 0, 1), final

    def _cudnn(self, x: jax.Array, state: State | None) -> tuple[jax.Array, State]:
        """The fused cuDNN LSTM (fp32, GPU only): weights packed as (W_ih, W_hh, b_ih, b_hh); the
        initial state goes in as cuDNN's (layers, B, H) h0/c0."""
        from jax.experimental import rnn

        b, h = x.shape[0], self.hidden_size
        weights = cudnn_lstm_weights(self.kernel[...], self.recurrent_kernel[...], self.bias[...])
        h0, c0 = zero_state(self.cell, b, h, x.dtype) if state is None else state
        lengths = jnp.full((b,), x.shape[1], jnp.int32)
        y, hn, cn = rnn.lstm(x, h0[None], c0[None], weights, lengths, input_size=self.input_size,
                             hidden_size=h, num_layers=1, dropout=0.0, bidirectional=False)
        return y, (hn[0], cn[0])


def scan_coefficients(cell: str, gates: jax.Array, lam: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """(a, b) of ``h_t = a_t h_{t-1} + b_t`` for a scan cell (equations in ``tasks.spec.ModelSpec``) from
    its input projection ``gates`` (..., G*H)."""
    if cell == "mingru":
        k, cand = jnp.split(gates, 2, axis=-1)
        return jax.nn.sigmoid(-k), jax.nn.sigmoid(k) * cand
    if cell == "minlstm":
        kf, ki, cand = jnp.split(gates, 3, axis=-1)
        f, i = jax.nn.sigmoid(kf), jax.nn.sigmoid(ki)
        return f / (f + i), i / (f + i) * cand
    kr, ki, u = jnp.split(gates, 3, axis=-1)
    log_a = -RGLRU_C * jax.nn.sigmoid(kr) * jax.nn.softplus(-lam)  # log(sigmoid(lam) ** (c r)), exact near 1
    return jnp.exp(log_a), jnp.sqrt(-jnp.expm1(2 * log_a)) * jax.nn.sigmoid(ki) * u


def _compose(first: tuple[jax.Array, jax.Array], second: tuple[jax.Array, jax.Array]
             ) -> tuple[jax.Array, jax.Array]:
    """Two steps of ``h -> a h + b`` as one: ``(a2 a1, a2 b1 + b2)``, the associative operator."""
    (a1, b1), (a2, b2) = first, second
    return a1 * a2, a2 * b1 + b2


class ScanLayer(nnx.Module):
    """One scan-cell layer (minGRU, minLSTM, RG-LRU): canonical ``kernel`` (in, G*H), ``bias`` and, for
    rglru, ``lam`` (the canonical ``lambda``). ``parallel`` runs ``jax.lax.associative_scan`` over the
    (a, b) pairs along time; otherwise ``jax.lax.scan`` steps ``h = a h + b``. Called like
    :class:`Recurrence`; the state is ``h``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, parallel: bool, unroll: int = 1) -> None:
        g = GATES[cell] * hidden_size
        self.cell, self.hidden_size, self.parallel, self.unroll = cell, hidden_size, parallel, unroll
        self.kernel = nnx.Param(jnp.zeros((input_size, g), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((g,), jnp.float32))
        self.lam = nnx.Param(jnp.zeros((hidden_size,), jnp.float32)) if cell == "rglru" else None
        self.cudnn = False  # no fused kernel exists for these cells

    def __call__(self, x: jax.Array, mask: jax.Array | None = None, state: State | None = None,
                 steps: int = 0, per_step: bool = False) -> tuple[jax.Array, State]:
        dt = x.dtype
        gates = x @ self.kernel[...].astype(dt) + self.bias[...].astype(dt)
        lam = self.lam[...].astype(dt) if self.lam is not None else None
        a, b = scan_coefficients(self.cell, gates, lam)
        if state is not None:  # h_0 = a_0 h_start + b_0
            b = b.at[:, 0].add(a[:, 0] * state)
        if self.parallel:
            _, ys = jax.lax.associative_scan(_compose, (a, b), axis=1)
            return ys, ys[:, -1]

        def step(h, ab):
            h = ab[0] * h + ab[1]
            return h, h
        h0 = jnp.zeros((x.shape[0], self.hidden_size), dt)
        final, ys = jax.lax.scan(step, h0, (jnp.swapaxes(a, 0, 1), jnp.swapaxes(b, 0, 1)), unroll=self.unroll)
        return jnp.swapaxes(ys, 0, 1), final


class RecurrentNet(nnx.Module):
    """Embedding or one-hot input, dropouts, stacked recurrent layers (and decoder layers) and a Dense
    head, as the spec says.

    ``dtype`` is the compute dtype (bf16/fp16 for mixed precision); parameters stay float32.
    """

    def __init__(self, spec: ModelSpec, dtype=jnp.float32, unroll: int = 1) -> None:
        self.spec, self.dtype = spec, dtype
        # zeros: real weights always come from set_weights (random placeholders cost seconds of compiling)
        rngs, zeros = nnx.Rngs(0), nnx.initializers.zeros
        self.embedding = (nnx.Embed(spec.vocab_size, spec.embed_dim, dtype=dtype, embedding_init=zeros,
                                    rngs=rngs)
                          if spec.input == "embedding" else None)
        h = spec.hidden_size
        if spec.scan_cell:
            parallel = spec.scan == "parallel"
            widths = [spec.input_size] + [h] * (spec.num_layers - 1)
            self.layers = nnx.List([ScanLayer(spec.cell, w, h, parallel, unroll) for w in widths])
        else:
            self.layers = nnx.List([Recurrence(spec.cell, spec.input_size if k == 0 else h, h, unroll)
                                    for k in range(spec.num_layers)])
        self.decoder = nnx.List([Recurrence(spec.cell, h, h, unroll)
                                 for _ in range(spec.decoder_layers if spec.decoder_steps else 0)])
        width = h
        dense = []
        for layer in spec.head:
            if isinstance(layer, Dense):
                dense.append(nnx.Linear(width, layer.units, dtype=dtype, kernel_init=zeros, bias_init=zeros,
                                        rngs=rngs))
                width = layer.units
        self.dense = nnx.List(dense)

    def use_cudnn(self, on: bool) -> None:
        for layer in (*self.layers, *self.decoder):
            layer.cudnn = on

    def __call__(self, x: jax.Array, key: jax.Array | None = None, state: State | None = None,
                 per_step: bool = False) -> tuple[jax.Array, State]:
        """(logits (float32), final encoder state) for token ids ``x`` (batch, time); ``key`` given means
        training mode; ``state`` (``encoder_zero_state`` or a previous call's) starts the encoder layers."""
        spec, dt = self.spec, self.dtype
        train = key is not None
        site = iter(range(10_000))

        def k() -> jax.Array:
            return jax.random.fold_in(key, next(site))

        def recurrent_mask(batch: int) -> jax.Array | None:
            if not (train and spec.recurrent_dropout):
                return None  # one mask per sequence on the carried hidden state
            return dropout(k(), jnp.ones((batch, spec.hidden_size), dt), spec.recurrent_dropout)

        embed = self.embedding
        h = embed(x) if embed is not None else jax.nn.one_hot(x, spec.vocab_size, dtype=dt)
        if train and spec.embed_dropout:
            h = dropout(k(), h, spec.embed_dropout)
        if train and spec.input_dropout:  # one mask per sequence, shared over time
            h = dropout(k(), h, spec.input_dropout, (h.shape[0], 1, h.shape[2]))
        final = []
        for i, layer in enumerate(self.layers):
            if i and train and spec.layer_dropout:
                h = dropout(k(), h, spec.layer_dropout)
            h, last = layer(h, recurrent_mask(h.shape[0]), None if state is None else state[i],
                            per_step=per_step)
            final.append(last)
        if self.decoder:
            # RepeatVector: the last output feeds every decoder step. Layer dropout acts between
            # decoder layers only, not between encoder and decoder (the spec's rule).
            h, steps = h[:, -1], spec.decoder_steps
            for j, layer in enumerate(self.decoder):
                if j and train and spec.layer_dropout:
                    h = dropout(k(), h, spec.layer_dropout)
                h, _ = layer(h, recurrent_mask(h.shape[0]), steps=steps, per_step=per_step)
                steps = 0
        if spec.output == "last":
            h = h[:, -1]
        dense = iter(self.dense)
        for layer in spec.head:
            if isinstance(layer, Dense):
                h = next(dense)(h)
                if layer.activation == "relu":
                    h = jax.nn.relu(h)
            elif train and layer.rate:
                h = dropout(k(), h, layer.rate)
        return h.astype(jnp.float32), tuple(final)
