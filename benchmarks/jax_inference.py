"""The jax adapter's IMDB inference against the plainest Flax NNX program, in one process (#33).

Variants of one computation (IMDB ``full``: Embed 50, LSTM 100, Dense 250, Dense 1; batch ``--batch`` x
200 token ids, dropout off), each jitted once and then timed in interleaved rounds (forward, backward),
so that process layout and machine drift touch them alike:

- ``adapter``: ``backends.jax`` as the bench runs it (``RecurrentNet``, ``jax.jit`` over ``nnx.merge``);
- ``adapter unroll N``: the same with ``jax.lax.scan(..., unroll=N)`` (the ``jax+unrollN`` mode);
- ``reference``: ``benchmarks/reference/flax_loop.py``'s predict (``nnx.jit`` on an ``nnx.view``);
- ``plain``: ``nnx.RNN(nnx.OptimizedLSTMCell)``, split once, one ``jax.jit`` over ``nnx.merge`` with
  the weights on the device: the plainest idiomatic Flax.

    .tox/jax/bin/python benchmarks/jax_inference.py --batch 256
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks" / "reference")]

import flax_loop  # noqa: E402

import backends  # noqa: E402
import tasks  # noqa: E402
from backends import canonical  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=12, help="predict calls per variant and round")
    parser.add_argument("--unroll", default="2,4", help="comma-separated unroll factors to try")
    args = parser.parse_args()
    task = tasks.get("imdb")
    scale = task.scale("full")
    spec, recipe, seq_len = scale.model, scale.recipe, task.seq_len_of(scale)
    rng = np.random.default_rng(0)
    xs = [rng.integers(0, spec.vocab_size, (args.batch, seq_len)).astype(np.int32) for _ in range(4)]

    def adapter(unroll: int):
        a = backends.create(backends.get(f"jax+unroll{unroll}"), "cpu", "fp32")
        a.build(spec, recipe, seed=0)
        a.set_weights(canonical.init(spec, 0))
        return a.predict

    variants = {"adapter": adapter(1)}
    for n in (int(u) for u in args.unroll.split(",") if u):
        variants[f"adapter unroll {n}"] = adapter(n)
    variants["reference"] = flax_loop.make("imdb", recipe.batch_size, args.batch, seq_len, 1e-3).predict
    model = flax_loop.IMDBNet(spec.vocab_size, spec.embed_dim, spec.hidden_size, rngs=nnx.Rngs(0))
    graphdef, state = nnx.split(nnx.view(model, deterministic=True))
    state = jax.device_put(state)
    plain = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
    variants["plain"] = lambda x: np.asarray(plain(state, x))

    for f in variants.values():  # compile and warm
        f(xs[0])
        f(xs[1])
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
            start = time.perf_counter()
            for i in range(args.calls):
                variants[name](xs[i % 4])
            rates[name].append(args.calls * args.batch / (time.perf_counter() - start))
    print(f"IMDB full inference, batch {args.batch} x {seq_len}, jax {jax.__version__}, "
          f"{args.rounds} interleaved rounds of {args.calls} calls")
    for name, v in rates.items():
        paired = np.exp(np.mean(np.log(np.array(v) / np.array(rates["plain"]))))
        print(f"  {name:18s} {np.median(v):7,.0f} samples/s [{min(v):,.0f}-{max(v):,.0f}]  "
              f"{paired:.2f}x of plain (geometric mean of per-round ratios)")


if __name__ == "__main__":
    main()
