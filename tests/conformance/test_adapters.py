"""What every adapter must do, written once and parametrised by backend.

Each tox environment runs this module; backends whose framework is not importable there are skipped.
Outputs are compared with the NumPy reference forward pass (``backends.reference``) on the same
canonical weights, so a wrong gate order or layout fails here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import backends
from backends import canonical, reference
from harness.common import metrics
from tasks.spec import Dense, Dropout, ModelSpec, Recipe

BACKENDS = [pytest.param(name, marks=pytest.mark.skipif(not backends.importable(info),
                                                        reason=f"{', '.join(info.requires)} not installed"))
            for name, info in backends.registry().items()]
CELLS = ("rnn", "gru", "lstm")
KERNEL_PATHS = ("fused", "cudnn", "loop", "xla", "scan")
RECIPE = Recipe(optimizer="adam", lr=1e-2, batch_size=8, epochs=1)


def spec_for(cell: str, variant: str = "classify") -> ModelSpec:
    base = ModelSpec(cell=cell, vocab_size=13, embed_dim=6, hidden_size=5, num_layers=2,
                     head=(Dense(7, "relu"), Dropout(0.1), Dense(3)), init="torch")
    if variant == "binary":
        return replace(base, head=(Dense(1),), loss="binary_crossentropy", init="keras", num_layers=1,
                       embed_dropout=0.2, input_dropout=0.2)
    if variant == "onehot-sequence":
        return replace(base, input="onehot", embed_dim=0, output="sequence", layer_dropout=0.3)
    if variant == "recurrent-dropout":
        return replace(base, recurrent_dropout=0.25, init="keras")
    return base


VARIANTS = ("classify", "binary", "onehot-sequence", "recurrent-dropout")


def batch(spec: ModelSpec, n: int = 8, steps: int = 9, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, spec.vocab_size, size=(n, steps)).astype(np.int32)
    if spec.loss == "binary_crossentropy":
        return x, (x[:, -1] % 2).astype(np.float32)
    shape = (n, steps) if spec.output == "sequence" else (n,)
    return x, rng.integers(0, spec.num_outputs, size=shape).astype(np.int32)


def make(name: str, spec: ModelSpec, seed: int = 0, recipe: Recipe = RECIPE):
    adapter = backends.create(backends.get(name), device="cpu")
    adapter.build(spec, recipe, seed)
    adapter.set_weights(canonical.init(spec, seed))
    return adapter


def loss_of(adapter, spec, x, y) -> float:
    return metrics.LOSSES[spec.loss](adapter.predict(x), y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_predict_matches_numpy_reference(backend, cell, variant):
    spec = spec_for(cell, variant)
    adapter = make(backend, spec)
    x, _ = batch(spec)
    out = adapter.predict(x)
    expected = reference.forward(spec, canonical.init(spec, 0), x)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cell", CELLS)
def test_weights_round_trip_and_transfer(backend, cell):
    spec = spec_for(cell)
    weights = canonical.init(spec, 5)
    first = make(backend, spec)
    first.set_weights(weights)
    exported = first.get_weights()
    assert set(exported) == set(weights)
    for k in weights:
        np.testing.assert_allclose(exported[k], weights[k], atol=1e-7, err_msg=k)
    second = make(backend, spec, seed=9)
    second.set_weights(exported)
    x, _ = batch(spec)
    # not bit-equal: MXNet's oneDNN RNN kernel differs by an ulp between two model instances
    np.testing.assert_allclose(first.predict(x), second.predict(x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_training_steps_lower_the_loss_on_a_fixed_batch(backend, variant):
    spec = spec_for("lstm", variant)
    adapter = make(backend, spec, recipe=replace(RECIPE, lr=0.03))
    x, y = batch(spec)
    before = loss_of(adapter, spec, x, y)
    # 40 steps: after 20, the dropout-heavy onehot-sequence variant is at 0.88-0.95 of its first loss
    # depending on the dropout masks' random stream, on every framework (torch too, for most seeds).
    losses = adapter.losses([adapter.train_step(x, y) for _ in range(40)])
    after = loss_of(adapter, spec, x, y)
    assert losses.shape == (40,) and np.all(np.isfinite(losses))
    assert after < before * 0.9, (before, after)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_training(backend):
    spec = spec_for("gru", "binary")  # with dropout: the seed must fix the masks too
    x, y = batch(spec)
    runs = []
    for _ in range(2):
        adapter = make(backend, spec, seed=3)
        runs.append((adapter.losses([adapter.train_step(x, y) for _ in range(3)]), adapter.get_weights()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_masks_fall_where_the_spec_says(backend, cell):
    """Frameworks draw masks from their own random streams, so only where they fall can be compared: with
    one sequence a step, a unit that the step's mask drops for the whole sequence (``input_dropout``, and
    ``recurrent_dropout`` on the carried state, one mask shared by the gates) gets no gradient in its
    kernel row, so about ``rate`` of those rows stay unchanged; the element-wise ``layer_dropout`` almost
    never empties a row over 9 steps. A mask per step or per gate, or a missing one, gives about 0."""
    rate, steps = 0.3, 60
    spec = replace(spec_for(cell), input_dropout=rate, recurrent_dropout=rate, layer_dropout=rate,
                   head=(Dense(3),))
    adapter = make(backend, spec, recipe=Recipe(optimizer="sgd", lr=0.5, batch_size=1, epochs=1))
    x, y = batch(spec, n=1)
    kernels = ("rnn0/kernel", "rnn0/recurrent_kernel", "rnn1/kernel", "rnn1/recurrent_kernel")
    unchanged: dict[str, list[np.ndarray]] = {k: [] for k in kernels}
    before = adapter.get_weights()
    for _ in range(steps):
        adapter.losses([adapter.train_step(x, y)])
        after = adapter.get_weights()
        for k in kernels:
            unchanged[k].append(np.all(after[k] == before[k], axis=1))
        before = after
    share = {k: float(np.mean(v)) for k, v in unchanged.items()}
    # 360 rows (rnn0 kernel: 6 inputs x 60 steps), 300 (each recurrent kernel): a share's sd is about 0.026
    for k in ("rnn0/kernel", "rnn0/recurrent_kernel", "rnn1/recurrent_kernel"):
        assert abs(share[k] - rate) < 0.1, share
    assert share["rnn1/kernel"] < 0.05, share


@pytest.mark.parametrize("backend", BACKENDS)
def test_learning_rate_is_applied(backend):
    spec = spec_for("rnn")
    adapter = make(backend, spec)
    x, y = batch(spec)
    adapter.set_lr(0.0)
    adapter.losses([adapter.train_step(x, y)])
    unchanged = adapter.get_weights()
    for k, v in canonical.init(spec, 0).items():
        np.testing.assert_allclose(unchanged[k], v, atol=1e-7, err_msg=k)
    adapter.set_lr(0.05)
    adapter.losses([adapter.train_step(x, y)])
    assert not np.allclose(adapter.get_weights()["rnn0/kernel"], unchanged["rnn0/kernel"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_describe_says_what_ran(backend):
    adapter = make(backend, spec_for("lstm", "recurrent-dropout"))
    info = adapter.describe()
    for key in ("framework", "versions", "device", "device_name", "kernel_path", "precision", "threads"):
        assert key in info, key
    assert info["device"].startswith("cpu") and info["precision"] == "fp32"
    # Recurrent dropout rules fused kernels out. Without it, a framework may still have no fused kernel on
    # this device (Keras on TensorFlow/JAX runs a compiled "scan", Keras on PyTorch a Python "loop").
    assert info["kernel_path"] in KERNEL_PATHS and info["kernel_path"] not in ("fused", "cudnn")
    assert make(backend, spec_for("lstm")).describe()["kernel_path"] in KERNEL_PATHS


@pytest.mark.parametrize("backend", BACKENDS)
def test_unavailable_gpu_is_a_clear_error(backend):
    from backends.base import BackendError

    try:
        adapter = backends.create(backends.get(backend), device="gpu")
    except BackendError as exc:
        assert "--device gpu" in str(exc) and "--device cpu" in str(exc)
    else:  # a GPU is present: it must be used
        adapter.build(spec_for("lstm"), RECIPE, 0)
        assert adapter.describe()["device"] != "cpu"


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_precision_runs_or_is_refused_clearly(backend):
    from backends.base import BackendError

    spec = spec_for("lstm", "binary")
    try:
        adapter = backends.create(backends.get(backend), device="cpu", precision="bf16")
        adapter.build(spec, RECIPE, 0)
    except BackendError as exc:
        assert "--precision bf16" in str(exc) and "fp32" in str(exc)
        return
    adapter.set_weights(canonical.init(spec, 0))
    x, y = batch(spec)
    reference_out = reference.forward(spec, canonical.init(spec, 0), x)
    np.testing.assert_allclose(adapter.predict(x), reference_out, atol=0.05)  # bf16 keeps ~3 digits
    assert np.all(np.isfinite(adapter.losses([adapter.train_step(x, y) for _ in range(3)])))


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "binary_crossentropy", "softmax_mse",
                                  "sequence"])
@pytest.mark.parametrize("name", BACKENDS)
def test_a_padded_batch_with_zero_weights_trains_as_the_batch_itself(name, loss):
    """Adapters with fixed shapes (XLA) get a bucket's partial batch padded to the batch size, its
    padding weighted 0: the loss and the update must be those of the partial batch alone."""
    if not getattr(backends.create(backends.get(name), device="cpu"), "fixed_shapes", False):
        pytest.skip(f"{name} takes batches of any size as they are")
    spec = replace(spec_for("gru"), head=(Dense(3),))
    if loss == "binary_crossentropy":
        spec = replace(spec, head=(Dense(1),), loss=loss)
    elif loss == "softmax_mse":
        spec = replace(spec, loss=loss)
    elif loss == "sequence":
        spec = replace(spec, output="sequence")
    x, y = batch(spec, n=5)
    plain, padded = make(name, spec), make(name, spec)
    size, w = 8, np.array([1.0] * 5 + [0.0] * 3, np.float32)
    xp = np.concatenate([x, np.repeat(x[-1:], 3, axis=0)])
    yp = np.concatenate([y, np.repeat(y[-1:], 3, axis=0)])
    assert xp.shape[0] == size
    for _ in range(2):
        a = plain.losses([plain.train_step(x, y)])[0]
        b = padded.losses([padded.train_step(xp, yp, w)])[0]
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for key, value in plain.get_weights().items():  # Adam magnifies rounding of tiny gradients: 2e-5
        np.testing.assert_allclose(padded.get_weights()[key], value, rtol=1e-4, atol=2e-5, err_msg=key)


@pytest.mark.parametrize("name", BACKENDS)
def test_prepare_compiles_each_shape_once_ahead_and_trains_alike(name):
    """``prepare`` compiles the step for each length ahead of training; training then compiles nothing
    more for those shapes, and computes what the lazily compiled step computes."""
    if not getattr(backends.create(backends.get(name), device="cpu"), "fixed_shapes", False):
        pytest.skip(f"{name} compiles no per-shape programs")
    spec = replace(spec_for("lstm"), head=(Dense(3),))
    short, long = batch(spec, n=8, steps=4), batch(spec, n=8, steps=7)
    lazy, ahead = make(name, spec), make(name, spec)
    ahead.prepare([short, long])
    assert ahead.compiled_shapes() == 2
    for x, y in (short, long, short):
        got, want = ahead.losses([ahead.train_step(x, y)]), lazy.losses([lazy.train_step(x, y)])
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert ahead.compiled_shapes() == 2 and lazy.compiled_shapes() == 2
