"""Names at full scale, first steps of epoch 1: are the XLA backends' padded partial batches exact, and
where do two frameworks' trajectories part? (#17: jax and keras-jax end lower on the test split.)

Trains two copies of one backend from the canonical weights on the run's own batch plan (seed 0): one
gets each bucket's partial batch padded with weight-0 rows, as the runner gives it to ``fixed_shapes``
adapters, the other the partial batch as it is. Prints their largest loss and weight differences, and
saves the per-step losses so that two backends can be compared::

    .tox/jax/bin/python experiments/names_trajectory.py jax 400 /tmp/t
    .tox/torch/bin/python experiments/names_trajectory.py torch 400 /tmp/t
    python experiments/names_trajectory.py --compare /tmp/t/jax.npy /tmp/t/torch.npy
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def trajectory(backend: str, steps: int, out: Path) -> None:
    import backends
    import tasks
    from backends import canonical
    from harness.run.runner import batches, pad_batch, take

    task = tasks.get("names")
    scale = task.scale("full")
    train = task.load(scale, None, None).train
    plan = batches(train, scale.recipe.batch_size, np.random.default_rng(0))[:steps]

    def make():  # noqa: ANN202
        adapter = backends.create(backends.get(backend), device="cpu")
        adapter.set_threads(1)
        adapter.build(scale.model, scale.recipe, 0)
        adapter.set_weights(canonical.init(scale.model, 0))
        return adapter

    padded, plain = make(), make()
    size, partial = scale.recipe.batch_size, 0
    gap = 0.0
    losses = []
    for batch in plan:
        x, y = take(train, batch)
        n = len(x)
        if n < size and padded.fixed_shapes:
            partial += 1
            a = padded.losses([padded.train_step(*pad_batch(x, y, size))])[0]
        else:
            a = padded.losses([padded.train_step(x, y)])[0]
        b = plain.losses([plain.train_step(x, y)])[0]
        gap = max(gap, abs(float(a) - float(b)))
        losses.append(b)
    wp, wq = padded.get_weights(), plain.get_weights()
    apart = max(float(np.abs(wp[k] - wq[k]).max()) for k in wp)
    print(f"{backend}: {len(plan)} steps, {partial} of them padded partial batches; largest difference, "
          f"padded vs as-is: loss {gap:.3g}, weights {apart:.3g}")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{backend}.npy", np.asarray(losses, np.float64))


def compare(first: Path, second: Path) -> None:
    a, b = np.load(first), np.load(second)
    d = np.abs(a - b)
    parted = int(np.argmax(d > 1e-6)) if np.any(d > 1e-6) else None
    print(f"{first.stem} vs {second.stem}: per-step losses agree within 1e-6 up to step {parted}; "
          f"then largest |diff| {d.max():.3g}, mean loss {a.mean():.5f} vs {b.mean():.5f}")


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        trajectory(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
