"""Every metric, computed once in NumPy from the logits the backends return.

Logits are the final Dense layer's outputs: shape (N, 1) or (N,) for binary tasks, (N, C) for classes,
(N, T, C) for per-step outputs. Losses are means over all predicted positions.
"""

from __future__ import annotations

import numpy as np


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def binary_crossentropy(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits.astype(np.float64).reshape(y.shape)
    return float(-np.mean(y * _log_sigmoid(z) + (1 - y) * _log_sigmoid(-z)))


def categorical_crossentropy(logits: np.ndarray, y: np.ndarray) -> float:
    logp = log_softmax(logits).reshape(-1, logits.shape[-1])
    return float(-np.mean(logp[np.arange(logp.shape[0]), y.reshape(-1)]))


def softmax_mse(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean over examples and classes of (softmax(logits) - one_hot(y))^2 (PyTorch's F.mse_loss)."""
    p = np.exp(log_softmax(logits)).reshape(-1, logits.shape[-1])
    p[np.arange(p.shape[0]), y.reshape(-1)] -= 1.0
    return float(np.mean(p**2))


def predicted_classes(logits: np.ndarray) -> np.ndarray:
    """Class ids: sign of a single logit (binary) or argmax."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        return (logits.reshape(logits.shape[: 1 if logits.ndim <= 2 else -1]) > 0).astype(np.int64)
    return logits.argmax(axis=-1)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predicted_classes(logits).reshape(y.shape) == y))


def perplexity(logits: np.ndarray, y: np.ndarray) -> float:
    """exp of the mean cross-entropy per predicted token."""
    return float(np.exp(categorical_crossentropy(logits, y)))


LOSSES = {"binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy,
          "softmax_mse": softmax_mse}
METRICS = {"accuracy": accuracy, "perplexity": perplexity}


def evaluate(loss: str, metric: str, logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``{"loss": ..., metric: ...}`` for one split."""
    return {"loss": LOSSES[loss](logits, y), metric: METRICS[metric](logits, y)}
