"""PyTorch parameters <-> canonical weights (``backends.canonical``).

PyTorch stores ``weight_ih`` as (G*H, in), i.e. the canonical kernel transposed, in the same gate order;
``nn.Linear`` likewise. LSTM and RNN have two biases that the canonical format sums. Canonical ``rnn{l}``
is layer l of ``model.rnn``, ``dec{l}`` layer l of ``model.decoder``. Scan cells store ``weight_ih`` and
``bias_ih`` alike (no recurrent weights) and rglru's ``lambda_l{k}`` as the canonical ``lambda``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from backends import canonical


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.head if isinstance(m, nn.Linear)]


def _recurrent(model: nn.Module) -> list[tuple[str, nn.Module, int]]:
    """(canonical prefix, module, layer index in it) of every recurrent layer."""
    return [(prefix, model.rnn if prefix.startswith("rnn") else model.decoder, int(prefix[3:]))
            for prefix, _ in canonical.recurrent_layers(model.spec)]


def to_canonical(model: nn.Module) -> dict[str, np.ndarray]:
    spec = model.spec
    out: dict[str, np.ndarray] = {}

    def np_(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy().copy()

    if model.embedding is not None:
        out["embedding"] = np_(model.embedding.weight)
    for p, rnn, k in _recurrent(model):
        if spec.scan_cell:  # no recurrent kernel; one bias; rglru's Lambda
            out[f"{p}/kernel"] = np_(getattr(rnn, f"weight_ih_l{k}")).T.copy()
            out[f"{p}/bias"] = np_(getattr(rnn, f"bias_ih_l{k}"))
            if spec.cell == "rglru":
                out[f"{p}/lambda"] = np_(getattr(rnn, f"lambda_l{k}"))
            continue
        out[f"{p}/kernel"] = np_(getattr(rnn, f"weight_ih_l{k}")).T.copy()
        out[f"{p}/recurrent_kernel"] = np_(getattr(rnn, f"weight_hh_l{k}")).T.copy()
        out.update(canonical.join_biases(spec, p, np_(getattr(rnn, f"bias_ih_l{k}")),
                                         np_(getattr(rnn, f"bias_hh_l{k}"))))
    for k, linear in enumerate(_linears(model)):
        out[f"dense{k}/kernel"] = np_(linear.weight).T.copy()
        out[f"dense{k}/bias"] = np_(linear.bias)
    return out


@torch.no_grad()
def from_canonical(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    spec = model.spec
    canonical.check(spec, weights)

    def put(param: torch.Tensor, value: np.ndarray) -> None:
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.device, param.dtype))

    if model.embedding is not None:
        put(model.embedding.weight, weights["embedding"])
    for p, rnn, k in _recurrent(model):
        if spec.scan_cell:
            put(getattr(rnn, f"weight_ih_l{k}"), weights[f"{p}/kernel"].T)
            put(getattr(rnn, f"bias_ih_l{k}"), weights[f"{p}/bias"])
            if spec.cell == "rglru":
                put(getattr(rnn, f"lambda_l{k}"), weights[f"{p}/lambda"])
            continue
        put(getattr(rnn, f"weight_ih_l{k}"), weights[f"{p}/kernel"].T)
        put(getattr(rnn, f"weight_hh_l{k}"), weights[f"{p}/recurrent_kernel"].T)
        b_ih, b_hh = canonical.split_biases(spec, weights, p)
        put(getattr(rnn, f"bias_ih_l{k}"), b_ih)
        put(getattr(rnn, f"bias_hh_l{k}"), b_hh)
    for k, linear in enumerate(_linears(model)):
        put(linear.weight, weights[f"dense{k}/kernel"].T)
        put(linear.bias, weights[f"dense{k}/bias"])
    for rnn, _ in model.recurrences():
        if isinstance(rnn, nn.RNNBase):
            rnn.flatten_parameters()  # cuDNN wants one contiguous weight buffer
