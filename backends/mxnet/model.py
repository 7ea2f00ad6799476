"""A Gluon ``HybridBlock`` built from a :class:`~tasks.spec.ModelSpec`.

The recurrence is ``gluon.rnn.LSTM``/``GRU``/``RNN`` with ``layout="NTC"`` (the fused RNN operator) unless
the spec asks for recurrent dropout or the spiking LSTM, which the fused operator cannot do: then
:class:`LoopRecurrence` runs the equations step by step, with parameters of the same names and layouts
(``l{k}_i2h_weight`` ...), so weights load either way. An encoder-decoder has a second recurrence of the
same kind (``RecurrentNet.dec``). Both kinds take optional begin states and then also return their final
states, which is how consecutive sampling carries the state between calls. The scan cells (minGRU,
minLSTM, RG-LRU) are :class:`ScanRecurrence`: a Hillis-Steele scan of slices and concats (MXNet 1.9 has
no associative scan, and its legacy operators no cumulative sum) or a per-step loop, both unrolled.
Dropout ops are active only inside ``autograd.record()`` (training mode), as everywhere in Gluon.
"""

from __future__ import annotations

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn, rnn

from backends.canonical import GATES as _GATES
from tasks.spec import RGLRU_C, SPIKE_ALPHA, Dense, ModelSpec

_FUSED = {"lstm": rnn.LSTM, "gru": rnn.GRU, "rnn": rnn.RNN}


def spike(F, z):
    """Heaviside step ``z >= 0`` forward, surrogate derivative ``alpha/sqrt(pi) * exp(-(alpha z)^2)``
    backward: ``s - BlockGrad(s)`` is exactly 0 but carries the gradient of ``s = erf(alpha z)/2``, which
    is ``erfc(-alpha z)/2`` less a constant (MXNet 1.9 has no ``erfc``)."""
    s = 0.5 * F.erf(SPIKE_ALPHA * z)
    return F.BlockGrad(z >= 0) + (s - F.BlockGrad(s))


