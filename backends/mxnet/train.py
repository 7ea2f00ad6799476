"""Optimizer and loss for a recipe, the MXNet way.

- adam: ``mx.optimizer.Adam`` (beta1, beta2, epsilon=recipe.eps, ``wd`` = L2 added to the gradient, as
  PyTorch's ``weight_decay``). MXNet folds the bias correction into the step size
  (``lr * sqrt(1-beta2^t) / (1-beta1^t)``, epsilon outside), exactly as Keras does; PyTorch corrects the
  moments instead, which differs only in how epsilon is scaled.
- rmsprop: ``mx.optimizer.RMSProp`` (gamma1=rho, epsilon; Tieleman & Hinton, no momentum).
- sgd: ``mx.optimizer.SGD`` (momentum, wd).

The loss is the mean over the batch (and over time steps for sequence outputs), and the Trainer steps
with ``batch_size=1``, so the gradient applied is the gradient of the mean loss, as in PyTorch.
``softmax_mse`` has no Gluon loss: :class:`SoftmaxMSELoss` (per example, the mean over time steps and
classes, so its batch mean is PyTorch's ``F.mse_loss(softmax(logits), one_hot)``).
"""

from __future__ import annotations

import mxnet as mx
from mxnet import gluon

from backends.base import BackendError
from tasks.spec import ModelSpec, Recipe


def optimizer(recipe: Recipe) -> mx.optimizer.Optimizer:
    common = {"learning_rate": recipe.lr, "wd": recipe.weight_decay}
    if recipe.optimizer == "adam":
        return mx.optimizer.Adam(beta1=recipe.beta1, beta2=recipe.beta2, epsilon=recipe.eps, **common)
    if recipe.optimizer == "rmsprop":
        if recipe.momentum:
            raise BackendError("the mxnet backend's RMSProp has no momentum (MXNet's momentum variant is "
                               "the centered one); use momentum 0 or another backend")
        return mx.optimizer.RMSProp(gamma1=recipe.rho, epsilon=recipe.eps, centered=False, **common)
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
