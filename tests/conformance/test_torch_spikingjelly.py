"""The torch spiking LSTM against spikingjelly's ``SpikingLSTM`` (0.0.0.0.14, the names seed's), the
implementation the spec's equations were taken from: same weights, same one-hot batch -> the same logits
and the same surrogate gradients for every weight, and the same state carried across calls.

One layer only: spikingjelly 0.0.0.0.14 feeds layer i the previous time step's output of layer i-1, so
its stacks are not the stacked LSTM of the spec. Skipped where spikingjelly is not installed (it is in
the torch tox environment only).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sj_rnn = pytest.importorskip("spikingjelly.clock_driven.rnn")

from torch import nn  # noqa: E402

from backends import canonical  # noqa: E402
from backends.torch import train  # noqa: E402
from tasks.spec import Dense, ModelSpec, Recipe  # noqa: E402
from tests.conformance.test_adapters import batch, make  # noqa: E402

SPEC = ModelSpec(cell="spiking-lstm", vocab_size=11, input="onehot", hidden_size=6, head=(Dense(4),),
                 loss="softmax_mse", init="torch")
TOL = {"atol": 1e-5, "rtol": 1e-5}


def spikingjelly_twin(spec: ModelSpec, weights: dict[str, np.ndarray]) -> tuple[nn.Module, nn.Linear]:
    """spikingjelly's SpikingLSTM and a Linear head holding ``weights``: its two biases as (bias, 0)."""
    lstm = sj_rnn.SpikingLSTM(spec.input_size, spec.hidden_size, num_layers=1)
    head = nn.Linear(spec.hidden_size, spec.num_outputs)
    cell = lstm.cells[0]
    with torch.no_grad():
        cell.linear_ih.weight.copy_(torch.from_numpy(weights["rnn0/kernel"].T))
        cell.linear_ih.bias.copy_(torch.from_numpy(weights["rnn0/bias"]))
        cell.linear_hh.weight.copy_(torch.from_numpy(weights["rnn0/recurrent_kernel"].T))
        cell.linear_hh.bias.zero_()
        head.weight.copy_(torch.from_numpy(weights["dense0/kernel"].T))
        head.bias.copy_(torch.from_numpy(weights["dense0/bias"]))
    return lstm, head


def onehot_tnc(spec: ModelSpec, x: np.ndarray) -> torch.Tensor:
    """The batch as spikingjelly takes it: (T, N, C)."""
    return nn.functional.one_hot(torch.from_numpy(x).long(), spec.vocab_size).float().transpose(0, 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logits_and_surrogate_gradients_match_spikingjelly(seed):
    adapter = make("torch", SPEC, seed=seed)
    lstm, head = spikingjelly_twin(SPEC, canonical.init(SPEC, seed))
    x, y = batch(SPEC, steps=7, seed=seed)
    yt = torch.from_numpy(y).long()

    model = adapter.model.train()
    ours, _ = model(torch.from_numpy(x))
    our_loss = train.loss(SPEC, ours, yt)
    our_loss.backward()

    out, _ = lstm(onehot_tnc(SPEC, x))
    theirs = head(out[-1])
    their_loss = nn.functional.mse_loss(nn.functional.softmax(theirs, dim=-1),
                                        nn.functional.one_hot(yt, SPEC.num_outputs).float())
    their_loss.backward()

    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **TOL)
    np.testing.assert_allclose(adapter.predict(x), theirs.detach().numpy(), **TOL)
    np.testing.assert_allclose(our_loss.item(), their_loss.item(), **TOL)
    rnn, cell, linear = model.rnn, lstm.cells[0], model.head[0]
    pairs = {
        "kernel": (rnn.weight_ih_l0, cell.linear_ih.weight),
        "recurrent_kernel": (rnn.weight_hh_l0, cell.linear_hh.weight),
        "bias": (rnn.bias_ih_l0, cell.linear_ih.bias),
        "bias (spikingjelly's second)": (rnn.bias_ih_l0, cell.linear_hh.bias),  # same gradient
        "dense kernel": (linear.weight, head.weight),
        "dense bias": (linear.bias, head.bias),
    }
    for name, (mine, ref) in pairs.items():
        np.testing.assert_allclose(mine.grad.numpy(), ref.grad.numpy(), err_msg=name, **TOL)
    assert rnn.weight_hh_l0.grad.abs().max() > 0  # the surrogate really carried a gradient back


def test_carried_state_matches_spikingjelly_states():
    adapter = make("torch", SPEC, recipe=Recipe(optimizer="sgd", lr=0.0, batch_size=8,
                                                  sampling="consecutive"))
    lstm, head = spikingjelly_twin(SPEC, canonical.init(SPEC, 0))
    x, _ = batch(SPEC, steps=10)
    with torch.no_grad():
        first, states = lstm(onehot_tnc(SPEC, x[:, :4]))
        # spikingjelly returns (h, c) split along a leading axis of 1; it takes them back as (L, N, H)
        second, _ = lstm(onehot_tnc(SPEC, x[:, 4:]), tuple(s[0] for s in states))
        expected = [head(first[-1]).numpy(), head(second[-1]).numpy()]
    adapter.reset_state()
    np.testing.assert_allclose(adapter.predict(x[:, :4]), expected[0], **TOL)
    np.testing.assert_allclose(adapter.predict(x[:, 4:]), expected[1], **TOL)


def test_spiking_model_reports_the_loop_kernel():
    adapter = make("torch", replace(SPEC, num_layers=2))
    assert adapter.describe()["kernel_path"] == "loop"
