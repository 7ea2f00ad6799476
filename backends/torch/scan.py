"""The scan cells (``tasks.spec.SCAN_CELLS``) in PyTorch: a step loop and two parallel forms.

Every scan cell is ``h_t = a_t * h_{t-1} + b_t`` with ``a_t, b_t`` from the input alone
(:func:`coefficients`). ``model.scan`` picks how the recurrence runs:

- ``sequential``: a Python loop over time, one multiply-add per step (``loop``).
- ``parallel``: ``assoc`` (default) is a hand-written Hillis-Steele associative scan over the (a, b)
  pairs, ceil(log2 T) rounds of torch ops, O(T log T) work (PyTorch has no stable associative scan;
  ``torch._higher_order_ops.associative_scan`` is a prototype). ``logspace``
  (``RNNBENCH_TORCH_SCAN=logspace``) is Heinsen's (2023) form with ``torch.cumsum`` and
  ``torch.logcumsumexp``: ``h_t = exp(A_t) * sum_{s<=t} b_s exp(-A_s)`` with ``A_t = sum log a``, the sum
  split by the sign of ``b`` into two log-cumulative-sum-exps. It is not the default because its float32
  error grows with ``|A_t|``, about linearly in the length: measured on the parity model, outputs
  2.6e-5 and gradients 1e-3 relative at T = 512, outputs 2.2e-4 at 4096 (minGRU), where the
  associative scan stays near 2e-7 (tests/conformance/test_scan_cells.py reports the growth).

An initial state enters as ``b_0 + a_0 * h0``, so consecutive sampling carries state on every path.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from tasks.spec import RGLRU_C

PARALLEL = os.environ.get("RNNBENCH_TORCH_SCAN", "assoc")  # "assoc" or "logspace"
if PARALLEL not in ("logspace", "assoc"):
    raise ValueError(f"RNNBENCH_TORCH_SCAN={PARALLEL!r}: choose logspace or assoc")
_GATES = {"mingru": 2, "minlstm": 3, "rglru": 3}

PRIMITIVES = {
    "sequential": "Python loop over time steps (h = a*h + b per step), eager",
    "logspace": "log-space scan: torch.cumsum of log a and torch.logcumsumexp of log|b| - A, split by "
                "the sign of b (Heinsen 2023)",
    "assoc": "Hillis-Steele associative scan over (a, b) pairs: ceil(log2 T) rounds of torch mul/add/cat",
}


def coefficients(cell: str, gates: torch.Tensor, lam: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log a, a, b) of every step from the input projection ``gates`` (batch, time, G*H); log a is
    computed directly (softplus, logsigmoid) rather than as log(a), so it stays exact where a -> 1."""
    if cell == "mingru":
        k, cand = gates.chunk(2, dim=-1)
        log_a = -nn.functional.softplus(k)  # log(1 - sigmoid(k))
        return log_a, torch.sigmoid(-k), torch.sigmoid(k) * cand
    if cell == "minlstm":
        kf, ki, cand = gates.chunk(3, dim=-1)
        lf, li = nn.functional.logsigmoid(kf), nn.functional.logsigmoid(ki)
        ls = torch.logaddexp(lf, li)  # log(f + i)
        log_a = lf - ls
        return log_a, torch.exp(log_a), torch.exp(li - ls) * cand
    kr, ki, u = gates.chunk(3, dim=-1)
    log_a = -RGLRU_C * torch.sigmoid(kr) * nn.functional.softplus(-lam)  # log(sigmoid(lam)**(c r))
    return log_a, torch.exp(log_a), torch.sqrt(-torch.expm1(2 * log_a)) * torch.sigmoid(ki) * u


def sequential(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``h_t = a_t h_{t-1} + b_t`` (h_{-1} = 0) by a step loop; (batch, time, H)."""
    h = torch.zeros_like(b[:, 0])
    out = []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):  # one unbind: see LoopRecurrence
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out, dim=1)


def logspace(log_a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same recurrence in log space: cumsum and two logcumsumexps, no loop over time."""
    big = torch.cumsum(log_a, dim=1)  # A_t = log(a_0 ... a_t)
    log_b = torch.log(b.abs().clamp_min(torch.finfo(b.dtype).tiny)) - big
    none = torch.full_like(log_b, -torch.inf)
    pos = torch.logcumsumexp(torch.where(b > 0, log_b, none), dim=1)
    neg = torch.logcumsumexp(torch.where(b < 0, log_b, none), dim=1)
    return torch.exp(big + pos) - torch.exp(big + neg)


def assoc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The same recurrence by a Hillis-Steele scan: after the round with stride d every position holds
    the composition of the 2d steps ending there, ``(a2 a1, a2 b1 + b2)``."""
    d, steps = 1, a.shape[1]
    while d < steps:
        b = torch.cat([b[:, :d], a[:, d:] * b[:, :-d] + b[:, d:]], dim=1)
        a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], dim=1)
        d *= 2
    return b


class ScanRecurrence(nn.Module):
    """A stack of scan-cell layers: ``weight_ih_l{k}`` (G*H, in) and ``bias_ih_l{k}`` like ``nn.GRU``'s
    (the canonical kernel transposed), and for rglru ``lambda_l{k}`` (H,). Takes and returns the state
    as ``nn.GRU`` does, ``h`` of shape (layers, batch, H)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, layer_dropout: float,
                 scan: str) -> None:
        super().__init__()
        self.cell, self.hidden_size, self.num_layers, self.layer_dropout = cell, hidden_size, num_layers, \
            layer_dropout
        self.mode = PARALLEL if scan == "parallel" else "sequential"
        g = _GATES[cell] * hidden_size
        for k in range(num_layers):
            width = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(g, width)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.zeros(g)))
            if cell == "rglru":
                self.register_parameter(f"lambda_l{k}", nn.Parameter(torch.zeros(hidden_size)))

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        finals = []
        for k in range(self.num_layers):
            if k and self.training and self.layer_dropout:
                x = nn.functional.dropout(x, self.layer_dropout, True)
            gates = nn.functional.linear(x, getattr(self, f"weight_ih_l{k}"), getattr(self, f"bias_ih_l{k}"))
            log_a, a, b = coefficients(self.cell, gates, getattr(self, f"lambda_l{k}", None))
            if hx is not None:  # h_0 = a_0 h_start + b_0
                b = torch.cat([b[:, :1] + a[:, :1] * hx[k][:, None], b[:, 1:]], dim=1)
            if self.mode == "sequential":
                x = sequential(a, b)
            elif self.mode == "logspace":
                x = logspace(log_a, b)
            else:
                x = assoc(a, b)
            finals.append(x[:, -1])
        return x, torch.stack(finals)
