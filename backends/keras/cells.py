"""The spiking LSTM (spikingjelly's SpikingLSTM, see ``tasks.spec.ModelSpec``) as a Keras RNN cell.

It is ``keras.layers.LSTMCell`` with its step replaced: the same weights (``kernel``, ``recurrent_kernel``,
one ``bias`` in the i, f, c, o layout), initializers, dropout masks and config, driven by
``keras.layers.RNN``'s generic loop. Written with ``keras.ops`` only, so one cell runs on TensorFlow, JAX
and PyTorch; no backend has a fused kernel for it.

Also the scan cells (minGRU, minLSTM, RG-LRU) as one layer, :func:`scan_rnn`, in ``keras.ops`` alone:
``keras.ops.associative_scan`` (all three Keras backends have it) or ``keras.ops.scan``.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from backends.canonical import GATES
from tasks.spec import RGLRU_C, SPIKE_ALPHA


def spike(keras: ModuleType, z: Any, alpha: float = SPIKE_ALPHA) -> Any:
    """Heaviside ``H(z)`` forward, the derivative of ``s(z) = erfc(-alpha z) / 2`` backward.

    ``s - stop_gradient(s)`` is exactly 0, so the forward value is exactly ``H(z)`` while the gradient is
    ``s'(z) = alpha / sqrt(pi) * exp(-(alpha z)^2)``: a surrogate gradient without a custom-gradient API
    (each Keras backend has its own).
    """
    ops = keras.ops
    surrogate = ops.multiply(ops.erfc(ops.multiply(z, -alpha)), 0.5)
    step = ops.cast(ops.greater_equal(z, 0), z.dtype)
    return ops.add(step, ops.subtract(surrogate, ops.stop_gradient(surrogate)))


@functools.cache
def spiking_lstm_cell(keras: ModuleType) -> type:
    """The cell class for this ``keras`` module (one per Keras backend the process has loaded)."""

    class SpikingLSTMCell(keras.layers.LSTMCell):
        """``gates = H(x W + h U + b)``; ``c' = f*c + i*g``; ``h' = o*c'`` (no tanh anywhere).

        Dropout as Keras' LSTM: one input mask and one recurrent mask per sequence, each shared by the
        four gates (Keras' own cell draws four recurrent masks, one per gate, through a slower path).
        """

        def __init__(self, units: int, **kwargs: Any) -> None:
            super().__init__(units, **kwargs)
            self.implementation, self.dropout_mask_count = 2, None

        def call(self, inputs, states, training=False):
            ops = keras.ops
            h, c = states[0], states[1]
            if training and 0.0 < self.dropout < 1.0:
                inputs = inputs * self.get_dropout_mask(inputs)
            if training and 0.0 < self.recurrent_dropout < 1.0:
                h = h * self.get_recurrent_dropout_mask(h)
            z = ops.add(ops.matmul(inputs, self.kernel), ops.matmul(h, self.recurrent_kernel))
            if self.use_bias:
                z = ops.add(z, self.bias)
            i, f, g, o = ops.split(spike(keras, z), 4, axis=-1)
            c = f * c + i * g
            h = o * c
            return h, [h, c]

    return SpikingLSTMCell


def scan_coefficients(keras: ModuleType, cell: str, gates: Any, lam: Any) -> tuple[Any, Any]:
    """(a, b) of ``h_t = a_t h_{t-1} + b_t`` for a scan cell (equations in ``tasks.spec.ModelSpec``) from
    its input projection ``gates`` (..., G*H), in ``keras.ops``."""
    ops = keras.ops
    if cell == "mingru":
        k, cand = ops.split(gates, 2, axis=-1)
        return ops.sigmoid(-k), ops.sigmoid(k) * cand
    if cell == "minlstm":
        kf, ki, cand = ops.split(gates, 3, axis=-1)
        f, i = ops.sigmoid(kf), ops.sigmoid(ki)
        return f / (f + i), i / (f + i) * cand
    kr, ki, u = ops.split(gates, 3, axis=-1)
    log_a = -RGLRU_C * ops.sigmoid(kr) * ops.softplus(-lam)  # log(sigmoid(lam) ** (c r)), exact near 1
    return ops.exp(log_a), ops.sqrt(-ops.expm1(2 * log_a)) * ops.sigmoid(ki) * u


def doubling_scan(ops: Any, a: Any, b: Any) -> Any:
    """``h_t = a_t h_{t-1} + b_t`` along axis 1 from ``h_{-1} = 0`` by recursive doubling (Hillis and
    Steele): log2(T) rounds, each combining every step with the one 2^k before it. The parallel form on
    Keras' torch backend, whose ``keras.ops.associative_scan`` (Keras 3.15) leaks host memory in a
    training step here, about 70-95 MB a step at the tinyshakespeare minGRU size, until the process is
    killed; the same layer through this form holds its memory."""
    shift = 1
    steps = ops.shape(a)[1]
    while shift < steps:
        a_prev = ops.pad(a[:, :-shift], ((0, 0), (shift, 0), (0, 0)), constant_values=1.0)
        b_prev = ops.pad(b[:, :-shift], ((0, 0), (shift, 0), (0, 0)))
        a, b = a * a_prev, a * b_prev + b
        shift *= 2
    return b


@functools.cache
def scan_rnn(keras: ModuleType) -> type:
    """The scan-cell layer class for this ``keras`` module (see :class:`ScanRNN`'s docstring)."""

    class ScanRNN(keras.layers.Layer):
        """A minGRU / minLSTM / RG-LRU layer: weights ``kernel`` (in, G*H), ``bias`` and for rglru
        ``lam`` (the canonical ``lambda``); the gates come from one matmul over every step, then
        ``h_t = a_t h_{t-1} + b_t`` runs as ``keras.ops.associative_scan`` along time (``parallel``) or
        ``keras.ops.scan`` over steps. Called like Keras' recurrent layers (``initial_state``,
        ``return_sequences``, ``return_state``; the state is ``[h]``)."""

        def __init__(self, cell: str, units: int, parallel: bool, return_sequences: bool = False,
                     return_state: bool = False, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.cell, self.units, self.parallel = cell, units, parallel
            self.return_sequences, self.return_state = return_sequences, return_state

        def build(self, sequences_shape: Any, initial_state_shape: Any = None) -> None:
            g = GATES[self.cell] * self.units
            self.kernel = self.add_weight(shape=(sequences_shape[-1], g), initializer="zeros", name="kernel")
            self.bias = self.add_weight(shape=(g,), initializer="zeros", name="bias")
            self.lam = (self.add_weight(shape=(self.units,), initializer="zeros", name="lambda")
                        if self.cell == "rglru" else None)

        def call(self, sequences: Any, initial_state: Any = None, training: bool = False) -> Any:
            ops = keras.ops
            gates = ops.add(ops.matmul(sequences, self.kernel), self.bias)
            a, b = scan_coefficients(keras, self.cell, gates, self.lam)
            if initial_state is not None:  # h_0 = a_0 h_start + b_0
                h0 = initial_state[0] if isinstance(initial_state, list | tuple) else initial_state
                b = ops.concatenate([b[:, :1] + a[:, :1] * ops.expand_dims(h0, 1), b[:, 1:]], axis=1)
            if self.parallel and keras.backend.backend() == "torch":
                ys = doubling_scan(ops, a, b)
            elif self.parallel:
                _, ys = ops.associative_scan(lambda x, y: (x[0] * y[0], y[0] * x[1] + y[1]), (a, b), axis=1)
            else:
                def step(h: Any, ab: Any) -> tuple[Any, Any]:
                    h = ab[0] * h + ab[1]
                    return h, h

                _, ys = ops.scan(step, ops.zeros_like(b[:, 0]),
                                 (ops.transpose(a, (1, 0, 2)), ops.transpose(b, (1, 0, 2))))
                ys = ops.transpose(ys, (1, 0, 2))
            ys = ops.reshape(ys, ops.shape(b))  # TensorFlow's scans lose the static rank in a graph
            last = ys[:, -1]
            out = ys if self.return_sequences else last
            return [out, last] if self.return_state else out

        def compute_output_shape(self, sequences_shape: Any, initial_state_shape: Any = None) -> Any:
            batch = sequences_shape[0]
            out = (batch, sequences_shape[1], self.units) if self.return_sequences else (batch, self.units)
            return [out, (batch, self.units)] if self.return_state else out

    return ScanRNN