class LoopRecurrence(gluon.HybridBlock):
    """Per-step recurrence for what the fused operator cannot run: the spiking LSTM, and one
    recurrent-dropout mask per sequence on the carried hidden state (Keras' ``recurrent_dropout``: the
    mask multiplies ``h`` only where it enters the recurrent matmul).

    Called like Gluon's fused layers: ``block(x)`` -> outputs, or ``block(x, states)`` with ``states``
    ``[h]`` or ``[h, c]`` of shape (layers, batch, hidden) -> (outputs, final states).

    The number of time steps is unrolled into the graph: set ``steps`` (and re-hybridize) before a call
    with a new sequence length; imperative calls read it from the input.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int,
                 layer_dropout: float, recurrent_dropout: float, steps: int | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.layer_dropout, self.recurrent_dropout = layer_dropout, recurrent_dropout
        self.steps = steps
        g = _GATES[cell] * hidden_size
        with self.name_scope():
            for k in range(num_layers):
                width = input_size if k == 0 else hidden_size
                for name, shape in ((f"l{k}_i2h_weight", (g, width)), (f"l{k}_h2h_weight", (g, hidden_size)),
                                    (f"l{k}_i2h_bias", (g,)), (f"l{k}_h2h_bias", (g,))):
                    setattr(self, name, self.params.get(name, shape=shape, init="zeros"))

    def hybrid_forward(self, F, x, states=None, **params):
        steps = x.shape[1] if isinstance(x, mx.nd.NDArray) else self.steps
        if not steps:
            raise RuntimeError("LoopRecurrence.steps must be set before a symbolic (hybridized) call")
        finals = []
        for k in range(self.num_layers):
            if k and self.layer_dropout:
                x = F.Dropout(x, p=self.layer_dropout)
            begin = None if states is None else [
                F.squeeze(F.slice_axis(s, axis=0, begin=k, end=k + 1), axis=0) for s in states]
            x, last = self._layer(F, x, k, steps, params, begin)
            finals.append(last)
        if states is None:
            return x
        return x, [F.stack(*(last[j] for last in finals), axis=0) for j in range(len(states))]

    def _layer(self, F, x, k, steps, params, begin=None):
        """One layer over every step from ``begin`` ([h] or [h, c], zeros if None): (outputs, (h, c))."""
        hidden, g = self.hidden_size, _GATES[self.cell] * self.hidden_size
        w_hh, b_hh = params[f"l{k}_h2h_weight"], params[f"l{k}_h2h_bias"]
        gi = F.FullyConnected(x, params[f"l{k}_i2h_weight"], params[f"l{k}_i2h_bias"], num_hidden=g,
                              flatten=False)
        gis = F.split(gi, num_outputs=steps, axis=1, squeeze_axis=True) if steps > 1 else [
            F.squeeze(gi, axis=1)]
        if begin is None:
            h = F.zeros_like(F.slice_axis(gis[0], axis=1, begin=0, end=hidden))
            c = h
        else:
            h, c = begin[0], begin[-1]  # c is unused by gru and rnn
        mask = F.Dropout(F.ones_like(h), p=self.recurrent_dropout) if self.recurrent_dropout else None
        outputs = []
        for t in range(steps):
            hd = h * mask if mask is not None else h
            gh = F.FullyConnected(hd, w_hh, b_hh, num_hidden=g)
            if self.cell == "spiking-lstm":
                i, f, cand, o = F.split(spike(F, gis[t] + gh), num_outputs=4, axis=1)
                c = f * c + i * cand
                h = o * c
            elif self.cell == "lstm":
                i, f, cand, o = F.split(gis[t] + gh, num_outputs=4, axis=1)
                c = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(cand)
                h = F.sigmoid(o) * F.tanh(c)
            elif self.cell == "gru":
                ir, iz, in_ = F.split(gis[t], num_outputs=3, axis=1)
                hr, hz, hn = F.split(gh, num_outputs=3, axis=1)
                r, z = F.sigmoid(ir + hr), F.sigmoid(iz + hz)
                h = (1 - z) * F.tanh(in_ + r * hn) + z * h
            else:
                h = F.tanh(gis[t] + gh)
            outputs.append(h)
        return F.stack(*outputs, axis=1), (h, c)


def scan_coefficients(F, cell: str, gates, lam=None):
    """(a, b) of ``h_t = a_t h_{t-1} + b_t`` for a scan cell (equations in ``tasks.spec.ModelSpec``) from
    its input projection ``gates`` (batch, time, G*H)."""
    if cell == "mingru":
        k, cand = F.split(gates, num_outputs=2, axis=2)
        return F.sigmoid(-k), F.sigmoid(k) * cand
    if cell == "minlstm":
        kf, ki, cand = F.split(gates, num_outputs=3, axis=2)
        f, i = F.sigmoid(kf), F.sigmoid(ki)
        return f / (f + i), i / (f + i) * cand
    kr, ki, u = F.split(gates, num_outputs=3, axis=2)
    softplus = F.Activation(-lam, act_type="softrelu")  # log(sigmoid(lam)) = -softplus(-lam)
    log_a = F.broadcast_mul(F.sigmoid(kr) * -RGLRU_C, F.reshape(softplus, shape=(1, 1, -1)))
    return F.exp(log_a), F.sqrt(-F.expm1(2 * log_a)) * F.sigmoid(ki) * u


def hillis_steele(F, a, b, steps: int):
    """``h_t = a_t h_{t-1} + b_t`` along axis 1 by a Hillis-Steele scan: ceil(log2 steps) rounds of
    slices, multiplies and concats; after the round with stride d each position holds the composition
    ``(a2 a1, a2 b1 + b2)`` of the 2d steps ending there."""
    d = 1
    while d < steps:
        head_a, tail_a = F.slice_axis(a, axis=1, begin=0, end=d), F.slice_axis(a, axis=1, begin=d, end=None)
        head_b, tail_b = F.slice_axis(b, axis=1, begin=0, end=d), F.slice_axis(b, axis=1, begin=d, end=None)
        prev_a = F.slice_axis(a, axis=1, begin=0, end=steps - d)
        prev_b = F.slice_axis(b, axis=1, begin=0, end=steps - d)
        b = F.concat(head_b, tail_a * prev_b + tail_b, dim=1)
        a = F.concat(head_a, tail_a * prev_a, dim=1)
        d *= 2
    return b


class ScanRecurrence(gluon.HybridBlock):
    """A stack of scan-cell layers (minGRU, minLSTM, RG-LRU): ``l{k}_i2h_weight`` (G*H, in) and
    ``l{k}_i2h_bias`` like the fused layers, ``l{k}_lambda`` (H,) for rglru. The gates come from one
    FullyConnected over every step; ``parallel`` runs :func:`hillis_steele`, otherwise a per-step loop,
    either unrolled in the graph (set ``steps`` before a hybridized call, as for LoopRecurrence). Called
    like Gluon's fused layers: ``block(x)``, or ``block(x, [h])`` -> (outputs, [final h])."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, layer_dropout: float,
                 parallel: bool, steps: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.layer_dropout, self.parallel, self.steps = layer_dropout, parallel, steps
        g = _GATES[cell] * hidden_size
        with self.name_scope():
            for k in range(num_layers):
                width = input_size if k == 0 else hidden_size
                shapes = [(f"l{k}_i2h_weight", (g, width)), (f"l{k}_i2h_bias", (g,))]
                if cell == "rglru":
                    shapes.append((f"l{k}_lambda", (hidden_size,)))
                for name, shape in shapes:
                    setattr(self, name, self.params.get(name, shape=shape, init="zeros"))

    def hybrid_forward(self, F, x, states=None, **params):
        steps = x.shape[1] if isinstance(x, mx.nd.NDArray) else self.steps
        if not steps:
            raise RuntimeError("ScanRecurrence.steps must be set before a symbolic (hybridized) call")
        finals = []
        for k in range(self.num_layers):
            if k and self.layer_dropout:
                x = F.Dropout(x, p=self.layer_dropout)
            gates = F.FullyConnected(x, params[f"l{k}_i2h_weight"], params[f"l{k}_i2h_bias"],
                                     num_hidden=_GATES[self.cell] * self.hidden_size, flatten=False)
            a, b = scan_coefficients(F, self.cell, gates, params.get(f"l{k}_lambda"))
            if states is not None:  # h_0 = a_0 h_start + b_0
                h0 = F.expand_dims(F.squeeze(F.slice_axis(states[0], axis=0, begin=k, end=k + 1), axis=0), 1)
                first = F.slice_axis(b, axis=1, begin=0, end=1) + F.slice_axis(a, axis=1, begin=0, end=1) * h0
                b = F.concat(first, F.slice_axis(b, axis=1, begin=1, end=None), dim=1) if steps > 1 else first
            if self.parallel:
                x = hillis_steele(F, a, b, steps)
            else:
                a_t = F.split(a, num_outputs=steps, axis=1, squeeze_axis=True) if steps > 1 else [
                    F.squeeze(a, axis=1)]
                b_t = F.split(b, num_outputs=steps, axis=1, squeeze_axis=True) if steps > 1 else [
                    F.squeeze(b, axis=1)]
                h, outputs = b_t[0], [b_t[0]]  # h_{-1} = 0
                for t in range(1, steps):
                    h = a_t[t] * h + b_t[t]
                    outputs.append(h)
                x = F.stack(*outputs, axis=1)
            finals.append(F.squeeze(F.slice_axis(x, axis=1, begin=-1, end=None), axis=1))
        if states is None:
            return x
        return x, [F.stack(*finals, axis=0)]


