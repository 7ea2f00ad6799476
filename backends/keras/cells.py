"""The spiking LSTM (spikingjelly's SpikingLSTM, see ``tasks.spec.ModelSpec``) as a Keras RNN cell.

It is ``keras.layers.LSTMCell`` with its step replaced: the same weights (``kernel``, ``recurrent_kernel``,
one ``bias`` in the i, f, c, o layout), initializers, dropout masks and config, driven by
``keras.layers.RNN``'s generic loop. Written with ``keras.ops`` only, so one cell runs on TensorFlow, JAX
and PyTorch; no backend has a fused kernel for it.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from tasks.spec import SPIKE_ALPHA


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
