"""Parity: every backend importable here computes the NumPy reference's function, for every task's model
and cell kind; and a backend with a deliberately swapped gate order is caught."""

from __future__ import annotations

import numpy as np
import pytest

import backends
import tasks
from backends.canonical import GATES
from harness.parity import check as parity

IMPORTABLE = [name for name, info in backends.registry().items() if backends.importable(info)]
pytestmark = pytest.mark.skipif(not IMPORTABLE, reason="no backend framework installed here")


@pytest.mark.parametrize("task", tasks.all_names())
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_backend_matches_the_reference(task, cell):
    table, ok = parity.run(task, IMPORTABLE, cells=[cell], steps=3, collect=parity.collect_here)
    assert ok, table
    assert table.count(" ok ") == len(IMPORTABLE) * (len(IMPORTABLE) + 1) // 2


def test_spiking_lstm_trains_alike_everywhere():
    """The surrogate gradient, through SGD steps: every backend's weights move as the others'."""
    table, ok = parity.run("names", IMPORTABLE, cells=["spiking-lstm"], steps=3, collect=parity.collect_here)
    assert ok, table


def test_swapped_gate_order_fails(monkeypatch):
    real_create = backends.create

    def swapped(info, device="auto", precision="fp32"):
        adapter = real_create(info, device, precision)
        load = adapter.set_weights

        def set_weights(weights):
            w = dict(weights)
            kernel = w["rnn0/kernel"]
            h = kernel.shape[1] // GATES["lstm"]
            w["rnn0/kernel"] = np.concatenate([kernel[:, h:2 * h], kernel[:, :h], kernel[:, 2 * h:]], axis=1)
            load(w)  # input and forget gates exchanged, as a buggy layout mapping would

        adapter.set_weights = set_weights
        return adapter

    monkeypatch.setattr(backends, "create", swapped)
    table, ok = parity.run("imdb", IMPORTABLE[:1], cells=["lstm"], steps=2, collect=parity.collect_here)
    assert not ok and "FAIL" in table


@pytest.mark.parametrize("optim", [
    {"optimizer": "adam", "clip_norm": 0.05, "weight_decay": 0.01},
    {"optimizer": "rmsprop", "rms_eps": "inside", "centered": True, "momentum": 0.5},
], ids=["adam-clip-decay", "rmsprop-centered-momentum"])
def test_optimizers_train_alike_everywhere(optim):
    """Whole training steps with Adam or RMSprop, clipping and weight decay: the embedding's gradient too
    (Keras on TensorFlow once applied it as IndexedSlices, lazily, and drifted by 3e-3)."""
    table, ok = parity.run("imdb", IMPORTABLE, cells=["rnn"], steps=20, collect=parity.collect_here,
                           optim=optim)
    assert ok, table