def recurrence(spec: ModelSpec, input_size: int, num_layers: int, steps: int | None = None
               ) -> gluon.HybridBlock:
    """The fused Gluon layer for ``spec.cell`` where it can run the spec, else a :class:`LoopRecurrence`
    (``steps``: its unrolled length, when fixed, as a decoder's)."""
    args = (spec.hidden_size, num_layers)
    if spec.scan_cell:
        parallel = spec.scan == "parallel"
        return ScanRecurrence(spec.cell, input_size, *args, spec.layer_dropout, parallel, steps)
    if spec.fused_ok:
        extra = {"activation": "tanh"} if spec.cell == "rnn" else {}  # rnn.RNN defaults to relu
        return _FUSED[spec.cell](*args, layout="NTC", dropout=spec.layer_dropout, input_size=input_size,
                                 **extra)
    return LoopRecurrence(spec.cell, input_size, *args, spec.layer_dropout, spec.recurrent_dropout, steps)


class RecurrentNet(gluon.HybridBlock):
    """Embedding or one-hot input, dropouts, a recurrence (then a decoder recurrence for an
    encoder-decoder) and a Dense head, as the spec lays them out.

    Input: token ids (batch, time), then optionally the encoder's begin states; output: logits (batch,
    out) or (batch, time, out), followed by the encoder's final states when begin states were given.
    """

    def __init__(self, spec: ModelSpec, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        with self.name_scope():
            self.embedding = (nn.Embedding(spec.vocab_size, spec.embed_dim)
                              if spec.input == "embedding" else None)
            self.rnn = recurrence(spec, spec.input_size, spec.num_layers)
            self.dec = (recurrence(spec, spec.hidden_size, spec.decoder_layers, spec.decoder_steps)
                        if spec.decoder_steps else None)
            self.head = nn.HybridSequential()
            width = spec.hidden_size
            for layer in spec.head:
                if isinstance(layer, Dense):
                    self.head.add(nn.Dense(layer.units, activation="relu" if layer.activation == "relu"
                                           else None, flatten=False, in_units=width))
                    width = layer.units
                else:
                    self.head.add(nn.Dropout(layer.rate))

    @property
    def num_states(self) -> int:
        """Begin/final state arrays of the encoder: h, and c for the LSTM cells."""
        return 2 if self.spec.gate_cell == "lstm" else 1

    def denses(self) -> list[nn.Dense]:
        return [block for block in self.head if isinstance(block, nn.Dense)]

    def hybrid_forward(self, F, x, *states):
        spec = self.spec
        h = self.embedding(x) if self.embedding is not None else F.one_hot(x, depth=spec.vocab_size)
        if spec.embed_dropout:
            h = F.Dropout(h, p=spec.embed_dropout)
        if spec.input_dropout:  # one mask per sequence, shared over time (axis 1)
            h = F.Dropout(h, p=spec.input_dropout, axes=(1,))
        # No states: the graph has no state inputs or outputs, as before consecutive sampling existed.
        out, final = self.rnn(h, list(states)) if states else (self.rnn(h), [])
        if self.dec is not None:  # Keras' RepeatVector: the last encoder output at every decoder step
            last = F.slice_axis(out, axis=1, begin=-1, end=None)
            out = self.dec(F.repeat(last, repeats=spec.decoder_steps, axis=1))
        if spec.output == "last":
            # (not F.SequenceLast: its CPU backward segfaults in MXNet 1.9.1)
            out = F.squeeze(F.slice_axis(out, axis=1, begin=-1, end=None), axis=1)
        logits = self.head(out)
        return (logits, *final) if states else logits


class TrainNet(gluon.HybridBlock):
    """The model and its mean loss in one graph, so a training step is one hybridized call (which also
    returns the encoder's final states when given begin states)."""

    def __init__(self, net: RecurrentNet, loss: gluon.loss.Loss, **kwargs) -> None:
        super().__init__(**kwargs)
        with self.name_scope():
            self.net, self.loss = net, loss

    def hybrid_forward(self, F, x, y, *states):
        if not states:
            return F.mean(self.loss(self.net(x), y))
        logits, *final = self.net(x, *states)
        return (F.mean(self.loss(logits, y)), *final)
