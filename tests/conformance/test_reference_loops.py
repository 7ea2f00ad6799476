"""The hand-written reference loops (benchmarks/reference/), driven through the bench's shim
(harness.bench.reference) at a tiny size of the IMDB and PTB models: two training steps whose loss is
finite and moves, predictions of the right shape, the carried PTB state, and a description of what ran.

Each tox environment runs this module; reference rows whose framework is not importable there are skipped.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import backends
import tasks
from harness.bench import reference as bench_reference
from harness.bench.reference import ReferenceAdapter
from tasks.spec import Dense

ROWS = [pytest.param(name, marks=pytest.mark.skipif(not backends.importable(info),
                                                    reason=f"{', '.join(info.requires)} not installed"))
        for name in bench_reference.names(backends.names())
        for info in [backends.get(bench_reference.base(name))]]
VOCAB, SEQ, BATCH = 40, 8, 4


def tiny(task: str) -> tuple:
    """The task's full model at a tiny size, its recipe, and (x, y) of a training batch."""
    scale = tasks.get(task).scale("full")
    spec = replace(scale.model, vocab_size=VOCAB, embed_dim=6, hidden_size=5)
    if task == "ptb":
        spec = replace(spec, head=(Dense(VOCAB),))
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (BATCH, SEQ)).astype(np.int32)
    y = (rng.integers(0, 2, BATCH).astype(np.float32) if task == "imdb"
         else rng.integers(0, VOCAB, (BATCH, SEQ)).astype(np.int32))
    lr = 1e-2 if task == "imdb" else 1.0
    return spec, replace(scale.recipe, lr=lr, batch_size=BATCH), x, y


@pytest.mark.parametrize("task", ["imdb", "ptb"])
@pytest.mark.parametrize("name", ROWS)
def test_a_reference_loop_trains_and_predicts(name, task):
    spec, recipe, x, y = tiny(task)
    infer = BATCH if task == "ptb" else 6  # PTB is stateful: one batch size
    loop = ReferenceAdapter(name)
    loop.set_threads(1)
    loop.set_shape(SEQ, BATCH, infer)
    loop.build(spec, recipe, seed=0)
    loop.reset_state()
    losses = loop.losses([loop.train_step(x, y) for _ in range(2)])
    assert losses.shape == (2,) and np.isfinite(losses).all() and losses[1] != losses[0]
    xi = np.resize(x, (infer, SEQ))
    loop.reset_state()  # as the bench does before inference (Keras' stateful model has one state)
    out = loop.predict(xi)
    loop.synchronize()
    assert out.shape == ((infer, 1) if task == "imdb" else (infer, SEQ, VOCAB))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    if task == "ptb":  # the state carries from batch to batch until reset
        again = loop.predict(xi)
        # Keras 3.15 on JAX keeps a stateful layer's states out of its stateless steps: not carried
        assert np.allclose(again, out) == (name == "keras-jax-reference")
        loop.reset_state()
        np.testing.assert_allclose(loop.predict(xi), out, rtol=1e-5, atol=1e-6)
    else:  # dropout is off in inference
        np.testing.assert_allclose(loop.predict(xi), out, rtol=1e-5, atol=1e-6)
    described = loop.describe()
    assert described["reference"] is True and described["reference_model"] == task
    assert described["loop"].startswith("benchmarks/reference/") and described["versions"]
    assert described["kernel_path"] in ("fused", "cudnn", "loop", "scan") and "threads" in described
    assert described["device"] in ("cpu", "gpu:0", "cuda:0") or described["device"].startswith("gpu")
