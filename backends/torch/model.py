"""A ``torch.nn.Module`` built from a :class:`~tasks.spec.ModelSpec`.

The recurrence is ``nn.LSTM``/``nn.GRU``/``nn.RNN`` (fused kernels; cuDNN on a GPU) unless the spec rules
fused kernels out (recurrent dropout, the spiking cell): then :class:`LoopRecurrence` runs the equations
step by step, with parameters of the same names and layouts, so weights load either way. Both take and
return the initial/final state in ``nn.LSTM``'s format (``(h, c)`` or ``h``, each (layers, batch, H)),
so the adapter carries state across calls (consecutive sampling) the same way on every path. The scan
cells (minGRU, minLSTM, RG-LRU) are ``backends.torch.scan.ScanRecurrence``, whose state is ``nn.GRU``'s.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from backends.torch.scan import ScanRecurrence
from tasks.spec import SPIKE_ALPHA, Dense, ModelSpec

_FUSED = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_GATES = {"lstm": 4, "gru": 3, "rnn": 1, "spiking-lstm": 4}
_WITH_CELL = ("lstm", "spiking-lstm")  # cells whose state is (h, c)

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class Spike(torch.autograd.Function):
    """Heaviside step ``z >= 0`` forward; spikingjelly's ``surrogate.Erf`` derivative backward
    (``alpha/sqrt(pi) * exp(-(alpha z)^2)``), so gradients flow through the spikes."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z)
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        return grad * torch.exp(-(SPIKE_ALPHA * z) ** 2) * (SPIKE_ALPHA / math.sqrt(math.pi))


class LoopRecurrence(nn.Module):
    """Per-step recurrence, for what no fused kernel runs: the spiking LSTM, and one recurrent-dropout
    mask per sequence on the carried hidden state (Keras' ``recurrent_dropout``). Parameter names, and
    the state taken and returned, match ``nn.LSTM``'s (``weight_ih_l0`` ...)."""

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

    def forward(self, x: torch.Tensor, hx: State | None = None) -> tuple[torch.Tensor, State]:
        with_cell = self.cell in _WITH_CELL
        hs, cs = [], []
        for k in range(self.num_layers):
            if k and self.training and self.layer_dropout:
                x = nn.functional.dropout(x, self.layer_dropout, True)
            start = None if hx is None else (hx[0][k], hx[1][k]) if with_cell else (hx[k], hx[k])
            x, (h, c) = self._layer(x, k, start)
            hs.append(h)
            cs.append(c)
        if with_cell:
            return x, (torch.stack(hs), torch.stack(cs))
        return x, torch.stack(hs)

    def _layer(self, x: torch.Tensor, k: int, start: tuple[torch.Tensor, torch.Tensor] | None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        w_hh, b_hh = getattr(self, f"weight_hh_l{k}"), getattr(self, f"bias_hh_l{k}")
        gi = nn.functional.linear(x, getattr(self, f"weight_ih_l{k}"), getattr(self, f"bias_ih_l{k}"))
        h, c = start if start is not None else (x.new_zeros(x.shape[0], self.hidden_size),) * 2
        mask = None
        if self.training and self.recurrent_dropout:
            keep = 1.0 - self.recurrent_dropout
            mask = torch.bernoulli(h.new_full(h.shape, keep)) / keep
        # one unbind, not gi[:, t] per step: each index's backward writes a zero tensor of all of gi,
        # quadratic in the length (benchmarks/keras_torch_fallback.py shows the pattern)
        steps = gi.unbind(1)
        outputs = []
        for t in range(x.shape[1]):
            hd = h * mask if mask is not None else h
            gh = nn.functional.linear(hd, w_hh, b_hh)
            if self.cell == "spiking-lstm":  # spikingjelly's SpikingLSTMCell: no tanh, no clamp
                i, f, g, o = Spike.apply(steps[t] + gh).chunk(4, dim=1)
                c = f * c + i * g
                h = o * c
            elif self.cell == "lstm":
                i, f, g, o = (steps[t] + gh).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            elif self.cell == "gru":
                ir, iz, in_ = steps[t].chunk(3, dim=1)
                hr, hz, hn = gh.chunk(3, dim=1)
                r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
                h = (1 - z) * torch.tanh(in_ + r * hn) + z * h
            else:
                h = torch.tanh(steps[t] + gh)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h, c)


def recurrence(spec: ModelSpec, input_size: int, num_layers: int) -> nn.Module:
    """A stack of ``num_layers`` recurrent layers of ``spec.cell``: fused where the spec allows it."""
    dropout = spec.layer_dropout if num_layers > 1 else 0.0  # between layers only (nn.LSTM warns else)
    if spec.scan_cell:
        return ScanRecurrence(spec.cell, input_size, spec.hidden_size, num_layers, dropout, spec.scan)
    if spec.fused_ok:
        return _FUSED[spec.cell](input_size, spec.hidden_size, num_layers, batch_first=True, dropout=dropout)
    return LoopRecurrence(spec.cell, input_size, spec.hidden_size, num_layers, dropout,
                          spec.recurrent_dropout)


class RecurrentNet(nn.Module):
    """Embedding or one-hot input, dropouts, a recurrence (and a decoder recurrence for an
    encoder-decoder) and a Dense head, as the spec lays them out."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim) if spec.input == "embedding" else None
        self.rnn = recurrence(spec, spec.input_size, spec.num_layers)
        self.decoder = (recurrence(spec, spec.hidden_size, spec.decoder_layers) if spec.decoder_steps
                        else None)
        # the spec has one bias: bias_hh stays 0 (see backends/canonical.py); scan cells have no bias_hh
        if spec.gate_cell != "gru" and not spec.scan_cell:
            for module, layers in self.recurrences():
                for k in range(layers):
                    getattr(module, f"bias_hh_l{k}").requires_grad_(False)
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

    def recurrences(self) -> list[tuple[nn.Module, int]]:
        """(module, number of layers) of the encoder and, if any, the decoder."""
        out = [(self.rnn, self.spec.num_layers)]
        if self.decoder is not None:
            out.append((self.decoder, self.spec.decoder_layers))
        return out

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits, and the encoder's final state; ``state`` starts the encoder (zeros if None)."""
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
        out, state = self.rnn(h, state)
        if self.decoder is not None:  # Keras' RepeatVector: the last output, every decoder step
            last = out[:, -1:]
            out, _ = self.decoder(last.expand(-1, spec.decoder_steps, -1).contiguous())
        if spec.output == "last":
            out = out[:, -1]
        return self.head(out), state
