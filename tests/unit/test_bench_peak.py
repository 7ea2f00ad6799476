"""Fraction of peak (harness.bench.peak) and the README's CPU and GPU speed tables, on synthetic records."""

from __future__ import annotations

import pytest

from harness import records
from harness.bench import peak
from harness.bench import report as bench_report
from harness.report import overview
from tests.fakes import make_bench_record


def write(folder, *recs):
    for r in recs:
        records.dump_atomic(folder / r["bench_id"] / f"{r['point']['id']}--{r['backend']}.json", r)


def peak_record(key: str, tflops: dict[str, float], measured: str = "20260101T000000") -> dict:
    return {"schema": records.PEAK, "key": key, "device": "gpu", "n": 8192, "measured": measured,
            "tflops": tflops}


def test_the_arithmetic_of_a_sample_follows_the_spec_by_formula():
    model = make_bench_record()["point"]["model"]  # imdb/full: embedding 50, LSTM 100, Dense 250, Dense 1
    lstm = 200 * 2 * 4 * 100 * (50 + 100)  # 200 steps, four gates over input and recurrent products
    head = 2 * 100 * 250 + 2 * 250 * 1  # once: the model's output is the last step's
    assert peak.forward_flops(model, 200) == lstm + head
    assert peak.train_flops({"model": model, "seq_len": 200}) == 3 * (lstm + head)
    # a language model: one-hot input is a dense product, the head runs at every step, layers stack
    lm = {"cell": "gru", "input": "onehot", "vocab_size": 60, "hidden_size": 32, "num_layers": 2,
          "output": "sequence", "head": [{"type": "dense", "units": 60}]}
    per_step = 2 * 3 * 32 * (60 + 32) + 2 * 3 * 32 * (32 + 32) + 2 * 32 * 60
    assert peak.forward_flops(lm, 35) == 35 * per_step
    # an encoder-decoder adds its decoder layers at every decoder step, and its head there
    seq2seq = {**lm, "num_layers": 1, "decoder_steps": 4, "decoder_layers": 1}
    assert peak.forward_flops(seq2seq, 8) == (8 * 2 * 3 * 32 * 92 + 4 * 2 * 3 * 32 * 64 + 4 * 2 * 32 * 60)
    assert peak.forward_flops({**lm, "cell": "unknown-cell"}, 35) is None
    # a scan cell: its blocks read the input alone, no recurrent product (minGRU: z and h~)
    scan = {**lm, "cell": "mingru", "num_layers": 1}
    assert peak.forward_flops(scan, 10) == 10 * (2 * 2 * 32 * 60 + 2 * 32 * 60)


def test_fraction_of_peak_is_the_achieved_rate_over_the_same_devices_gemm(tmp_path):
    gpu = "NVIDIA H200"
    write(tmp_path / "bench", make_bench_record(backend="torch", train=20_000, device_name=gpu),
          make_bench_record(backend="jax", train=10_000, device_name=gpu))
    records.dump_atomic(tmp_path / "peak" / "h200.json", peak_record(gpu, {"fp32": 50.0, "bf16": 777.0}))
    records.dump_atomic(tmp_path / "peak" / "other.json", peak_record("NVIDIA A100", {"fp32": 19.5}))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    table, label = speed.fractions[0]
    flops = peak.train_flops(make_bench_record()["point"])
    assert label.startswith("50 TFLOP/s (fp32 GEMM 8192x8192, fp32)")
    assert flops == pytest.approx(72.2e6, rel=1e-3)  # imdb/full: 0.0722 GFLOP a sample
    row = table.iloc[0]
    assert row["torch"] == "1.44 TFLOP/s, 2.9%"  # 72.2 MFLOP x 20,000 samples/s over 50 TFLOP/s
    assert row["jax"] == "722 GFLOP/s, 1.4%"
    assert "fraction of the device's peak, 50 TFLOP/s" in speed.markdown(None, headline_only=True)


@pytest.mark.parametrize(("tflops", "shown"), [(0.349, "349 GFLOP/s"), (0.0105, "10.5 GFLOP/s"),
                                                (1.44, "1.44 TFLOP/s"), (50.0, "50 TFLOP/s")])
def test_flop_rates_read_in_gflops_on_a_cpu_and_tflops_above(tflops, shown):
    assert bench_report.flop_rate(tflops) == shown


@pytest.mark.parametrize(("fraction", "shown"), [(0.0025, "0.25%"), (0.029, "2.9%"), (0.22, "22%"),
                                                 (1.104, "110%")])
def test_fractions_of_peak_read_as_plain_per_cents(fraction, shown):
    assert bench_report.percent(fraction) == shown


def test_no_peak_measured_for_a_device_means_no_fraction_table(tmp_path):
    write(tmp_path / "bench", make_bench_record())
    records.dump_atomic(tmp_path / "peak" / "h200.json", peak_record("NVIDIA H200", {"fp32": 50.0}))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    assert speed.fractions == [(None, None)]
    assert "fraction of the device's peak" not in speed.markdown(None)


def test_the_best_library_at_the_precision_is_the_peak_and_the_newest_record_wins():
    recs = [peak_record("m", {"fp32_numpy": 0.24, "fp32": 0.2}, "20260101T000000"),
            peak_record("m", {"fp32_numpy": 0.25, "fp32_jax": 0.43}, "20260102T000000")]
    assert peak.peak_for(recs, "m", "fp32") == (pytest.approx(0.43), "fp32_jax GEMM 8192x8192")
    assert peak.peak_for(recs, "m", "bf16") is None and peak.peak_for(recs, "other", "fp32") is None


def test_the_readme_shows_the_cpu_and_the_gpu_bench_apart_and_the_overview_keeps_the_cpu(tmp_path):
    write(tmp_path / "bench", make_bench_record(machine="cpu-box", train=111),
          make_bench_record(backend="jax", machine="cpu-box", train=222),
          make_bench_record(machine="gpu-box", train=9_999, device_name="NVIDIA H200",
                            bench_id="bench-20260102T000000", started="2026-01-02T00:00:00+00:00"),
          make_bench_record(backend="jax", machine="gpu-box", train=4_444, device_name="NVIDIA H200",
                            bench_id="bench-20260102T000000", started="2026-01-02T00:00:00+00:00"))
    speed = bench_report.build(tmp_path / "bench", tmp_path / "out")
    short = speed.markdown(None, headline_only=True)
    assert "Speed on CPU of cpu-box (2 cores), cpu, fp32" in short
    assert "Speed on NVIDIA H200, gpu, fp32" in short
    assert "9,999 [" in short and "111 [" in short
    # the overview's runs trained on the CPU: its speed ratios come from the CPU bench, never the GPU's
    ratios = overview.speeds(speed.records)
    assert ratios[("imdb", "full")][0] == {"torch": 111, "jax": 222}
