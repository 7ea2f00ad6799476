"""JAX/Flax: an ``nnx`` model with hand-written cells over ``jax.lax.scan`` (cuDNN LSTM on a GPU), optax.

The package is named ``jax`` like the framework; its modules use absolute imports, so ``import jax``
inside them is the real JAX (``backends/`` itself is never on ``sys.path``).
"""

from backends.base import BackendInfo

BACKENDS = (
    BackendInfo(
        name="jax",
        adapter="backends.jax.adapter:JaxAdapter",
        requires=("jax", "flax", "optax"),
        tox_env="jax",
        description="JAX 0.10 / Flax 0.12 nnx + optax, one jitted step, lax.scan cells "
                    "(cuDNN LSTM on a GPU)",
        # XLA compiles every mode; the modes are lax.scan's unroll factor: steps fused per loop iteration
        modes={f"unroll{n}": f"jax.lax.scan(..., unroll={n})" for n in (1, 2, 4, 8, 16)},
    ),
)
