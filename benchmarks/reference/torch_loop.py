"""The plainest PyTorch loops of rnnbench's IMDB and PTB ``full`` models, as PyTorch's tutorials write them.

``nn.Embedding`` + ``nn.LSTM(batch_first=True)`` + ``nn.Linear``, ``torch.optim`` (Adam for IMDB; SGD with
``clip_grad_norm_`` for PTB, whose hidden state is carried between batches and detached, as in PyTorch's
word_language_model example), ``loss.backward()``, ``optimizer.step()``; inference under
``torch.inference_mode()``. Nothing from rnnbench is imported: this file is what "hand-written" means in
``harness bench``'s ``torch-reference`` row. Default weight initialisation (speed does not depend on it).

    python benchmarks/reference/torch_loop.py imdb     # a few timed steps on random ids
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIZES = {"imdb": {"vocab": 1000, "embed": 50, "hidden": 100},  # the full models' sizes
         "ptb": {"vocab": 10_000, "embed": 200, "hidden": 200}}


class IMDBNet(nn.Module):
    """Embedding 50, Dropout 0.2, LSTM 100 (input dropout 0.2, one mask per sequence as Keras'
    ``LSTM(dropout=0.2)``), last step, Dense 250 relu, Dropout 0.2, Dense 1: a logit."""

    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.dropout = nn.Dropout(0.2)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, 250), nn.ReLU(), nn.Dropout(0.2), nn.Linear(250, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.embedding(x))
        h = h * self.dropout(torch.ones_like(h[:, :1]))  # the LSTM's input dropout, shared over time
        out, _ = self.lstm(h)
        return self.head(out[:, -1])


class PTBNet(nn.Module):
    """Embedding 200, 2x LSTM 200, Dense 10000 on every step (Zaremba et al.'s small model)."""

    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=2, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        out, state = self.lstm(self.embedding(x), state)
        return self.decoder(out), state


class Loop:
    """One model, its optimizer, and (PTB) the hidden states carried by training and by inference."""

    def __init__(self, model: str, lr: float, clip_norm: float | None, vocab: int, embed: int,
                 hidden: int) -> None:
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.ptb = model == "ptb"
        self.model = (PTBNet if self.ptb else IMDBNet)(vocab, embed, hidden).to(self.device)
        if self.ptb:
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        else:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.clip_norm = clip_norm
        self.train_state = self.eval_state = None

    def train_step(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        self.model.train()
        x, y = torch.as_tensor(x, device=self.device), torch.as_tensor(y, device=self.device)
        if self.ptb:
            logits, state = self.model(x, self.train_state)
            self.train_state = tuple(s.detach() for s in state)  # truncated backpropagation through time
            loss = F.cross_entropy(logits.flatten(0, 1), y.long().flatten())
        else:
            loss = F.binary_cross_entropy_with_logits(self.model(x).squeeze(1), y.float())
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.optimizer.step()
        return loss.detach()

    def loss_value(self, loss: torch.Tensor) -> float:
        return loss.item()

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        with torch.inference_mode():
            x = torch.as_tensor(x, device=self.device)
            if self.ptb:
                logits, self.eval_state = self.model(x, self.eval_state)
            else:
                logits = self.model(x)
            return logits.cpu().numpy()

    def reset_state(self) -> None:
        self.train_state = self.eval_state = None

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def make(model: str, batch: int, infer_batch: int, seq_len: int, lr: float, clip_norm: float | None = None,
         vocab: int | None = None, embed: int | None = None, hidden: int | None = None) -> Loop:
    """The loop of ``model`` (``imdb`` or ``ptb``); sizes default to the ``full`` model's. Batch sizes and
    length come from the batches themselves here (other frameworks' loops need them up front)."""
    full = SIZES[model]
    return Loop(model, lr, clip_norm, vocab or full["vocab"], embed or full["embed"],
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
