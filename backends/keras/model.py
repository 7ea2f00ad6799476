"""A Keras functional model built from a :class:`~tasks.spec.ModelSpec` with Keras' own layers.

Input ids -> ``Embedding`` (or one-hot) -> ``Dropout(embed_dropout)`` -> ``LSTM``/``GRU``/``SimpleRNN`` layers
(``dropout=input_dropout`` on the first: one mask per sequence shared over time steps;
``recurrent_dropout``; ``Dropout(layer_dropout)`` between layers) -> the head's ``Dense``/``Dropout`` layers.
GRU is ``reset_after=True`` (the canonical equations). The last ``Dense`` produces float32 logits, also under
a mixed-precision policy.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tasks.spec import Dense, ModelSpec


def rnn_layer_name(k: int) -> str:
    return f"rnn{k}"


def dense_layer_name(k: int) -> str:
    return f"dense{k}"


def build(keras: ModuleType, spec: ModelSpec, dtype: Any = None) -> Any:
    """The model; layers that carry weights are named ``embedding``, ``rnn{k}``, ``dense{k}``."""
    layers = keras.layers
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    if spec.input == "embedding":
        h = layers.Embedding(spec.vocab_size, spec.embed_dim, name="embedding", dtype=dtype)(ids)
    else:
        h = OneHot(keras, spec.vocab_size, dtype)(ids)
    if spec.embed_dropout:
        h = layers.Dropout(spec.embed_dropout, name="embed_dropout", dtype=dtype)(h)
    cell = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}[spec.cell]
    extra = {"reset_after": True} if spec.cell == "gru" else {}
    for k in range(spec.num_layers):
        if k and spec.layer_dropout:
            h = layers.Dropout(spec.layer_dropout, name=f"layer_dropout{k}", dtype=dtype)(h)
        last = k == spec.num_layers - 1
        h = cell(spec.hidden_size, dropout=spec.input_dropout if k == 0 else 0.0,
                 recurrent_dropout=spec.recurrent_dropout,
                 return_sequences=not last or spec.output == "sequence",
                 name=rnn_layer_name(k), dtype=dtype, **extra)(h)
    dense = 0
    n_dense = sum(isinstance(layer, Dense) for layer in spec.head)
    for i, layer in enumerate(spec.head):
        if isinstance(layer, Dense):
            final = dense == n_dense - 1
            h = layers.Dense(layer.units, activation="relu" if layer.activation == "relu" else None,
                             name=dense_layer_name(dense), dtype="float32" if final else dtype)(h)
            dense += 1
        else:
            h = layers.Dropout(layer.rate, name=f"head_dropout{i}", dtype=dtype)(h)
    return keras.Model(ids, h, name=f"rnnbench_{spec.cell}")


def OneHot(keras: ModuleType, depth: int, dtype: Any = None) -> Any:  # noqa: N802 - a layer factory
    """A layer turning ids into one-hot vectors (``input="onehot"``)."""

    class _OneHot(keras.layers.Layer):
        def call(self, ids):
            return keras.ops.one_hot(ids, depth, dtype=self.compute_dtype)

        def compute_output_shape(self, input_shape):
            return (*input_shape, depth)

    return _OneHot(name="onehot", dtype=dtype)
