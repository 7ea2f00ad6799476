import math

import numpy as np
import pytest

from harness.common import metrics


def test_binary_crossentropy_and_accuracy_from_logits():
    logits = np.array([[0.0], [2.0], [-1.0]])
    y = np.array([1, 1, 0])
    expected = -(math.log(0.5) + math.log(1 / (1 + math.exp(-2))) + math.log(1 - 1 / (1 + math.exp(1)))) / 3
    assert metrics.binary_crossentropy(logits, y) == pytest.approx(expected, rel=1e-12)
    assert metrics.accuracy(logits, y) == pytest.approx(2 / 3)  # logit 0 counts as negative


def test_binary_crossentropy_is_stable_for_huge_logits():
    assert metrics.binary_crossentropy(np.array([1000.0, -1000.0]), np.array([1, 0])) == pytest.approx(0.0)
    assert metrics.binary_crossentropy(np.array([-1000.0]), np.array([1])) == pytest.approx(1000.0)


def test_categorical_crossentropy_accuracy_and_perplexity():
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    y = np.array([0, 2])
    assert metrics.categorical_crossentropy(logits, y) == pytest.approx(-(math.log(0.7) + math.log(0.8)) / 2)
    assert metrics.accuracy(logits, y) == 1.0
    assert metrics.perplexity(np.zeros((5, 4, 10)), np.zeros((5, 4), dtype=int)) == pytest.approx(10.0)


def test_evaluate_names_loss_and_metric():
    out = metrics.evaluate("categorical_crossentropy", "accuracy", np.eye(3) * 5, np.array([0, 1, 1]))
    assert set(out) == {"loss", "accuracy"} and out["accuracy"] == pytest.approx(2 / 3)
