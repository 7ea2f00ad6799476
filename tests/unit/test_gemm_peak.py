"""benchmarks/gemm_peak.py: the matrix-multiply rate a speed table's "fraction of peak" divides by."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import ROOT


def _module():
    spec = importlib.util.spec_from_file_location("gemm_peak", ROOT / "benchmarks" / "gemm_peak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cpu_rate_is_written_as_a_record_with_its_size_and_library(tmp_path, capsys):
    out = tmp_path / "peak.json"
    assert _module().main(["--device", "cpu", "--n", "128", "--repeats", "2", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["schema"] == "rnnbench.peak/1" and record["device"] == "cpu" and record["n"] == 128
    rate = record["tflops"]["fp32_numpy"]
    assert 1e-6 < rate < 100  # TFLOP/s: a 2-core CPU's fp32 GEMM lies far inside this
    assert "numpy" in record["by"]
    assert "fp32_numpy" in capsys.readouterr().out


def test_a_gpu_without_pytorch_is_a_clear_refusal(tmp_path, monkeypatch, capsys):
    module = _module()

    def no_torch(*_):
        raise ImportError("No module named 'torch'")

    monkeypatch.setattr(module, "torch_rates", no_torch)
    assert module.main(["--device", "gpu", "--out", str(tmp_path / "p.json")]) == 2
    assert "needs PyTorch with CUDA" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
