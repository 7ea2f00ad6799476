"""Optimizer and loss for a recipe, the PyTorch way.

torch.optim computes the recipe's "corrected" Adam and its RMSprop with eps outside the root. The other
forms are small updates through the same optimizer API: :class:`UncorrectedAdam` is torch's Adam with
eps scaled by ``1/sqrt(1 - beta2^t)`` at step t (algebraically Keras' and MXNet's form), and
:class:`RMSpropEpsInside` is RMSprop dividing by ``sqrt(v + eps)``. ``IMPLEMENTATION`` names what ran.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tasks.spec import ModelSpec, Recipe


class UncorrectedAdam(torch.optim.Adam):
    """Adam with eps added to the uncorrected ``sqrt(v)`` (Keras, MXNet): torch's own update with
    ``eps / sqrt(1 - beta2^t)``, set before every step."""

    def __init__(self, params, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.base_eps = [g["eps"] for g in self.param_groups]
        self.t = 0

    @torch.no_grad()
    def step(self, closure=None):
        self.t += 1
        for group, eps in zip(self.param_groups, self.base_eps, strict=True):
            group["eps"] = eps / math.sqrt(1.0 - group["betas"][1] ** self.t)
        return super().step(closure)


class RMSpropEpsInside(torch.optim.Optimizer):
    """RMSprop dividing by ``sqrt(v + eps)`` (Keras, TensorFlow, MXNet); centered and momentum as
    torch's RMSprop (momentum buffers the scaled gradient; the learning rate applies after it)."""

    def __init__(self, params, lr: float, alpha: float, eps: float, momentum: float = 0.0,
                 centered: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "centered": centered, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if not group["weight_decay"] else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["v"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["g_avg"] = torch.zeros_like(p)
                    if group["momentum"]:
                        state["buf"] = torch.zeros_like(p)
                v = state["v"].mul_(group["alpha"]).addcmul_(g, g, value=1 - group["alpha"])
                if group["centered"]:
                    g_avg = state["g_avg"].lerp_(g, 1 - group["alpha"])
                    v = v.addcmul(g_avg, g_avg, value=-1)
                scaled = g / v.add(group["eps"]).sqrt_()
                if group["momentum"]:
                    scaled = state["buf"].mul_(group["momentum"]).add_(scaled)
                p.add_(scaled, alpha=-group["lr"])
        return None


def implementation(recipe: Recipe) -> str:
    """Which optimizer code runs the recipe (records keep it)."""
    if recipe.optimizer == "adam":
        return "torch.optim.Adam" if recipe.adam_eps == "corrected" else \
            "torch.optim.Adam, eps / sqrt(1 - beta2^t) each step (UncorrectedAdam)"
    if recipe.optimizer == "rmsprop":
        return "torch.optim.RMSprop" if recipe.rms_eps == "outside" else "RMSpropEpsInside (custom)"
    return "torch.optim.SGD"


def optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        cls = torch.optim.Adam if recipe.adam_eps == "corrected" else UncorrectedAdam
        return cls(params, lr=recipe.lr, betas=(recipe.beta1, recipe.beta2), eps=recipe.eps,
                   weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop":
        cls = torch.optim.RMSprop if recipe.rms_eps == "outside" else RMSpropEpsInside
        return cls(params, lr=recipe.lr, alpha=recipe.rho, eps=recipe.eps, momentum=recipe.momentum,
                   centered=recipe.centered, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}")


def loss(spec: ModelSpec, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of float32 ``logits`` against labels ``y`` (0/1 floats or class ids)."""
    if spec.loss == "binary_crossentropy":
        return nn.functional.binary_cross_entropy_with_logits(logits.reshape(y.shape), y.float())
    if spec.loss == "softmax_mse":  # the spiking-LSTM seed's loss: mean over examples and classes
        probs = nn.functional.softmax(logits, dim=-1)
        onehot = nn.functional.one_hot(y.long(), logits.shape[-1]).to(probs.dtype)
        return nn.functional.mse_loss(probs, onehot)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())
