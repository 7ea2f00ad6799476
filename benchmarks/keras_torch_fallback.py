"""Why the keras-torch adapter sets ``use_cudnn=False`` on a CPU: Keras 3.15's torch backend LSTM/GRU op
against Keras' generic per-step loop, and the indexing pattern behind the difference.

On a CPU, ``keras.layers.LSTM``/``GRU`` with ``use_cudnn="auto"`` on the torch backend run
``keras.src.backend.torch.rnn._fallback_lstm``/``_fallback_gru``: input projections in one matmul, then a
Python loop that reads ``x_proj[t]``. The backward of each such index allocates a zero tensor of the whole
``x_proj`` and adds into it, so a sequence of T steps costs O(T^2) in the backward pass; ``torch.unbind``
would make it O(T). ``use_cudnn=False`` runs Keras' generic loop over the per-step cell instead (the same
equations). Prints training steps per second of one layer at IMDB's width over a range of lengths, then at
each task's shape, then the bare pattern::

    .tox/keras/bin/python benchmarks/keras_torch_fallback.py          # 1 thread, about 2 minutes

A ratio within one run on one machine; the speed figures to publish come from ``harness bench``.
"""

from __future__ import annotations

import os
import time

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import torch  # noqa: E402

B, T, E, H = 64, 200, 50, 100  # IMDB full: batch 64, 200 steps, embedding 50, LSTM 100
LENGTHS = (3, 10, 35, 100, 200)  # at IMDB's width: where does the quadratic backward start to cost?
# One layer at each task's shape where keras-torch runs LSTM/GRU (no recurrent dropout, no spiking cell):
# (cell, batch, steps, input width, hidden)
TASKS = {"arithmetic": ("LSTM", 32, 8, 13, 32), "five-words": ("LSTM", 1, 4, 26, 64),
         "meditations": ("LSTM", 1, 3, 69, 512), "ptb": ("LSTM", 20, 35, 200, 200),
         "timemachine": ("GRU", 32, 35, 27, 256), "tinyshakespeare": ("LSTM", 64, 100, 65, 256),
         "imdb": ("LSTM", 64, 200, 50, 100)}
SECONDS = 2.0


def rate(step) -> float:  # noqa: ANN001
    step()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < SECONDS:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def compare(cell: str, batch: int, length: int, width: int, hidden: int) -> str:
    """Training steps/s of one layer with Keras' own op and with the generic loop, as one line."""
    x = torch.randn(batch, length, width)
    rates = {}
    for use_cudnn in ("auto", False):
        layer = getattr(keras.layers, cell)(hidden, use_cudnn=use_cudnn)
        layer.build((batch, length, width))

        def step(layer=layer) -> None:  # noqa: ANN001
            layer(x, training=True).sum().backward()

        rates[use_cudnn] = rate(step)
    return (f"{cell} {hidden:>3}, batch {batch:>2} x {length:>3} steps x {width:>3}: use_cudnn='auto' "
            f"{rates['auto']:7.1f} steps/s, use_cudnn=False {rates[False]:7.1f} steps/s "
            f"({rates[False] / rates['auto']:.2f}x)")


def main() -> None:
    torch.set_num_threads(1)
    for cell in ("LSTM", "GRU"):
        for length in LENGTHS:
            print(compare(cell, B, length, E, H))
    for task, shape in TASKS.items():
        print(f"{task:>15}: {compare(*shape)}")
    p = torch.randn(T, B, 4 * H, requires_grad=True)
    index = rate(lambda: sum(p[t].sum() for t in range(T)).backward())
    unbind = rate(lambda: sum(q.sum() for q in torch.unbind(p, 0)).backward())
    print(f"the pattern alone, {T} slices of a ({T}, {B}, {4 * H}) tensor, forward+backward: x_proj[t] "
          f"{index:.2f}/s, torch.unbind {unbind:.2f}/s ({unbind / index:.0f}x)")


if __name__ == "__main__":
    main()
