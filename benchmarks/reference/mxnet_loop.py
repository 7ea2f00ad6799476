"""The plainest MXNet Gluon loops of rnnbench's IMDB and PTB ``full`` models, as Gluon's tutorials write them.

``gluon.HybridBlock``s of ``nn.Embedding``, ``rnn.LSTM(layout="NTC")`` (the fused RNN operator) and
``nn.Dense``, hybridized with ``static_alloc``/``static_shape`` (Gluon's performance advice); the forward
pass and loss under ``autograd.record()``, ``loss.backward()``, ``gluon.Trainer.step(batch)`` (adam; sgd
after ``gluon.utils.clip_global_norm`` for PTB, whose hidden state is carried between batches and
detached, as in MXNet's word_language_model example). Inference is the same hybridized block outside
``autograd.record()`` (dropout off). Nothing from rnnbench is imported: this file is what "hand-written"
means in ``harness bench``'s ``mxnet-reference`` row. Default weight initialisation.

    python benchmarks/reference/mxnet_loop.py imdb     # a few timed steps on random ids
"""

from __future__ import annotations

import sys
import time

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn

SIZES = {"imdb": {"vocab": 1000, "embed": 50, "hidden": 100},  # the full models' sizes
         "ptb": {"vocab": 10_000, "embed": 200, "hidden": 200}}


class IMDBNet(gluon.HybridBlock):
    """Embedding 50, Dropout 0.2, LSTM 100 (input dropout 0.2, one mask per sequence as Keras'
    ``LSTM(dropout=0.2)``), last step, Dense 250 relu, Dropout 0.2, Dense 1: a logit."""

    def __init__(self, vocab: int, embed: int, hidden: int, **kwargs) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(vocab, embed)
            self.dropout = nn.Dropout(0.2)
            self.input_dropout = nn.Dropout(0.2, axes=(1,))  # one mask per sequence, shared over time
            self.lstm = rnn.LSTM(hidden, layout="NTC", input_size=embed)
            self.head = nn.HybridSequential()
            self.head.add(nn.Dense(250, activation="relu"), nn.Dropout(0.2), nn.Dense(1))

    def hybrid_forward(self, F, x):  # F: mx.nd, or mx.sym once hybridized
        h = self.lstm(self.input_dropout(self.dropout(self.embedding(x))))
        return self.head(F.squeeze(F.slice_axis(h, axis=1, begin=-1, end=None), axis=1))


class PTBNet(gluon.HybridBlock):
    """Embedding 200, 2x LSTM 200, Dense 10000 on every step (Zaremba et al.'s small model)."""

    def __init__(self, vocab: int, embed: int, hidden: int, **kwargs) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.embedding = nn.Embedding(vocab, embed)
            self.lstm = rnn.LSTM(hidden, num_layers=2, layout="NTC", input_size=embed)
            self.decoder = nn.Dense(vocab, flatten=False, in_units=hidden)

    def hybrid_forward(self, F, x, state):
        out, state = self.lstm(self.embedding(x), state)
        return self.decoder(out), state


class Loop:
    """One hybridized model, its trainer, and (PTB) the hidden states carried by training and inference."""

    def __init__(self, model: str, batch: int, infer_batch: int, lr: float, clip_norm: float | None,
                 vocab: int, embed: int, hidden: int) -> None:
        self.ctx = mx.gpu() if mx.context.num_gpus() else mx.cpu()
        self.ptb, self.batch, self.infer_batch, self.clip_norm = model == "ptb", batch, infer_batch, clip_norm
        self.net = (PTBNet if self.ptb else IMDBNet)(vocab, embed, hidden)
        self.net.initialize(ctx=self.ctx)
        self.net.hybridize(static_alloc=True, static_shape=True)
        self.loss_fn = (gluon.loss.SoftmaxCrossEntropyLoss() if self.ptb
                        else gluon.loss.SigmoidBinaryCrossEntropyLoss())
        self.trainer = gluon.Trainer(self.net.collect_params(), "sgd" if self.ptb else "adam",
                                     {"learning_rate": lr})
        self.reset_state()

    def train_step(self, x: np.ndarray, y: np.ndarray) -> mx.nd.NDArray:
        x, y = mx.nd.array(x, ctx=self.ctx), mx.nd.array(y, ctx=self.ctx)
        with autograd.record():
            if self.ptb:
                out, state = self.net(x, self.train_state)
            else:
                out = self.net(x)
            loss = self.loss_fn(out, y)  # one loss per sequence (PTB: its mean over time)
        loss.backward()
        if self.ptb:
            self.train_state = [s.detach() for s in state]  # truncated backpropagation through time
        if self.clip_norm:  # the gradients are summed over the batch until trainer.step divides them
            grads = [p.grad(self.ctx) for p in self.net.collect_params().values() if p.grad_req != "null"]
            gluon.utils.clip_global_norm(grads, self.clip_norm * len(x))
        self.trainer.step(len(x))
        return loss

    def loss_value(self, loss: mx.nd.NDArray) -> float:
        return float(loss.mean().asscalar())

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = mx.nd.array(x, ctx=self.ctx)
        if self.ptb:
            out, self.eval_state = self.net(x, self.eval_state)
        else:
            out = self.net(x)
        return out.asnumpy()

    def reset_state(self) -> None:
        if self.ptb:
            self.train_state = self.net.lstm.begin_state(batch_size=self.batch, ctx=self.ctx)
            self.eval_state = self.net.lstm.begin_state(batch_size=self.infer_batch, ctx=self.ctx)

    def synchronize(self) -> None:
        mx.nd.waitall()


def make(model: str, batch: int, infer_batch: int, seq_len: int, lr: float, clip_norm: float | None = None,
         vocab: int | None = None, embed: int | None = None, hidden: int | None = None) -> Loop:
    """The loop of ``model`` (``imdb`` or ``ptb``); sizes default to the ``full`` model's. The batch sizes
    give PTB's zero states; the length comes from the batches."""
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
