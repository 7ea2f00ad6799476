"""Optimizer and loss for a recipe, the MXNet way.

- adam: ``mx.optimizer.Adam`` (beta1, beta2, epsilon=recipe.eps, ``wd`` = L2 added to the gradient, as
  PyTorch's ``weight_decay``). MXNet folds the bias correction into the step size
  (``lr * sqrt(1-beta2^t) / (1-beta1^t)``, epsilon added to the uncorrected ``sqrt(v)``), as Keras does:
  the recipe's ``adam_eps="uncorrected"``. The "corrected" form (PyTorch, optax) is :class:`CorrectedAdam`,
  MXNet's own ``adam_update`` with epsilon scaled by ``sqrt(1 - beta2^t)``.
- rmsprop: ``mx.optimizer.RMSProp`` (gamma1=rho; Tieleman & Hinton: ``g / sqrt(v + eps)``, no momentum)
  where that is the recipe's; otherwise :class:`RecipeRMSProp` (eps inside or outside the root, centered,
  PyTorch's momentum), a small update through MXNet's optimizer API.
- sgd: ``mx.optimizer.SGD`` (momentum, wd).

The loss is the mean over the batch (and over time steps for sequence outputs), and the Trainer steps
with ``batch_size=1``, so the gradient applied is the gradient of the mean loss, as in PyTorch.
``softmax_mse`` has no Gluon loss: :class:`SoftmaxMSELoss` (per example, the mean over time steps and
classes, so its batch mean is PyTorch's ``F.mse_loss(softmax(logits), one_hot)``).
"""

from __future__ import annotations

import math

import mxnet as mx
from mxnet import gluon

from backends.base import BackendError
from tasks.spec import ModelSpec, Recipe


class CorrectedAdam(mx.optimizer.Adam):
    """Adam with epsilon added to the bias-corrected ``sqrt(v_hat)``: MXNet's update with
    ``epsilon * sqrt(1 - beta2^t)``, which is the same quantity."""

    def update(self, index, weight, grad, state):
        self._update_count(index)
        t = self._index_update_count[index]
        coef1, coef2 = 1.0 - self.beta1**t, 1.0 - self.beta2**t
        kwargs = {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon * math.sqrt(coef2),
                  "rescale_grad": self.rescale_grad}
        if self.clip_gradient:
            kwargs["clip_gradient"] = self.clip_gradient
        mean, var = state
        mx.nd.adam_update(weight, grad, mean, var, out=weight, lazy_update=self.lazy_update,
                          lr=self._get_lr(index) * math.sqrt(coef2) / coef1, wd=self._get_wd(index), **kwargs)


class RecipeRMSProp(mx.optimizer.Optimizer):
    """RMSprop with eps ``inside`` or ``outside`` the root, optionally centered, with PyTorch's momentum
    (the buffer holds the scaled gradient; the learning rate applies after it)."""

    def __init__(self, rho: float, epsilon: float, eps_at: str, centered: bool, momentum: float,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.rho, self.epsilon, self.eps_at, self.centered, self.momentum = (
            rho, epsilon, eps_at, centered, momentum)

    def create_state(self, index, weight):
        def zeros():
            return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)

        return {"v": zeros(), "g_avg": zeros() if self.centered else None,
                "buf": zeros() if self.momentum else None}

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr, wd = self._get_lr(index), self._get_wd(index)
        g = grad * self.rescale_grad
        if wd:
            g = g + wd * weight
        v = state["v"]
        v[:] = self.rho * v + (1 - self.rho) * mx.nd.square(g)
        square = v
        if self.centered:
            avg = state["g_avg"]
            avg[:] = self.rho * avg + (1 - self.rho) * g
            square = v - mx.nd.square(avg)
        denom = mx.nd.sqrt(square + self.epsilon) if self.eps_at == "inside" else \
            mx.nd.sqrt(square) + self.epsilon
        scaled = g / denom
        if self.momentum:
            buf = state["buf"]
            buf[:] = self.momentum * buf + scaled
            scaled = buf
        weight[:] = weight - lr * scaled


def _native_rmsprop(recipe: Recipe) -> bool:
    return recipe.rms_eps == "inside" and not recipe.centered and not recipe.momentum


def implementation(recipe: Recipe) -> str:
    """Which optimizer code runs the recipe (records keep it)."""
    if recipe.optimizer == "adam":
        return "mx.optimizer.Adam" if recipe.adam_eps == "uncorrected" else \
            "mx.optimizer.Adam's adam_update, epsilon * sqrt(1 - beta2^t) (CorrectedAdam)"
    if recipe.optimizer == "rmsprop":
        return "mx.optimizer.RMSProp" if _native_rmsprop(recipe) else "RecipeRMSProp (custom)"
    return "mx.optimizer.SGD"


def optimizer(recipe: Recipe) -> mx.optimizer.Optimizer:
    common = {"learning_rate": recipe.lr, "wd": recipe.weight_decay}
    if recipe.optimizer == "adam":
        cls = mx.optimizer.Adam if recipe.adam_eps == "uncorrected" else CorrectedAdam
        return cls(beta1=recipe.beta1, beta2=recipe.beta2, epsilon=recipe.eps, **common)
    if recipe.optimizer == "rmsprop":
        if _native_rmsprop(recipe):
            return mx.optimizer.RMSProp(gamma1=recipe.rho, epsilon=recipe.eps, centered=False, **common)
        return RecipeRMSProp(recipe.rho, recipe.eps, recipe.rms_eps, recipe.centered, recipe.momentum,
                             **common)
    if recipe.optimizer == "sgd":
        return mx.optimizer.SGD(momentum=recipe.momentum, **common)
    raise BackendError(f"unknown optimizer {recipe.optimizer!r}")


class SoftmaxMSELoss(gluon.loss.Loss):
    """Squared error between the softmax of the logits and the one-hot label, averaged per example."""

    def __init__(self, classes: int, **kwargs) -> None:
        super().__init__(weight=None, batch_axis=0, **kwargs)
        self.classes = classes

    def hybrid_forward(self, F, pred, label):
        err = F.softmax(pred, axis=-1) - F.one_hot(label, depth=self.classes)
        return F.mean(F.square(err), axis=self._batch_axis, exclude=True)


def loss(spec: ModelSpec) -> gluon.loss.Loss:
    """Per-example loss from logits (mean over time steps for sequence outputs)."""
    if spec.loss == "binary_crossentropy":
        return gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=False)
    if spec.loss == "softmax_mse":
        return SoftmaxMSELoss(spec.num_outputs)
    return gluon.loss.SoftmaxCrossEntropyLoss(axis=-1, sparse_label=True, from_logits=False)
