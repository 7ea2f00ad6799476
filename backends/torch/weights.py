"""PyTorch parameters <-> canonical weights (``backends.canonical``).

PyTorch stores ``weight_ih`` as (G*H, in), i.e. the canonical kernel transposed, in the same gate order;
``nn.Linear`` likewise. LSTM and RNN have two biases that the canonical format sums.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from backends import canonical


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.head if isinstance(m, nn.Linear)]


def to_canonical(model: nn.Module) -> dict[str, np.ndarray]:
    spec = model.spec
    out: dict[str, np.ndarray] = {}

    def np_(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy().copy()

    if model.embedding is not None:
        out["embedding"] = np_(model.embedding.weight)
    for k in range(spec.num_layers):
        rnn = model.rnn
        out[f"rnn{k}/kernel"] = np_(getattr(rnn, f"weight_ih_l{k}")).T.copy()
        out[f"rnn{k}/recurrent_kernel"] = np_(getattr(rnn, f"weight_hh_l{k}")).T.copy()
        out.update(canonical.join_biases(spec, k, np_(getattr(rnn, f"bias_ih_l{k}")),
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
    for k in range(spec.num_layers):
        rnn = model.rnn
        put(getattr(rnn, f"weight_ih_l{k}"), weights[f"rnn{k}/kernel"].T)
        put(getattr(rnn, f"weight_hh_l{k}"), weights[f"rnn{k}/recurrent_kernel"].T)
        b_ih, b_hh = canonical.split_biases(spec, weights, k)
        put(getattr(rnn, f"bias_ih_l{k}"), b_ih)
        put(getattr(rnn, f"bias_hh_l{k}"), b_hh)
    for k, linear in enumerate(_linears(model)):
        put(linear.weight, weights[f"dense{k}/kernel"].T)
        put(linear.bias, weights[f"dense{k}/bias"])
    if isinstance(model.rnn, nn.RNNBase):
        model.rnn.flatten_parameters()  # cuDNN wants one contiguous weight buffer
