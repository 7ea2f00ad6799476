"""What can be checked of the GPU paths on a CPU, in each backend's environment:

- the kernel path each adapter would record on a GPU is the one the doctor expects
  (``harness.doctor.driver.kernel_check``): cuDNN where the adapters promise it, per cell and precision;
- PyTorch's fused modules (``nn.LSTM``/``GRU``/``RNN``, whose parameters are the weights cuDNN gets,
  flattened) and its per-step ``LoopRecurrence`` compute the same function from the same canonical
  weights, carried state included (JAX's cuDNN packing: ``test_jax_backend.py``);
- PyTorch's precision probe turns a missing low-precision kernel into a one-line error at build.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import backends
from backends import canonical, reference
from harness.doctor import driver as doctor
from tests.conformance.test_adapters import RECIPE, batch, spec_for


def _importable(name: str) -> bool:
    return backends.importable(backends.get(name))


def _gpu_kernel(name: str, spec, precision: str) -> str:
    """The kernel path the adapter would record on a GPU, from its own decision, made on a CPU."""
    info = backends.get(name)
    if info.tox_env == "torch":
        import torch

        adapter = backends.create(info, device="cpu", precision=precision)
        adapter._probe_precision = lambda: None  # a CPU without bf16 kernels (no AVX-512) would refuse
        adapter.build(spec, RECIPE, 0)
        adapter.device = torch.device("cuda")
        real = torch.backends.cudnn.is_available
        torch.backends.cudnn.is_available = lambda: True
        try:
            return adapter.kernel_path()
        finally:
            torch.backends.cudnn.is_available = real
    if info.tox_env == "jax":
        adapter = backends.create(info, device="cpu", precision=precision)
        adapter.on_gpu = True  # build decides on cuDNN from this
        adapter.build(spec, RECIPE, 0)
        return adapter.kernel_path()
    if info.tox_env == "keras":
        adapter = backends.create(info, device="cpu", precision=precision)
        adapter.spec, adapter.recipe, adapter.gpu = spec, RECIPE, True
        return adapter._recurrence()[0]
    import mxnet as mx

    adapter = backends.create(info, device="cpu")
    adapter.build(spec, RECIPE, 0)
    adapter.ctx = mx.gpu(0)
    return adapter.kernel_path()


GPU_CASES = [pytest.param(name, marks=pytest.mark.skipif(not _importable(name), reason="not installed"))
             for name in backends.names()]


@pytest.mark.parametrize("backend", GPU_CASES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_kernel_an_adapter_would_record_on_a_gpu_is_the_one_the_doctor_expects(backend, precision):
    if backend == "mxnet" and precision != "fp32":
        pytest.skip("mxnet runs fp32 only")
    cases = [(cell, spec_for(cell)) for cell in ("rnn", "gru", "lstm")]
    cases += [("lstm", spec_for("lstm", "recurrent-dropout")),
              ("spiking-lstm", replace(spec_for("lstm"), cell="spiking-lstm"))]
    seen = set()
    for cell, spec in cases:
        path = _gpu_kernel(backend, spec, precision)
        ok, why = doctor.kernel_check(backend, {"device": "gpu:0", "kernel_path": path}, cell, spec.fused_ok,
                                      precision, "gpu")
        assert ok, f"{backend} {cell} {precision}: {why}"
        seen.add(path)
    assert "cudnn" in seen or (backend in doctor.FP32_ONLY_CUDNN and precision != "fp32")  # every backend
    # has a cuDNN path, in fp32 at least


torch_only = pytest.mark.skipif(not _importable("torch"), reason="torch not installed")


@torch_only
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_torch_fused_modules_and_the_per_step_loop_agree_on_canonical_weights(cell):
    import torch

    from backends.torch import weights
    from backends.torch.model import LoopRecurrence, RecurrentNet

    spec = replace(spec_for(cell), num_layers=2)
    w = canonical.init(spec, 3)
    fused = RecurrentNet(spec).eval()
    weights.from_canonical(fused, w)  # flattens the parameters into cuDNN's one buffer where it can
    looped = RecurrentNet(spec).eval()
    looped.rnn = LoopRecurrence(cell, spec.input_size, spec.hidden_size, 2, 0.0, 0.0)
    weights.from_canonical(looped, w)
    assert isinstance(fused.rnn, torch.nn.RNNBase) and not isinstance(looped.rnn, torch.nn.RNNBase)
    x, _ = batch(spec, steps=7)
    xb = torch.from_numpy(x).long()
    _, state = reference.forward(spec, w, x[:, :3], return_state=True)  # a carried state to start from
    h0, c0 = (torch.from_numpy(np.stack([layer[i] for layer in state])).float() for i in range(2))
    start = (h0, c0) if cell == "lstm" else h0  # nn.LSTM's (h, c), each (layers, batch, H); else h
    with torch.no_grad():
        out_f, state_f = fused(xb, start)
        out_l, state_l = looped(xb, start)
    np.testing.assert_allclose(out_f.numpy(), out_l.numpy(), atol=1e-6)
    expected = reference.forward(spec, w, x, state=state)
    np.testing.assert_allclose(out_f.numpy(), expected, atol=1e-5, rtol=1e-4)
    for a, b in zip(state_f if cell == "lstm" else (state_f,), state_l if cell == "lstm" else (state_l,),
                    strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert weights.to_canonical(looped).keys() == weights.to_canonical(fused).keys()
    for k, v in weights.to_canonical(fused).items():
        np.testing.assert_allclose(v, weights.to_canonical(looped)[k], atol=1e-7)


@torch_only
def test_torch_precision_probe_fails_at_build_with_one_line(monkeypatch):
    import torch

    from backends.base import BackendError
    from backends.torch.model import RecurrentNet

    real = RecurrentNet.forward

    def no_bf16_kernel(self, x, state=None):
        if torch.is_autocast_enabled("cpu"):
            raise RuntimeError('"lstm_cpu" not implemented for \'BFloat16\'\nmore lines')
        return real(self, x, state)

    monkeypatch.setattr(RecurrentNet, "forward", no_bf16_kernel)
    adapter = backends.create(backends.get("torch"), device="cpu", precision="bf16")
    with pytest.raises(BackendError) as caught:
        adapter.build(spec_for("lstm"), RECIPE, 0)
    message = str(caught.value)
    assert message.startswith("--precision bf16 on cpu: torch has no bf16 kernel for this model here")
    assert "lstm_cpu" in message and message.endswith("use --precision fp32") and "\n" not in message
    fp32 = backends.create(backends.get("torch"), device="cpu", precision="fp32")
    fp32.build(spec_for("lstm"), RECIPE, 0)  # fp32 builds without the probe
