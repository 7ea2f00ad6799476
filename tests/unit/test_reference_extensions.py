"""The NumPy reference's spiking cell, encoder-decoder and carried state, checked by hand."""

import numpy as np

from backends import canonical, reference
from harness.common import metrics
from tasks.spec import Dense, ModelSpec


def test_spiking_lstm_counts_spikes_without_squashing():
    spec = ModelSpec(cell="spiking-lstm", vocab_size=2, input="onehot", hidden_size=1, head=(Dense(1),),
                     loss="binary_crossentropy")
    w = {"rnn0/kernel": np.array([[1.0, 1.0, 1.0, 1.0], [-1.0, 1.0, 1.0, 1.0]]),
         "rnn0/recurrent_kernel": np.zeros((1, 4)), "rnn0/bias": np.zeros(4),
         "dense0/kernel": np.ones((1, 1)), "dense0/bias": np.zeros(1)}
    # token 0 fires every gate: c = c + 1, h = c. Token 1 holds the input gate shut: c stays, h = c.
    out = reference.forward(spec, w, np.array([[0, 0, 1, 0]]))
    assert out.tolist() == [[3.0]]
    assert reference.heaviside(np.array([-1e-9, 0.0, 2.0])).tolist() == [0.0, 1.0, 1.0]


def test_encoder_decoder_repeats_the_last_encoder_output():
    spec = ModelSpec(cell="gru", vocab_size=5, input="onehot", hidden_size=3, head=(Dense(5),),
                     output="sequence", decoder_steps=4)
    w = canonical.init(spec, 0)
    assert {"dec0/kernel", "dec0/recurrent_kernel", "dec0/bias", "dec0/recurrent_bias"} <= set(w)
    x = np.array([[1, 2, 3], [4, 0, 1]])
    out = reference.forward(spec, w, x)
    assert out.shape == (2, 4, 5)
    # the decoder only sees the encoder's last output: changing an earlier token changes every step,
    # and equal final states give equal outputs
    assert not np.allclose(out, reference.forward(spec, w, np.array([[0, 2, 3], [4, 0, 1]])))


def test_state_carried_across_two_calls_equals_one_call():
    spec = ModelSpec(cell="lstm", vocab_size=7, embed_dim=3, hidden_size=4, num_layers=2, head=(Dense(7),),
                     output="sequence", init="torch")
    w = canonical.init(spec, 1)
    x = np.random.default_rng(0).integers(0, 7, size=(3, 9))
    first, state = reference.forward(spec, w, x[:, :5], return_state=True)
    second = reference.forward(spec, w, x[:, 5:], state=state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), reference.forward(spec, w, x))


def test_softmax_mse_matches_a_hand_computation():
    logits = np.log(np.array([[0.5, 0.25, 0.25]]))
    assert np.isclose(metrics.softmax_mse(logits, np.array([0])), (0.25 + 0.0625 + 0.0625) / 3)
