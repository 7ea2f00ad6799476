"""Optimizer and loss for a recipe, the optax way, matching PyTorch's update rules.

* adam: ``add_decayed_weights`` before ``scale_by_adam`` = PyTorch Adam's ``weight_decay`` (L2 added to the
  gradient); both divide by ``sqrt(v_hat) + eps``.
* rmsprop: ``scale_by_rms(eps_in_sqrt=False)`` divides by ``sqrt(v) + eps`` like PyTorch (optax's default
  puts eps inside the root); momentum is traced before the learning rate, as PyTorch buffers it.
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


def optimizer(recipe: Recipe) -> optax.GradientTransformation:
    if recipe.optimizer not in ("adam", "rmsprop", "sgd"):
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}")

    def make(learning_rate):
        parts = []
        if recipe.clip_norm:
            parts.append(optax.clip_by_global_norm(recipe.clip_norm))
        if recipe.weight_decay:
            parts.append(optax.add_decayed_weights(recipe.weight_decay))
        if recipe.optimizer == "adam":
            parts.append(optax.scale_by_adam(b1=recipe.beta1, b2=recipe.beta2, eps=recipe.eps))
        elif recipe.optimizer == "rmsprop":
            parts.append(optax.scale_by_rms(decay=recipe.rho, eps=recipe.eps, initial_scale=0.0,
                                            eps_in_sqrt=False))
        if recipe.optimizer in ("rmsprop", "sgd") and recipe.momentum:
            parts.append(optax.trace(decay=recipe.momentum))
        parts.append(optax.scale_by_learning_rate(learning_rate))
        return optax.chain(*parts)

    return optax.inject_hyperparams(make, hyperparam_dtype=jnp.float32)(learning_rate=recipe.lr)


def loss(spec: ModelSpec, logits: jax.Array, y: jax.Array) -> jax.Array:
    """Mean loss of float32 ``logits`` against labels ``y`` (0/1 floats or class ids)."""
    logits = logits.astype(jnp.float32)
    if spec.loss == "binary_crossentropy":
        return optax.sigmoid_binary_cross_entropy(logits.reshape(y.shape), y.astype(jnp.float32)).mean()
    logits, y = logits.reshape(-1, logits.shape[-1]), y.reshape(-1).astype(jnp.int32)
    if spec.loss == "softmax_mse":  # mean over examples and classes, as PyTorch's F.mse_loss
        return jnp.square(jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])).mean()
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
