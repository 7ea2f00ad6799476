"""A ``torch.nn.Module`` built from a :class:`~tasks.spec.ModelSpec`.

The recurrence is ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (fused kernels; cuDNN on a GPU) unless the spec asks
for recurrent dropout, which no fused kernel supports: then :class:`LoopRecurrence` runs the same
equations step by step, with parameters of the same names and layouts, so weights load either way.
"""

from __future__ import annotations

import torch
from torch import nn

from tasks.spec import Dense, ModelSpec

_FUSED = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class LoopRecurrence(nn.Module):
    """Per-step recurrence with one recurrent-dropout mask per sequence on the carried hidden state
    (Keras' ``recurrent_dropout``). Parameter names match ``nn.LSTM``'s (``weight_ih_l0`` ...)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int,
                 layer_dropout: float, recurrent_dropout: float) -> None:
        super().__init__()
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.layer_dropout, self.recurrent_dropout = layer_dropout, recurrent_dropout
        g = _GATES[cell] * hidden_size
        for k in range(num_layers):
            width = input_size if k == 0 else hidden_size
            self.register_parameter(f"weight_ih_l{k}", nn.Parameter(torch.empty(g, width)))
            self.register_parameter(f"weight_hh_l{k}", nn.Parameter(torch.empty(g, hidden_size)))
            self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.zeros(g)))
            self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.zeros(g)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        for k in range(self.num_layers):
            if k and self.training and self.layer_dropout:
                x = nn.functional.dropout(x, self.layer_dropout, True)
            x = self._layer(x, k)
        return x, None

    def _layer(self, x: torch.Tensor, k: int) -> torch.Tensor:
        w_hh, b_hh = getattr(self, f"weight_hh_l{k}"), getattr(self, f"bias_hh_l{k}")
        gi = nn.functional.linear(x, getattr(self, f"weight_ih_l{k}"), getattr(self, f"bias_ih_l{k}"))
        batch = x.shape[0]
        h = x.new_zeros(batch, self.hidden_size)
        c = h
        mask = None
        if self.training and self.recurrent_dropout:
            keep = 1.0 - self.recurrent_dropout
            mask = torch.bernoulli(h.new_full(h.shape, keep)) / keep
        outputs = []
        for t in range(x.shape[1]):
            hd = h * mask if mask is not None else h
            gh = nn.functional.linear(hd, w_hh, b_hh)
            if self.cell == "lstm":
                i, f, g, o = (gi[:, t] + gh).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif self.cell == "gru":
                ir, iz, in_ = gi[:, t].chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                h = (1 - z) * torch.tanh(in_ + r * hn) + z * h
            else:
                h = torch.tanh(gi[:, t] + gh)
            outputs.append(h)
        return torch.stack(outputs, dim=1)


class RecurrentNet(nn.Module):
    """Embedding or one-hot input, dropouts, a recurrence and a Dense head, as the spec lays them out."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim) if spec.input == "embedding" else None
        args = (spec.input_size, spec.hidden_size, spec.num_layers)
        if spec.fused_ok:
            self.rnn = _FUSED[spec.cell](*args, batch_first=True, dropout=spec.layer_dropout)
        else:
            self.rnn = LoopRecurrence(spec.cell, *args, spec.layer_dropout, spec.recurrent_dropout)
        if spec.cell != "gru":  # the spec has one bias: bias_hh stays 0 (see backends/canonical.py)
            for k in range(spec.num_layers):
                getattr(self.rnn, f"bias_hh_l{k}").requires_grad_(False)
        layers: list[nn.Module] = []
        width = spec.hidden_size
        for layer in spec.head:
            if isinstance(layer, Dense):
                layers.append(nn.Linear(width, layer.units))
                if layer.activation == "relu":
                    layers.append(nn.ReLU())
                width = layer.units
            else:
                layers.append(nn.Dropout(layer.rate))
        self.head = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        if self.embedding is not None:
            h = self.embedding(x)
        else:
            h = nn.functional.one_hot(x.long(), spec.vocab_size).float()
        if self.training and spec.embed_dropout:
            h = nn.functional.dropout(h, spec.embed_dropout, True)
        if self.training and spec.input_dropout:  # one mask per sequence, shared over time
            keep = 1.0 - spec.input_dropout
            h = h * (torch.bernoulli(h.new_full((h.shape[0], 1, h.shape[2]), keep)) / keep)
        out, _ = self.rnn(h)
        if spec.output == "last":
            out = out[:, -1]
        return self.head(out)
