"""Optimizer and loss for a recipe, the Keras way.

Adam/RMSprop/SGD are Keras' own with the recipe's constants; ``clip_norm`` is Keras' ``global_clipnorm``
(one norm over all gradients, like ``torch.nn.utils.clip_grad_norm_``). ``weight_decay`` is L2 added to the
gradient after clipping (PyTorch's ``weight_decay`` semantics), not Keras' decoupled ``weight_decay``.
Losses take logits (``from_logits=True``); ``softmax_mse`` is Keras' ``MeanSquaredError`` between the softmax
and the one-hot label (mean over classes, then over examples and steps: the mean over all of them).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tasks.spec import ModelSpec, Recipe


def optimizer(keras: ModuleType, recipe: Recipe) -> Any:
    opts = keras.optimizers
    common = {"learning_rate": recipe.lr, "global_clipnorm": recipe.clip_norm or None}
    if recipe.optimizer == "adam":
        cls, kwargs = opts.Adam, {"beta_1": recipe.beta1, "beta_2": recipe.beta2, "epsilon": recipe.eps}
    elif recipe.optimizer == "rmsprop":
        cls, kwargs = opts.RMSprop, {"rho": recipe.rho, "momentum": recipe.momentum, "epsilon": recipe.eps}
    elif recipe.optimizer == "sgd":
        cls, kwargs = opts.SGD, {"momentum": recipe.momentum}
    else:
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}")
    if recipe.weight_decay:
        cls = _with_l2(keras, cls, recipe.weight_decay)
    return cls(**common, **kwargs)


def _with_l2(keras: ModuleType, cls: type, decay: float) -> type:
    """``cls`` with ``decay * variable`` added to each (already clipped) gradient before its update."""

    class L2(cls):  # type: ignore[misc, valid-type]
        def update_step(self, gradient, variable, learning_rate):
            ops = keras.ops
            gradient = ops.add(gradient, ops.multiply(ops.cast(decay, variable.dtype), variable))
            return super().update_step(gradient, variable, learning_rate)

    L2.__name__ = f"{cls.__name__}L2"
    return L2


def loss(keras: ModuleType, spec: ModelSpec) -> Any:
    """A callable ``loss(y_true, logits)``: the batch mean, computed in float32."""
    if spec.loss == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    if spec.loss == "softmax_mse":
        return _softmax_mse(keras, spec.num_outputs)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _softmax_mse(keras: ModuleType, classes: int) -> Any:
    ops, mse = keras.ops, keras.losses.MeanSquaredError()

    def softmax_mse(y_true: Any, logits: Any) -> Any:
        logits = ops.cast(logits, "float32")
        return mse(ops.one_hot(y_true, classes, dtype="float32"), ops.softmax(logits, axis=-1))

    return softmax_mse
