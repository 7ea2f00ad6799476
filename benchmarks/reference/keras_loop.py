"""The plainest Keras 3 loops of rnnbench's IMDB and PTB ``full`` models, as Keras' guides write them.

A ``keras.Sequential`` of ``Embedding``, ``Dropout``, ``LSTM`` and ``Dense`` layers, compiled with its
optimizer and loss, trained one batch at a time by Keras' standard training step (``train_on_batch``).
PTB's LSTMs are ``stateful=True`` at a fixed batch size, so the state carries from batch to batch,
detached, until ``reset_states()``; except on the jax backend, where Keras 3.15 creates those state
variables untracked, so its stateless jitted steps never write them and every batch starts from zeros (the
same computation, at the same cost). Inference uses ``predict_on_batch``: Keras' compiled predict step (a
``tf.function`` or ``jax.jit``). ``model(x, training=False)``, which Keras' ``Model.predict`` documentation
suggests for inputs that fit one batch, runs eagerly, op by op, outside that compiled step.

Runs on each Keras backend: set ``KERAS_BACKEND`` (``tensorflow``, ``jax`` or ``torch``) before this file is
imported, since Keras reads it once. Nothing from rnnbench is imported: this file is what "hand-written"
means in ``harness bench``'s ``keras-reference``, ``keras-jax-reference`` and ``keras-torch-reference``
rows. Default weight initialisation (speed does not depend on it).

    KERAS_BACKEND=jax python benchmarks/reference/keras_loop.py ptb     # a few timed steps on random ids
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
from keras import layers

SIZES = {"imdb": {"vocab": 1000, "embed": 50, "hidden": 100},  # the full models' sizes
         "ptb": {"vocab": 10_000, "embed": 200, "hidden": 200}}


def imdb_model(seq_len: int, lr: float, vocab: int, embed: int, hidden: int) -> keras.Model:
    """The seed's model: Embedding 50, Dropout 0.2, LSTM 100 (dropout 0.2), Dense 250 relu, Dropout 0.2,
    Dense 1 sigmoid; binary cross-entropy, Adam."""
    model = keras.Sequential([
        keras.Input(shape=(seq_len,), dtype="int32"),
        layers.Embedding(vocab, embed),
        layers.Dropout(0.2),
        layers.LSTM(hidden, dropout=0.2),
        layers.Dense(250, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="binary_crossentropy")
    return model


def ptb_model(batch: int, seq_len: int, lr: float, clip_norm: float | None, vocab: int, embed: int,
              hidden: int) -> keras.Model:
    """Zaremba et al.'s small model: Embedding 200, 2x stateful LSTM 200, Dense 10000 logits on every step;
    softmax cross-entropy, SGD with the gradients' global norm clipped.

    On the torch backend, Keras 3.15's fused LSTM path (``backend.lstm``) assigns a stateful layer's new
    state in place before the backward pass, which autograd refuses ("modified by an inplace operation");
    ``use_cudnn=False`` takes Keras' generic loop over the LSTM cell, which copies the state first."""
    fused = "auto" if keras.backend.backend() != "torch" else False
    model = keras.Sequential([
        keras.Input(batch_shape=(batch, seq_len), dtype="int32"),
        layers.Embedding(vocab, embed),
        layers.LSTM(hidden, return_sequences=True, stateful=True, use_cudnn=fused),
        layers.LSTM(hidden, return_sequences=True, stateful=True, use_cudnn=fused),
        layers.Dense(vocab),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, global_clipnorm=clip_norm),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Loop:
    """One compiled model; its training and inference steps are Keras' own."""

    def __init__(self, model: keras.Model, stateful: bool) -> None:
        self.model, self.stateful = model, stateful

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.model.train_on_batch(x, y)  # the loss, already a Python float: Keras fetches it

    def loss_value(self, loss: float) -> float:
        return float(loss)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_on_batch(x)

    def reset_state(self) -> None:
        if self.stateful:
            for layer in self.model.layers:
                if isinstance(layer, layers.LSTM):
                    layer.reset_states()

    def synchronize(self) -> None:
        """Nothing to wait for: ``train_on_batch`` and ``predict_on_batch`` return host values."""


def make(model: str, batch: int, infer_batch: int, seq_len: int, lr: float, clip_norm: float | None = None,
         vocab: int | None = None, embed: int | None = None, hidden: int | None = None) -> Loop:
    """The loop of ``model`` (``imdb`` or ``ptb``); sizes default to the ``full`` model's. PTB's stateful
    model has one batch size for training and inference."""
    full = SIZES[model]
    sizes = (vocab or full["vocab"], embed or full["embed"], hidden or full["hidden"])
    if model == "imdb":
        return Loop(imdb_model(seq_len, lr, *sizes), stateful=False)
    if infer_batch != batch:
        raise ValueError(f"a stateful Keras model has one batch size, not {batch} and {infer_batch}")
    return Loop(ptb_model(batch, seq_len, lr, clip_norm, *sizes), stateful=True)


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "imdb"
    batch, steps, lr, clip = (64, 200, 1e-3, None) if name == "imdb" else (20, 35, 35.0, 5 / 35)
    loop = make(name, batch, batch, steps, lr, clip)
    rng = np.random.default_rng(0)
    vocab = SIZES[name]["vocab"]
    x = rng.integers(0, vocab, (batch, steps)).astype(np.int32)
    y = rng.integers(0, 2, batch).astype(np.float32) if name == "imdb" else rng.integers(0, vocab, x.shape)
    loop.loss_value(loop.train_step(x, y))
    start = time.perf_counter()
    last = loop.loss_value([loop.train_step(x, y) for _ in range(10)][-1])
    print(f"{name}: {10 * batch / (time.perf_counter() - start):,.0f} training samples/s, loss {last:.4f}")
