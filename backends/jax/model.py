"""A Flax ``nnx`` model built from a :class:`~tasks.spec.ModelSpec`, parameters in the canonical layout.

The cells are written here rather than taken from ``flax.nnx``: each recurrent layer computes the input
projection of every time step as one matmul and runs only the recurrent matmul inside ``jax.lax.scan``
(time-major), with exactly the equations of ``backends.canonical``. Parameters keep the canonical shapes
(``kernel`` (in, G*H), gates i,f,g,o / r,z,n), so loading weights is a copy.

On a GPU, an LSTM without recurrent dropout in fp32 runs the fused cuDNN kernel from
``jax.experimental.rnn`` instead, one layer per call so that layer dropout stays ours.

Dropout is explicit: the training forward pass takes a ``jax.random`` key and derives one key per
dropout site with ``fold_in``, so a build seed fixes every mask.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from backends.canonical import GATES
from tasks.spec import Dense, ModelSpec


def dropout(key: jax.Array, x: jax.Array, rate: float, shape: tuple[int, ...] | None = None) -> jax.Array:
    """Inverted dropout; ``shape`` broadcasts one mask (e.g. (B, 1, F): one per sequence)."""
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, shape if shape is not None else x.shape)
    return x * (mask.astype(x.dtype) / jnp.asarray(keep, x.dtype))


def cudnn_lstm_weights(kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """One canonical LSTM layer as cuDNN's flat weight vector (``jax.experimental.rnn`` layout):
    W_ih (4H, in), W_hh (4H, H), b_ih, b_hh, gates i,f,g,o like canonical; b_hh is zero."""
    return jnp.concatenate([kernel.T.ravel(), recurrent_kernel.T.ravel(), bias, jnp.zeros_like(bias)])


class Recurrence(nnx.Module):
    """One recurrent layer (rnn/gru/lstm) with canonical parameters."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, unroll: int = 1) -> None:
        g = GATES[cell] * hidden_size
        self.cell, self.input_size, self.hidden_size, self.unroll = cell, input_size, hidden_size, unroll
        self.kernel = nnx.Param(jnp.zeros((input_size, g), jnp.float32))
        self.recurrent_kernel = nnx.Param(jnp.zeros((hidden_size, g), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((g,), jnp.float32))
        self.recurrent_bias = nnx.Param(jnp.zeros((g,), jnp.float32)) if cell == "gru" else None
        self.cudnn = False  # set by the adapter when the fused GPU kernel applies

    def __call__(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """(batch, time, in) -> (batch, time, hidden); ``mask`` is the recurrent-dropout mask (B, H)."""
        if self.cudnn and mask is None:
            return self._cudnn(x)
        dt = x.dtype
        # the input projection of all time steps at once, produced time-major for the scan
        gi = jnp.einsum("bti,ig->tbg", x, self.kernel[...].astype(dt)) + self.bias[...].astype(dt)
        u = self.recurrent_kernel[...].astype(dt)
        h0 = jnp.zeros((x.shape[0], self.hidden_size), dt)

        def recur(h: jax.Array) -> jax.Array:
            return (h * mask if mask is not None else h) @ u

        if self.cell == "lstm":
            def step(carry, g):
                h, c = carry
                i, f, gg, o = jnp.split(g + recur(h), 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h
            carry = (h0, h0)
        elif self.cell == "gru":
            rb = self.recurrent_bias[...].astype(dt)

            def step(h, g):
                ir, iz, in_ = jnp.split(g, 3, axis=-1)
                hr, hz, hn = jnp.split(recur(h) + rb, 3, axis=-1)
                r, z = jax.nn.sigmoid(ir + hr), jax.nn.sigmoid(iz + hz)
                h = (1 - z) * jnp.tanh(in_ + r * hn) + z * h
                return h, h
            carry = h0
        else:
            def step(h, g):
                h = jnp.tanh(g + recur(h))
                return h, h
            carry = h0
        _, ys = jax.lax.scan(step, carry, gi, unroll=self.unroll)
        return jnp.swapaxes(ys, 0, 1)

    def _cudnn(self, x: jax.Array) -> jax.Array:
        """The fused cuDNN LSTM (fp32, GPU only): weights packed as (W_ih, W_hh, b_ih, b_hh)."""
        from jax.experimental import rnn

        b, h = x.shape[0], self.hidden_size
        weights = cudnn_lstm_weights(self.kernel[...], self.recurrent_kernel[...], self.bias[...])
        zeros = jnp.zeros((1, b, h), x.dtype)
        lengths = jnp.full((b,), x.shape[1], jnp.int32)
        y, _, _ = rnn.lstm(x, zeros, zeros, weights, lengths, input_size=self.input_size, hidden_size=h,
                           num_layers=1, dropout=0.0, bidirectional=False)
        return y


class RecurrentNet(nnx.Module):
    """Embedding or one-hot input, dropouts, stacked recurrent layers and a Dense head, as the spec says.

    ``dtype`` is the compute dtype (bf16/fp16 for mixed precision); parameters stay float32.
    """

    def __init__(self, spec: ModelSpec, dtype=jnp.float32, unroll: int = 1) -> None:
        self.spec, self.dtype = spec, dtype
        # zeros: real weights always come from set_weights (random placeholders cost seconds of compiling)
        rngs, zeros = nnx.Rngs(0), nnx.initializers.zeros
        self.embedding = (nnx.Embed(spec.vocab_size, spec.embed_dim, dtype=dtype, embedding_init=zeros,
                                    rngs=rngs)
                          if spec.input == "embedding" else None)
        width = spec.input_size
        layers = []
        for _ in range(spec.num_layers):
            layers.append(Recurrence(spec.cell, width, spec.hidden_size, unroll))
            width = spec.hidden_size
        self.layers = nnx.List(layers)
        dense = []
        for layer in spec.head:
            if isinstance(layer, Dense):
                dense.append(nnx.Linear(width, layer.units, dtype=dtype, kernel_init=zeros, bias_init=zeros,
                                        rngs=rngs))
                width = layer.units
        self.dense = nnx.List(dense)

    def use_cudnn(self, on: bool) -> None:
        for layer in self.layers:
            layer.cudnn = on

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
        """Logits (float32) for token ids ``x`` (batch, time); ``key`` given means training mode."""
        spec, dt = self.spec, self.dtype
        train = key is not None
        site = iter(range(10_000))

        def k() -> jax.Array:
            return jax.random.fold_in(key, next(site))

        embed = self.embedding
        h = embed(x) if embed is not None else jax.nn.one_hot(x, spec.vocab_size, dtype=dt)
        if train and spec.embed_dropout:
            h = dropout(k(), h, spec.embed_dropout)
        if train and spec.input_dropout:  # one mask per sequence, shared over time
            h = dropout(k(), h, spec.input_dropout, (h.shape[0], 1, h.shape[2]))
        for i, layer in enumerate(self.layers):
            if i and train and spec.layer_dropout:
                h = dropout(k(), h, spec.layer_dropout)
            mask = None
            if train and spec.recurrent_dropout:  # one mask per sequence on the carried hidden state
                ones = jnp.ones((h.shape[0], spec.hidden_size), dt)
                mask = dropout(k(), ones, spec.recurrent_dropout)
            h = layer(h, mask)
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
        return h.astype(jnp.float32)
