"""A Keras functional model built from a :class:`~tasks.spec.ModelSpec` with Keras' own layers.

Input ids -> ``Embedding`` (or one-hot) -> ``Dropout(embed_dropout)`` -> ``LSTM``/``GRU``/``SimpleRNN`` layers
(``dropout=input_dropout`` on the first: one mask per sequence shared over time steps;
``recurrent_dropout``; ``Dropout(layer_dropout)`` between layers) -> the head's ``Dense``/``Dropout`` layers.
With recurrent dropout, LSTM and GRU are ``RNN`` over Keras' own cell with its gates' masks tied
(:func:`tied_gate_masks`), so that every framework draws the masks the spec says.
GRU is ``reset_after=True`` (the canonical equations). The spiking LSTM is ``RNN(SpikingLSTMCell)``
(``backends.keras.cells``). An encoder-decoder repeats the encoder's last output with ``RepeatVector`` into
``decoder_layers`` more recurrent layers with ``return_sequences=True``, Keras' seq2seq pattern. The last
``Dense`` produces float32 logits, also under a mixed-precision policy.

A stateful model (consecutive sampling) takes the encoder layers' initial states as extra inputs and
returns their final states as extra outputs: the caller keeps them between batches. Keras'
``stateful=True`` would need a batch size fixed at build time and keep the state in variables, which
JAX's stateless train step would have to thread through by hand anyway.

The scan cells (minGRU, minLSTM, RG-LRU) are ``backends.keras.cells.scan_rnn`` layers; their input
dropout is a ``Dropout`` with one mask per sequence in front of the first.

``loop_from`` (keras-torch on a CPU) makes each LSTM/GRU layer choose per call between the backend's own
recurrence op and Keras' generic loop over the per-step cell, by the sequence's length: see
:func:`length_switched`.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

from backends import canonical
from backends.keras.cells import scan_rnn, spiking_lstm_cell
from tasks.spec import Dense, ModelSpec


def rnn_layer_name(k: int) -> str:
    return f"rnn{k}"


def dense_layer_name(k: int) -> str:
    return f"dense{k}"


def state_names(spec: ModelSpec) -> tuple[str, ...]:
    """The states one recurrent layer carries: (h, c) for the LSTMs, h otherwise."""
    return ("h", "c") if spec.gate_cell == "lstm" else ("h",)


@functools.cache
def length_switched(cls: type) -> type:
    """``cls`` (a Keras LSTM or GRU layer class) that runs the backend's own recurrence op on sequences
    shorter than ``loop_from`` steps and Keras' generic loop over the per-step cell from there, the same
    equations. For Keras 3.15's torch backend on a CPU, whose own op loops over ``x_proj[t]`` in Python:
    the backward of each index writes a zero tensor of the whole sequence, so that op wins on short
    sequences (2-3x at 3-8 steps) and loses on long ones (2-3x at 100-200 steps);
    ``benchmarks/keras_torch_fallback.py`` measures both at each task's shape. Keras' layers read
    ``use_cudnn`` at each call, and torch runs eagerly, so the length is known when it is set."""

    class LengthSwitched(cls):
        def __init__(self, *args: Any, loop_from: int, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.loop_from = loop_from

        def inner_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
            length = sequences.shape[1]
            self.use_cudnn = False if length is not None and length >= self.loop_from else "auto"
            return super().inner_loop(sequences, initial_state, mask, training=training)

    LengthSwitched.__name__ = LengthSwitched.__qualname__ = cls.__name__
    return LengthSwitched


def _tied(masks: Any) -> Any:
    return [masks[0]] * len(masks) if isinstance(masks, list) else masks


@functools.cache
def tied_gate_masks(cls: type) -> type:
    """``cls`` (Keras' ``LSTMCell`` or ``GRUCell``) with one input mask and one recurrent mask per sequence,
    each shared by the gates, as the spec says (``tasks.spec.ModelSpec``) and the other frameworks' cells
    do. Keras 3.15 turns to its per-gate equations whenever recurrent dropout is on (``implementation=1``)
    and draws a mask for each gate there, four for an LSTM, three for a GRU: a different regulariser
    (on imdb's seed scale the three Keras backends' median test accuracies were 0.851-0.854, the
    others' 0.840-0.846). The same equations with the first mask given to every gate; the masks come
    from Keras' public getters, so the others are drawn and dropped (once a batch)."""

    class TiedGateMasks(cls):
        def get_dropout_mask(self, step_input: Any) -> Any:
            return _tied(super().get_dropout_mask(step_input))

        def get_recurrent_dropout_mask(self, step_input: Any) -> Any:
            return _tied(super().get_recurrent_dropout_mask(step_input))

    TiedGateMasks.__name__ = TiedGateMasks.__qualname__ = cls.__name__
    return TiedGateMasks


def recurrent_layer(keras: ModuleType, spec: ModelSpec, name: str, loop_from: dict[str, int] | None = None,
                    **kwargs: Any) -> Any:
    """One recurrent layer of ``spec.cell``; ``kwargs`` go to the layer (``return_sequences``, ...).
    ``loop_from`` ({cell: steps}) makes LSTM and GRU run Keras' generic loop from that many steps and the
    backend's own op below (:func:`length_switched`); None leaves Keras' choice."""
    layers = keras.layers
    dropout = {"dropout": kwargs.pop("dropout", 0.0), "recurrent_dropout": spec.recurrent_dropout}
    dtype = kwargs.pop("dtype", None)
    if spec.scan_cell:  # input dropout is a Dropout layer before it (see build)
        kwargs.pop("dropout", None)
        return scan_rnn(keras)(spec.cell, spec.hidden_size, spec.scan == "parallel", name=name, dtype=dtype,
                               **kwargs)
    if spec.spiking:
        cell = spiking_lstm_cell(keras)(spec.hidden_size, dtype=dtype, name=f"{name}_cell", **dropout)
        return layers.RNN(cell, name=name, dtype=dtype, **kwargs)
    extra = {"reset_after": True} if spec.cell == "gru" else {}
    if spec.recurrent_dropout and spec.cell in ("lstm", "gru"):  # no fused op then: Keras' generic loop
        cell_cls = tied_gate_masks({"lstm": layers.LSTMCell, "gru": layers.GRUCell}[spec.cell])
        cell = cell_cls(spec.hidden_size, dtype=dtype, name=f"{name}_cell", **dropout, **extra)
        return layers.RNN(cell, name=name, dtype=dtype, **kwargs)
    cls = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}[spec.cell]
    if loop_from and spec.cell in loop_from:
        cls, extra["loop_from"] = length_switched(cls), loop_from[spec.cell]
    return cls(spec.hidden_size, name=name, dtype=dtype, **dropout, **extra, **kwargs)


def build(keras: ModuleType, spec: ModelSpec, dtype: Any = None, stateful: bool = False,
          loop_from: dict[str, int] | None = None) -> Any:
    """The model; layers that carry weights are named ``embedding``, ``rnn{k}``, ``dec{k}``, ``dense{k}``
    (the canonical prefixes). ``stateful`` adds the encoder's initial and final states as inputs and
    outputs, in layer order, ``state_names`` within a layer."""
    layers = keras.layers
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    if spec.input == "embedding":
        h = layers.Embedding(spec.vocab_size, spec.embed_dim, name="embedding", dtype=dtype)(ids)
    else:
        h = OneHot(keras, spec.vocab_size, dtype)(ids)
    if spec.embed_dropout:
        h = layers.Dropout(spec.embed_dropout, name="embed_dropout", dtype=dtype)(h)
    state_dtype = keras.dtype_policies.get(dtype or keras.config.floatx()).compute_dtype
    initial, final = [], []
    for k in range(spec.num_layers):
        if k and spec.layer_dropout:
            h = layers.Dropout(spec.layer_dropout, name=f"layer_dropout{k}", dtype=dtype)(h)
        if k == 0 and spec.input_dropout and spec.scan_cell:  # one mask per sequence, as LSTM(dropout=)
            h = layers.Dropout(spec.input_dropout, noise_shape=(None, 1, spec.input_size),
                               name="input_dropout", dtype=dtype)(h)
        last = k == spec.num_layers - 1
        sequences = not last or (spec.output == "sequence" and not spec.decoder_steps)
        layer = recurrent_layer(keras, spec, rnn_layer_name(k), dropout=spec.input_dropout if k == 0 else 0.0,
                                return_sequences=sequences, return_state=stateful, dtype=dtype,
                                loop_from=loop_from)
        if stateful:
            states = [keras.Input(shape=(spec.hidden_size,), dtype=state_dtype, name=f"rnn{k}_{s}0")
                      for s in state_names(spec)]
            h, *states_out = layer(h, initial_state=states)
            initial += states
            final += states_out
        else:
            h = layer(h)
    if spec.decoder_steps:
        h = layers.RepeatVector(spec.decoder_steps, name="repeat", dtype=dtype)(h)
        for prefix, _ in canonical.recurrent_layers(spec)[spec.num_layers :]:
            if prefix != "dec0" and spec.layer_dropout:
                h = layers.Dropout(spec.layer_dropout, name=f"{prefix}_dropout", dtype=dtype)(h)
            h = recurrent_layer(keras, spec, prefix, return_sequences=True, dtype=dtype,
                                loop_from=loop_from)(h)
    dense = 0
    n_dense = sum(isinstance(layer, Dense) for layer in spec.head)
    for i, layer in enumerate(spec.head):
        if isinstance(layer, Dense):
            final_dense = dense == n_dense - 1
            h = layers.Dense(layer.units, activation="relu" if layer.activation == "relu" else None,
                             name=dense_layer_name(dense), dtype="float32" if final_dense else dtype)(h)
            dense += 1
        else:
            h = layers.Dropout(layer.rate, name=f"head_dropout{i}", dtype=dtype)(h)
    name = f"rnnbench_{spec.cell.replace('-', '_')}"
    if stateful:
        return keras.Model([ids, *initial], [h, *final], name=name)
    return keras.Model(ids, h, name=name)


def OneHot(keras: ModuleType, depth: int, dtype: Any = None) -> Any:  # noqa: N802 - a layer factory
    """A layer turning ids into one-hot vectors (``input="onehot"``)."""

    class _OneHot(keras.layers.Layer):
        def call(self, ids):
            return keras.ops.one_hot(ids, depth, dtype=self.compute_dtype)

        def compute_output_shape(self, input_shape):
            return (*input_shape, depth)

    return _OneHot(name="onehot", dtype=dtype)
