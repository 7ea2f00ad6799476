"""Optimizer and loss for a recipe, the PyTorch way."""

from __future__ import annotations

import torch
from torch import nn

from tasks.spec import ModelSpec, Recipe


def optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, betas=(recipe.beta1, recipe.beta2), eps=recipe.eps,
                                weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=recipe.lr, alpha=recipe.rho, eps=recipe.eps,
                                   momentum=recipe.momentum, weight_decay=recipe.weight_decay)
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
