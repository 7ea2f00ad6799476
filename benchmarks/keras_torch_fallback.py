"""Why the keras-torch adapter sets ``use_cudnn=False`` on a CPU: Keras 3.15's torch backend LSTM/GRU op
against Keras' generic per-step loop, and the indexing pattern behind the difference.

On a CPU, ``keras.layers.LSTM``/``GRU`` with ``use_cudnn="auto"`` on the torch backend run
``keras.src.backend.torch.rnn._fallback_lstm``/``_fallback_gru``: input projections in one matmul, then a
Python loop that reads ``x_proj[t]``. The backward of each such index allocates a zero tensor of the whole
``x_proj`` and adds into it, so a sequence of T steps costs O(T^2) in the backward pass; ``torch.unbind``
would make it O(T). ``use_cudnn=False`` runs Keras' generic loop over the per-step cell instead (the same
equations). Prints training steps per second of one layer at IMDB's shape, then the bare pattern::

    .tox/keras/bin/python benchmarks/keras_torch_fallback.py          # 1 thread, about 40 s

A ratio within one run on one machine; the speed figures to publish come from ``harness bench``.
"""

from __future__ import annotations

import os
import time

os.environ["KERAS_BACKEND"] = "torch"

import keras  # noqa: E402
import torch  # noqa: E402

B, T, E, H = 64, 200, 50, 100  # IMDB full: batch 64, 200 steps, embedding 50, LSTM 100
SECONDS = 3.0


def rate(step) -> float:  # noqa: ANN001
    step()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < SECONDS:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    torch.set_num_threads(1)
    x = torch.randn(B, T, E)
    for cell in ("LSTM", "GRU"):
        rates = {}
        for use_cudnn in ("auto", False):
            layer = getattr(keras.layers, cell)(H, use_cudnn=use_cudnn)
            layer.build((B, T, E))

            def step(layer=layer) -> None:  # noqa: ANN001
                layer(x, training=True).sum().backward()

            rates[use_cudnn] = rate(step)
        print(f"{cell} {H}, batch {B} x {T} steps, forward+backward: use_cudnn='auto' "
              f"{rates['auto']:.2f} steps/s, use_cudnn=False {rates[False]:.2f} steps/s "
              f"({rates[False] / rates['auto']:.1f}x)")
    p = torch.randn(T, B, 4 * H, requires_grad=True)
    index = rate(lambda: sum(p[t].sum() for t in range(T)).backward())
    unbind = rate(lambda: sum(q.sum() for q in torch.unbind(p, 0)).backward())
    print(f"the pattern alone, {T} slices of a ({T}, {B}, {4 * H}) tensor, forward+backward: x_proj[t] "
          f"{index:.2f}/s, torch.unbind {unbind:.2f}/s ({unbind / index:.0f}x)")


if __name__ == "__main__":
    main()
