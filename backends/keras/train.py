"""Optimizer and loss for a recipe, the Keras way.

Adam/RMSprop/SGD are Keras' own with the recipe's constants where Keras computes the recipe's formula:
its Adam adds eps to the uncorrected ``sqrt(v)`` (``adam_eps="uncorrected"``), its RMSprop divides by
``sqrt(v + eps)`` and buffers ``lr * g / ...`` as momentum. The other forms are small ``update_step``
overrides (:func:`_corrected_adam`, :func:`_rmsprop`); ``implementation`` names what ran. ``clip_norm`` is
Keras' ``global_clipnorm`` (one norm over all gradients, like ``torch.nn.utils.clip_grad_norm_``).
``weight_decay`` is L2 added to the gradient after clipping (PyTorch's ``weight_decay`` semantics), not
Keras' decoupled ``weight_decay``.
Losses take logits (``from_logits=True``); ``softmax_mse`` is Keras' ``MeanSquaredError`` between the softmax
and the one-hot label (mean over classes, then over examples and steps: the mean over all of them).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tasks.spec import ModelSpec, Recipe


def _native_rmsprop(recipe: Recipe) -> bool:
    return recipe.rms_eps == "inside" and not recipe.momentum


def implementation(recipe: Recipe) -> str:
    """Which optimizer code runs the recipe (records keep it)."""
    if recipe.optimizer == "adam":
        return "keras.optimizers.Adam" if recipe.adam_eps == "uncorrected" else \
            "keras.optimizers.Adam, update_step with eps * sqrt(1 - beta2^t) (corrected)"
    if recipe.optimizer == "rmsprop":
        return "keras.optimizers.RMSprop" if _native_rmsprop(recipe) else \
            f"keras.optimizers.RMSprop, update_step: eps {recipe.rms_eps} the root, torch-style momentum"
    return "keras.optimizers.SGD"


def optimizer(keras: ModuleType, recipe: Recipe) -> Any:
    opts = keras.optimizers
    common = {"learning_rate": recipe.lr, "global_clipnorm": recipe.clip_norm or None}
    if recipe.optimizer == "adam":
        cls, kwargs = opts.Adam, {"beta_1": recipe.beta1, "beta_2": recipe.beta2, "epsilon": recipe.eps}
        if recipe.adam_eps == "corrected":
            cls = _corrected_adam(keras)
    elif recipe.optimizer == "rmsprop":
        cls, kwargs = opts.RMSprop, {"rho": recipe.rho, "momentum": recipe.momentum, "epsilon": recipe.eps,
                                     "centered": recipe.centered}
        if not _native_rmsprop(recipe):
            cls = _rmsprop(keras, recipe.rms_eps)
    elif recipe.optimizer == "sgd":
        cls, kwargs = opts.SGD, {"momentum": recipe.momentum}
    else:
        raise ValueError(f"unknown optimizer {recipe.optimizer!r}")
    if recipe.weight_decay:
        cls = _with_l2(keras, cls, recipe.weight_decay)
    return cls(**common, **kwargs)


def _corrected_adam(keras: ModuleType) -> type:
    """Keras' Adam with eps added to the bias-corrected ``sqrt(v_hat)`` (PyTorch, optax): Keras' update
    with ``eps * sqrt(1 - beta2^t)``, which is the same quantity."""
    ops = keras.ops

    class CorrectedAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            lr = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            t = ops.cast(self.iterations + 1, variable.dtype)
            b1_power = ops.power(ops.cast(self.beta_1, variable.dtype), t)
            b2_power = ops.power(ops.cast(self.beta_2, variable.dtype), t)
            m = self._momentums[self._get_variable_index(variable)]
            v = self._velocities[self._get_variable_index(variable)]
            alpha = lr * ops.sqrt(1 - b2_power) / (1 - b1_power)
            self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
            self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
            eps = ops.multiply(ops.cast(self.epsilon, variable.dtype), ops.sqrt(1 - b2_power))
            self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), eps)))

    return CorrectedAdam


def _rmsprop(keras: ModuleType, eps_at: str) -> type:
    """RMSprop with eps ``inside`` or ``outside`` the root and PyTorch's momentum (the buffer holds the
    scaled gradient; the learning rate applies after it)."""
    ops = keras.ops

    class RecipeRMSprop(keras.optimizers.RMSprop):
        def update_step(self, gradient, variable, learning_rate):
            lr = ops.cast(learning_rate, variable.dtype)
            gradient = ops.cast(gradient, variable.dtype)
            i = self._get_variable_index(variable)
            velocity, rho = self._velocities[i], self.rho
            self.assign(velocity, ops.add(ops.multiply(rho, velocity),
                                          ops.multiply(1 - rho, ops.square(gradient))))
            square = velocity
            if self.centered:
                avg = self._average_gradients[i]
                self.assign(avg, ops.add(ops.multiply(rho, avg), ops.multiply(1 - rho, gradient)))
                square = ops.subtract(velocity, ops.square(avg))
            eps = ops.cast(self.epsilon, variable.dtype)
            denom = ops.sqrt(ops.add(square, eps)) if eps_at == "inside" else ops.add(ops.sqrt(square), eps)
            scaled = ops.divide(gradient, denom)
            if self.momentum > 0:
                buf = self._momentums[i]
                self.assign(buf, ops.add(ops.multiply(self.momentum, buf), scaled))
                scaled = buf
            self.assign_sub(variable, ops.multiply(lr, scaled))

    return RecipeRMSprop


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

    def softmax_mse(y_true: Any, logits: Any, sample_weight: Any = None) -> Any:
        logits = ops.cast(logits, "float32")
        return mse(ops.one_hot(y_true, classes, dtype="float32"), ops.softmax(logits, axis=-1),
                   sample_weight=sample_weight)

    return softmax_mse
