"""The recipe's optimizers in NumPy (float64): the formulas every backend's optimizer must compute.

Order per step, as the adapters apply it: clip the global norm of all gradients to ``clip_norm``, add
``weight_decay * w`` (L2), then the optimizer's update at the recipe's learning rate. The conformance
tests feed the same gradients to each backend's optimizer and to this one and compare the weights.
"""

from __future__ import annotations

import numpy as np

from tasks.spec import Recipe


def steps(recipe: Recipe, weights: list[np.ndarray], grads: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The weights after one step per entry of ``grads`` (each a gradient per weight)."""
    w = [np.asarray(x, dtype=np.float64).copy() for x in weights]
    m = [np.zeros_like(x) for x in w]  # Adam's first moment, RMSprop's mean gradient (centered)
    v = [np.zeros_like(x) for x in w]  # second moment
    buf = [np.zeros_like(x) for x in w]  # momentum
    lr, eps = recipe.lr, recipe.eps
    for t, step_grads in enumerate(grads, start=1):
        g = [np.asarray(x, dtype=np.float64) for x in step_grads]
        if recipe.clip_norm:
            norm = np.sqrt(sum(float(np.sum(x * x)) for x in g))
            scale = min(1.0, recipe.clip_norm / (norm + 1e-6)) if norm > recipe.clip_norm else 1.0
            g = [x * scale for x in g]
        if recipe.weight_decay:
            g = [x + recipe.weight_decay * wi for x, wi in zip(g, w, strict=True)]
        for i, gi in enumerate(g):
            if recipe.optimizer == "sgd":
                if recipe.momentum:
                    buf[i] = recipe.momentum * buf[i] + gi
                    gi = buf[i]
                w[i] -= lr * gi
            elif recipe.optimizer == "adam":
                b1, b2 = recipe.beta1, recipe.beta2
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
                if recipe.adam_eps == "corrected":
                    w[i] -= lr * m_hat / (np.sqrt(v_hat) + eps)
                else:
                    w[i] -= lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m[i] / (np.sqrt(v[i]) + eps)
            else:  # rmsprop
                rho = recipe.rho
                v[i] = rho * v[i] + (1 - rho) * gi * gi
                square = v[i]
                if recipe.centered:
                    m[i] = rho * m[i] + (1 - rho) * gi
                    square = v[i] - m[i] * m[i]
                denom = np.sqrt(square + eps) if recipe.rms_eps == "inside" else np.sqrt(square) + eps
                scaled = gi / denom
                if recipe.momentum:
                    buf[i] = recipe.momentum * buf[i] + scaled
                    scaled = buf[i]
                w[i] -= lr * scaled
    return w
