"""The scan cells' definition without any framework: validation, the canonical layout and Lambda's
initialisation, the NumPy reference's invariants, and the CLI's one-line errors (exit 2)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import tasks
from backends import canonical, reference
from harness.common import overrides
from harness.errors import UserError
from tasks.spec import RGLRU_C, SCAN_CELLS, Dense, ModelSpec
from tests.unit.test_cli import harness

BASE = ModelSpec(cell="mingru", vocab_size=6, embed_dim=3, hidden_size=4, num_layers=2, head=(Dense(6),),
                 output="sequence", init="torch")


@pytest.mark.parametrize("change,message", [
    ({"scan": "blelloch"}, "unknown scan mode 'blelloch'; expected one of sequential, parallel"),
    ({"recurrent_dropout": 0.2}, "cell mingru has no recurrent matrix to drop out"),
    ({"decoder_steps": 3}, "cell mingru has no encoder-decoder form here"),
])
def test_a_scan_cell_refuses_what_it_cannot_take(change, message):
    with pytest.raises(ValueError, match=message):
        replace(BASE, **change)


@pytest.mark.parametrize("cell", SCAN_CELLS)
def test_layout_has_no_recurrent_kernel_and_rglru_has_lambda(cell):
    spec = replace(BASE, cell=cell)
    shapes = canonical.shapes(spec)
    g = canonical.GATES[cell]
    assert shapes["rnn0/kernel"] == (3, g * 4) and shapes["rnn1/kernel"] == (4, g * 4)
    assert not any("recurrent" in name for name in shapes)
    assert ("rnn0/lambda" in shapes) == (cell == "rglru")
    assert not spec.fused_ok and spec.scan_cell


def test_rglru_lambda_starts_with_griffins_slow_decay():
    weights = canonical.init(replace(BASE, cell="rglru", hidden_size=500, num_layers=1), 0)
    decay = (1 / (1 + np.exp(-weights["rnn0/lambda"].astype(np.float64)))) ** RGLRU_C
    assert decay.min() >= 0.9 - 1e-6 and decay.max() <= 0.999 + 1e-6
    assert abs(np.median(decay) - 0.9495) < 0.01  # uniform on [0.9, 0.999]


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_min_cells_are_convex_mixtures(cell):
    """minGRU's (1-z, z) and minLSTM's normalised (f', i') sum to one: h stays within the candidates'
    range, from any start."""
    rng = np.random.default_rng(1)
    g = canonical.GATES[cell]
    gates = rng.normal(size=(5, g * 3)) * 3
    h = rng.uniform(-1, 1, (5, 3))
    cand = gates[:, -3:]
    out = reference.scan_cell_step(cell, gates, h)
    low, high = np.minimum(h, cand), np.maximum(h, cand)
    assert np.all(out >= low - 1e-12) and np.all(out <= high + 1e-12)


def test_rglru_keeps_the_norm_with_a_unit_input():
    """RG-LRU's sqrt(1 - a^2) scaling: with i*u = 1 and h = 1 the step keeps a^2 + (1-a^2) = 1 in its
    square sum, a h + sqrt(1-a^2) <= sqrt(2) and h' -> 1 as a -> 1."""
    gates = np.concatenate([np.full((1, 2), 50.0), np.full((1, 2), 50.0), np.ones((1, 2))], axis=1)
    lam = np.array([20.0, 20.0])  # a = sigmoid(20)**8 ~= 1
    out = reference.scan_cell_step("rglru", gates, np.ones((1, 2)), lam)
    np.testing.assert_allclose(out, 1.0, atol=1e-3)


@pytest.mark.parametrize("args,message", [
    (["run", "--task", "imdb", "--backend", "torch", "--set", "model.cell=mingruu"],
     "model.cell='mingruu': choose one of rnn, gru, lstm, spiking-lstm, mingru, minlstm, rglru"),
    (["run", "--task", "imdb", "--backend", "torch", "--set", "model.scan=blelloch"],
     "model.scan='blelloch': choose one of sequential, parallel"),
    (["run", "--task", "imdb", "--backend", "torch", "--cell", "minigru"], "invalid choice: 'minigru'"),
])
def test_bad_scan_input_is_one_line_exit_2(args, message):
    result = harness(*args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert message in lines[0]


def test_scan_cell_on_a_recurrent_dropout_scale_is_a_user_error():
    """imdb's seed scale has recurrent dropout 0.2: ``--cell mingru`` there is a UserError (exit 2, one
    line) from the same override path every command takes (the run's worker applies it)."""
    imdb = tasks.get("imdb")
    with pytest.raises(UserError, match="cell mingru has no recurrent matrix to drop out") as info:
        overrides.apply(imdb.scale("seed"), overrides.parse_settings(["model.cell=mingru"], imdb), imdb)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
