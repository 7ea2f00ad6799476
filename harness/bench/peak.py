"""How much of the machine a backend uses: a model's arithmetic per training sample, by formula from its
spec, times the measured samples/s, over the device's dense matrix-multiply rate.

The arithmetic counts the matrix products alone, a multiply-add as two FLOPs, per sample (one sequence
of ``seq_len`` steps; a language model's window): each recurrent layer's input projection
``2 * gates * H * I`` and recurrent product ``2 * gates * H * H`` per step (none for the scan cells, whose
gates read the input alone) (a one-hot input is the
dense ``vocab x gates*H`` product every framework here computes), the decoder's layers per decoder
step, and the head's ``Dense`` layers once (``output="last"``) or per step (``"sequence"``). An
embedding lookup costs no FLOPs; the gates' elementwise work (O(H) a step, a few per cent at these
sizes) is left out, so the figure slightly understates the work done. Training is taken as three times
the forward pass (the backward pass computes two products per forward one), the convention of MLPerf
and of Kaplan et al. The peak is a GEMM's rate measured on the device (``benchmarks/gemm_peak.py``,
``records.PEAK`` records) at the run's precision: what a recurrent step's matrix work could reach at
best. Small batches sit far below it, being bound by latency, not arithmetic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backends import canonical
from harness import records
from tasks.spec import SCAN_CELLS

# matrix products per step: (input-projection blocks, recurrent-product blocks); the scan cells have no
# recurrent matrix (their gates read the input alone), the canonical layout's blocks say how many
GATES = {cell: (blocks, 0 if cell in SCAN_CELLS else blocks) for cell, blocks in canonical.GATES.items()}
TRAIN_OVER_FORWARD = 3.0


def forward_flops(model: dict[str, Any], seq_len: int) -> float | None:
    """FLOPs of one sample's forward pass (matrix products only); None for a cell without a formula."""
    gates = GATES.get(str(model.get("cell")))
    if gates is None or not seq_len:
        return None
    hidden = int(model["hidden_size"])
    width = int(model["embed_dim"]) if model.get("input") == "embedding" else int(model["vocab_size"])

    def layer(inputs: int) -> float:
        return 2.0 * hidden * (gates[0] * inputs + gates[1] * hidden)

    total = 0.0
    for k in range(int(model.get("num_layers", 1))):
        total += seq_len * layer(width if k == 0 else hidden)
    decoder_steps = int(model.get("decoder_steps") or 0)
    if decoder_steps:
        total += decoder_steps * int(model.get("decoder_layers", 1)) * layer(hidden)
    head_steps = 1 if model.get("output") == "last" else (decoder_steps or seq_len)
    units_in = hidden
    for head in model.get("head") or []:
        if head.get("type") == "dense":
            total += head_steps * 2.0 * units_in * int(head["units"])
            units_in = int(head["units"])
    return total


def train_flops(point: dict[str, Any]) -> float | None:
    """FLOPs of one training sample of a bench point (``point["model"]``, ``point["seq_len"]``)."""
    forward = forward_flops(point.get("model") or {}, int(point.get("seq_len") or 0))
    return None if forward is None else TRAIN_OVER_FORWARD * forward


def peaks(folder: Path) -> list[dict[str, Any]]:
    """Every peak record under ``folder``, oldest first."""
    found = (record for _, record in records.documents(folder, records.PEAK))
    return sorted(found, key=lambda r: r.get("measured", ""))


def device_key(record: dict[str, Any]) -> str:
    """What a peak and a bench record are matched by: the GPU's name, or the CPU machine's fingerprint."""
    env = record.get("environment") or {}
    backend = env.get("backend") or {}
    if str(backend.get("device", "cpu")) != "cpu":
        return str(backend.get("device_name") or "gpu")
    return str(env.get("machine", "cpu"))


def peak_for(peak_records: list[dict[str, Any]], key: str, precision: str) -> tuple[float, str] | None:
    """(TFLOP/s, what measured it) for device ``key`` at ``precision``: each library's newest figure
    (records oldest first; one record a library's Python, as each backend has its own environment), and
    of those the best (fp32 on a GPU: without TF32, which a framework's fp32 may use)."""
    rates: dict[str, tuple[float, int]] = {}
    for peak in peak_records:
        if peak.get("key") != key:
            continue
        for name, rate in (peak.get("tflops") or {}).items():
            if name == precision or name.startswith(f"{precision}_"):
                rates[name] = (rate, peak.get("n"))
    if not rates:
        return None
    name = max(rates, key=lambda k: rates[k][0])
    rate, n = rates[name]
    return rate, f"{name} GEMM {n}x{n}"


def achieved(record: dict[str, Any]) -> float | None:
    """Training TFLOP/s a bench record reached (median samples/s times FLOPs a sample)."""
    flops = train_flops(record.get("point") or {})
    rate = (((record.get("train") or {}).get("samples_per_s")) or {}).get("median")
    return flops * rate / 1e12 if flops and rate else None
