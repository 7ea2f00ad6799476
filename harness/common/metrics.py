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


class Accumulator:
    """Metrics of a split from batches of logits, keeping only predicted classes, not logits.

    A word-level language model's test logits would take gigabytes (82k tokens x 10k words), so each
    batch's loss is summed as it comes and the logits are dropped. Every loss is a mean over label
    elements (``y.size``), so sums weighted by ``y.size`` give exactly the whole-split mean.
    """

    def __init__(self, loss: str) -> None:
        self.loss_fn, self.loss_sum, self.count = LOSSES[loss], 0.0, 0
        self.preds: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.order: list[np.ndarray] = []

    def add(self, logits: np.ndarray, y: np.ndarray, rows: np.ndarray | None = None) -> None:
        self.loss_sum += self.loss_fn(logits, y) * y.size
        self.count += y.size
        self.preds.append(predicted_classes(logits).reshape(y.shape))
        self.labels.append(y)
        if rows is not None:
            self.order.append(rows)

    def predictions(self) -> tuple[np.ndarray, np.ndarray]:
        """Predicted classes and labels, in the split's row order (batches may come bucketed)."""
        pred, y = np.concatenate(self.preds), np.concatenate(self.labels)
        if self.order:
            back = np.argsort(np.concatenate(self.order))
            pred, y = pred[back], y[back]
        return pred, y

    def result(self, metric: str) -> dict[str, float]:
        """The loss and ``metric`` (computed alone: predictions are only gathered when it needs them)."""
        mean = float(self.loss_sum / max(self.count, 1))
        if metric == "loss":
            value = mean
        elif metric == "perplexity":
            value = float(np.exp(min(mean, 700.0)))
        else:
            pred, y = self.predictions()
            if metric == "accuracy":
                value = token_accuracy(pred, y)
            else:  # sequence_accuracy
                value = sequence_accuracy(pred, y) if pred.ndim > 1 else float("nan")
        return {"loss": mean, metric: value}


def last_step_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the final position of every sequence (the five-words seed's 'final character')."""
    return float(np.mean(pred[:, -1] == y[:, -1]))


def sequence_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Share of sequences predicted right at every position (exact match of a whole answer)."""
    return float(np.mean(np.all(pred.reshape(len(y), -1) == y.reshape(len(y), -1), axis=1)))


def confusion(pred: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    """``m[true, predicted]`` counts."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (y.reshape(-1), pred.reshape(-1)), 1)
    return m


def per_class_accuracy(pred: np.ndarray, y: np.ndarray, classes: int) -> np.ndarray:
    m = confusion(pred, y, classes)
    return np.diag(m) / np.maximum(m.sum(axis=1), 1)


def token_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Share of every predicted position that is right (the five-words seed's 'whole text accuracy')."""
    return float(np.mean(pred == y))


EXTRA = {"token_accuracy": token_accuracy, "last_step_accuracy": last_step_accuracy,
         "sequence_accuracy": sequence_accuracy}
