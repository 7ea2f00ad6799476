"""Optimizer and loss for a recipe, the optax way, matching PyTorch's update rules.

* adam: ``add_decayed_weights`` before ``scale_by_adam`` = PyTorch Adam's ``weight_decay`` (L2 added to the
  gradient); optax divides by ``sqrt(v_hat) + eps`` (the recipe's ``adam_eps="corrected"``). The
  "uncorrected" form (Keras, MXNet) is :func:`scale_by_adam_uncorrected`, a small transformation of its own.
* rmsprop: ``scale_by_rms`` (``scale_by_stddev`` when centered) with ``eps_in_sqrt`` as the recipe's
  ``rms_eps`` says; momentum is traced before the learning rate, as PyTorch buffers it.
* sgd: momentum traced before the learning rate (PyTorch, dampening 0).

Global-norm clipping comes first (PyTorch clips the raw gradients before ``step`` adds weight decay).
The learning rate is an injected hyperparameter living in the optimizer state, so the harness changes it
per epoch without recompiling the step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from tasks.spec import ModelSpec, Recipe


def scale_by_adam_uncorrected(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """Adam with eps added to the uncorrected ``sqrt(v)`` and the bias correction folded into the step:
    ``sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` (Keras, MXNet)."""

    def init(params):  # two distinct buffers: the jitted step donates each
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32), mu=jax.tree.map(jnp.zeros_like, params),
                                      nu=jax.tree.map(jnp.zeros_like, params))

    def update(updates, state, params=None):
        mu = jax.tree.map(lambda g, m: b1 * m + (1 - b1) * g, updates, state.mu)
        nu = jax.tree.map(lambda g, v: b2 * v + (1 - b2) * jnp.square(g), updates, state.nu)
        count = state.count + 1
        t = count.astype(jnp.float32)
        step = jnp.sqrt(1 - b2**t) / (1 - b1**t)
        out = jax.tree.map(lambda m, v: step * m / (jnp.sqrt(v) + eps), mu, nu)
        return out, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def implementation(recipe: Recipe) -> str:
    """Which optimizer code runs the recipe (records keep it)."""
    if recipe.optimizer == "adam":
        return "optax.scale_by_adam" if recipe.adam_eps == "corrected" else \
            "scale_by_adam_uncorrected (custom)"
    if recipe.optimizer == "rmsprop":
        kind = "optax.scale_by_stddev" if recipe.centered else "optax.scale_by_rms"
        return f"{kind}(eps_in_sqrt={recipe.rms_eps == 'inside'})"
    return "optax.sgd chain"


def optimizer(recipe: Recipe) -> optax.GradientTransformation:
    if recipe.optimizer not in ("adam", "rmsprop", "sgd"):
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}")

    def make(learning_rate):
        parts = []
        if recipe.clip_norm:
            parts.append(optax.clip_by_global_norm(recipe.clip_norm))
        if recipe.weight_decay:
            parts.append(optax.add_decayed_weights(recipe.weight_decay))
        if recipe.optimizer == "adam" and recipe.adam_eps == "corrected":
            parts.append(optax.scale_by_adam(b1=recipe.beta1, b2=recipe.beta2, eps=recipe.eps))
        elif recipe.optimizer == "adam":
            parts.append(scale_by_adam_uncorrected(recipe.beta1, recipe.beta2, recipe.eps))
        elif recipe.optimizer == "rmsprop":
            scale = optax.scale_by_stddev if recipe.centered else optax.scale_by_rms
            parts.append(scale(decay=recipe.rho, eps=recipe.eps, initial_scale=0.0,
                               eps_in_sqrt=recipe.rms_eps == "inside"))
        if recipe.optimizer in ("rmsprop", "sgd") and recipe.momentum:
            parts.append(optax.trace(decay=recipe.momentum))
        parts.append(optax.scale_by_learning_rate(learning_rate))
        return optax.chain(*parts)

    return optax.inject_hyperparams(make, hyperparam_dtype=jnp.float32)(learning_rate=recipe.lr)


def loss(spec: ModelSpec, logits: jax.Array, y: jax.Array, weight: jax.Array | None = None) -> jax.Array:
    """Mean loss of float32 ``logits`` against labels ``y`` (0/1 floats or class ids). ``weight`` (one
    per row, 0 for padding rows) makes it the mean over the weighted rows: the same loss as the batch
    without its padding."""
    logits = logits.astype(jnp.float32)
    if spec.loss == "binary_crossentropy":
        per = optax.sigmoid_binary_cross_entropy(logits.reshape(y.shape), y.astype(jnp.float32))
    else:
        rows = logits.shape[0]
        logits, y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1).astype(jnp.int32)
        if spec.loss == "softmax_mse":  # mean over examples and classes, as PyTorch's F.mse_loss
            per = jnp.square(jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])).mean(axis=-1)
        else:
            per = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        per = per.reshape(rows, -1)
    if weight is None:
        return per.mean()
    w = jnp.broadcast_to(weight.reshape((-1,) + (1,) * (per.ndim - 1)), per.shape)
    return (per * w).sum() / w.sum()
