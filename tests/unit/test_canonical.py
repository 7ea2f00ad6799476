import numpy as np
import pytest

from backends import canonical
from tasks.spec import Dense, Dropout, ModelSpec


def spec(cell="lstm", init="keras", **kw):
    return ModelSpec(cell=cell, vocab_size=20, embed_dim=6, hidden_size=5, num_layers=2,
                     head=(Dense(7, "relu"), Dropout(0.1), Dense(3)), init=init, **kw)


@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_shapes_follow_the_documented_layout(cell, gates):
    shapes = canonical.shapes(spec(cell))
    assert shapes["embedding"] == (20, 6)
    assert shapes["rnn0/kernel"] == (6, gates * 5) and shapes["rnn1/kernel"] == (5, gates * 5)
    assert shapes["rnn1/recurrent_kernel"] == (5, gates * 5)
    assert ("rnn0/recurrent_bias" in shapes) == (cell == "gru")
    assert shapes["dense0/kernel"] == (5, 7) and shapes["dense1/kernel"] == (7, 3)


def test_param_count_matches_keras_for_the_imdb_seed_model():
    imdb = ModelSpec(cell="lstm", vocab_size=1000, embed_dim=50, hidden_size=100,
                     head=(Dense(250, "relu"), Dropout(0.2), Dense(1)), loss="binary_crossentropy")
    assert canonical.param_count(imdb) == 50_000 + 60_400 + 25_250 + 251  # Keras' model.summary()


def test_keras_init_orthogonal_recurrent_forget_bias_and_bounds():
    w = canonical.init(spec("lstm"), seed=3)
    rec = w["rnn0/recurrent_kernel"].astype(np.float64)  # (5, 20): orthonormal rows
    assert np.allclose(rec @ rec.T, np.eye(5), atol=1e-6)
    assert np.all(w["rnn0/bias"][5:10] == 1.0) and np.all(w["rnn0/bias"][:5] == 0.0)
    assert np.abs(w["embedding"]).max() <= 0.05
    assert np.abs(w["rnn0/kernel"]).max() <= np.sqrt(6 / (6 + 20))
    assert all(v.dtype == np.float32 for v in w.values())


def test_torch_init_bounds():
    w = canonical.init(spec("gru", init="torch"), seed=0)
    bound = 1 / np.sqrt(5)
    assert np.abs(w["rnn1/recurrent_kernel"]).max() <= bound
    assert np.abs(w["dense1/kernel"]).max() <= 1 / np.sqrt(7)


def test_init_is_reproducible_by_seed():
    a, b, c = (canonical.init(spec(), s) for s in (1, 1, 2))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["rnn0/kernel"], c["rnn0/kernel"])


def test_check_names_the_bad_weight():
    w = canonical.init(spec(), 0)
    w["dense0/kernel"] = w["dense0/kernel"].T
    with pytest.raises(ValueError, match="dense0/kernel: shape"):
        canonical.check(spec(), w)
    del w["embedding"]
    with pytest.raises(ValueError, match="missing \\['embedding'\\]"):
        canonical.check(spec(), w)


def test_spec_rejects_unknown_cells_and_headless_models():
    with pytest.raises(ValueError, match="unknown cell kind 'lstmx'"):
        spec("lstmx")
    with pytest.raises(ValueError, match="must end with a Dense"):
        ModelSpec(cell="rnn", vocab_size=3, embed_dim=2, hidden_size=2, head=(Dropout(0.1),))
