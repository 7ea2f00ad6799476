"""The plainest Flax loops of rnnbench's IMDB and PTB ``full`` models, as Flax's nnx guides write them.

``nnx.Embed``, ``nnx.RNN(nnx.OptimizedLSTMCell(...))`` (Flax's own LSTM cell, scanned over time),
``nnx.Linear``; optax (Adam for IMDB; SGD after ``optax.clip_by_global_norm`` for PTB) through
``nnx.Optimizer``; one ``nnx.jit`` training step (``nnx.value_and_grad``, ``optimizer.update``) and a
jitted predict on an ``nnx.view(model, deterministic=True)`` evaluation view (dropout off, same weights).
PTB's hidden state is carried between batches as the steps' input and output, so it is detached: gradients
are taken with respect to the model only. Nothing from rnnbench is imported: this file is what
"hand-written" means in ``harness bench``'s ``jax-reference`` row. Default weight initialisation.

    python benchmarks/reference/flax_loop.py imdb     # a few timed steps on random ids
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

SIZES = {"imdb": {"vocab": 1000, "embed": 50, "hidden": 100},  # the full models' sizes
         "ptb": {"vocab": 10_000, "embed": 200, "hidden": 200}}


class IMDBNet(nnx.Module):
    """Embed 50, Dropout 0.2, LSTM 100 (input dropout 0.2, one mask per sequence as Keras'
    ``LSTM(dropout=0.2)``), last step, Dense 250 relu, Dropout 0.2, Dense 1: a logit."""

    def __init__(self, vocab: int, embed: int, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.embed = nnx.Embed(vocab, embed, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.input_dropout = nnx.Dropout(0.2, broadcast_dims=(1,), rngs=rngs)  # shared over time
        self.lstm = nnx.RNN(nnx.OptimizedLSTMCell(embed, hidden, rngs=rngs))
        self.dense = nnx.Linear(hidden, 250, rngs=rngs)
        self.head_dropout = nnx.Dropout(0.2, rngs=rngs)
        self.out = nnx.Linear(250, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.input_dropout(self.dropout(self.embed(x)))
        h = self.lstm(h)[:, -1]
        return self.out(self.head_dropout(nnx.relu(self.dense(h))))


class PTBNet(nnx.Module):
    """Embed 200, 2x LSTM 200, Dense 10000 on every step (Zaremba et al.'s small model)."""

    def __init__(self, vocab: int, embed: int, hidden: int, *, rngs: nnx.Rngs) -> None:
        self.hidden = hidden
        self.embed = nnx.Embed(vocab, embed, rngs=rngs)
        self.lstm1 = nnx.RNN(nnx.OptimizedLSTMCell(embed, hidden, rngs=rngs), return_carry=True)
        self.lstm2 = nnx.RNN(nnx.OptimizedLSTMCell(hidden, hidden, rngs=rngs), return_carry=True)
        self.decoder = nnx.Linear(hidden, vocab, rngs=rngs)

    def zero_carry(self, batch: int) -> tuple:
        zeros = jnp.zeros((batch, self.hidden))
        return ((zeros, zeros), (zeros, zeros))  # (c, h) of each layer

    def __call__(self, x: jax.Array, carry: tuple) -> tuple[jax.Array, tuple]:
        c1, h = self.lstm1(self.embed(x), initial_carry=carry[0])
        c2, h = self.lstm2(h, initial_carry=carry[1])
        return self.decoder(h), (c1, c2)


@nnx.jit
def imdb_train_step(model: IMDBNet, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    def loss_fn(model: IMDBNet) -> jax.Array:
        return optax.sigmoid_binary_cross_entropy(model(x)[:, 0], y).mean()

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def ptb_train_step(model: PTBNet, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array, carry: tuple
                   ) -> tuple[jax.Array, tuple]:
    def loss_fn(model: PTBNet) -> tuple[jax.Array, tuple]:
        logits, new_carry = model(x, carry)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_carry

    (loss, carry), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    return loss, carry


@nnx.jit
def imdb_predict(model: IMDBNet, x: jax.Array) -> jax.Array:
    return model(x)


@nnx.jit
def ptb_predict(model: PTBNet, x: jax.Array, carry: tuple) -> tuple[jax.Array, tuple]:
    return model(x, carry)


class Loop:
    """One model, its optimizer, an evaluation view, and (PTB) the carried training and inference states."""

    def __init__(self, model: str, batch: int, infer_batch: int, lr: float, clip_norm: float | None,
                 vocab: int, embed: int, hidden: int) -> None:
        self.ptb, self.batch, self.infer_batch = model == "ptb", batch, infer_batch
        rngs = nnx.Rngs(params=0, dropout=1)
        self.model = (PTBNet if self.ptb else IMDBNet)(vocab, embed, hidden, rngs=rngs)
        tx = optax.adam(lr) if not self.ptb else optax.sgd(lr)
        if clip_norm:
            tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
        self.optimizer = nnx.Optimizer(self.model, tx, wrt=nnx.Param)
        self.eval_model = self.model if self.ptb else nnx.view(self.model, deterministic=True)
        self.reset_state()

    def train_step(self, x: np.ndarray, y: np.ndarray) -> jax.Array:
        if self.ptb:
            loss, self.train_carry = ptb_train_step(self.model, self.optimizer, x, y, self.train_carry)
            return loss
        return imdb_train_step(self.model, self.optimizer, x, y)

    def loss_value(self, loss: jax.Array) -> float:
        return float(loss)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.ptb:
            logits, self.eval_carry = ptb_predict(self.eval_model, x, self.eval_carry)
        else:
            logits = imdb_predict(self.eval_model, x)
        return np.asarray(logits)

    def reset_state(self) -> None:
        if self.ptb:
            self.train_carry = self.model.zero_carry(self.batch)
            self.eval_carry = self.model.zero_carry(self.infer_batch)

    def synchronize(self) -> None:
        jax.block_until_ready(nnx.state(self.model))


def make(model: str, batch: int, infer_batch: int, seq_len: int, lr: float, clip_norm: float | None = None,
         vocab: int | None = None, embed: int | None = None, hidden: int | None = None) -> Loop:
    """The loop of ``model`` (``imdb`` or ``ptb``); sizes default to the ``full`` model's. The batch sizes
    give PTB's zero states; the length comes from the batches (one compile per shape)."""
    full = SIZES[model]
    return Loop(model, batch, infer_batch, lr, clip_norm, vocab or full["vocab"], embed or full["embed"],
                hidden or full["hidden"])


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
