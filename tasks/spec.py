"""Backend-neutral descriptions of a model and its training recipe.

Adapters read these dataclasses and nothing else, so a size or hyperparameter is stated once, here or in
the task module that fills them in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

CellKind = Literal["rnn", "gru", "lstm", "spiking-lstm", "mingru", "minlstm", "rglru"]
CELL_KINDS: tuple[str, ...] = ("rnn", "gru", "lstm", "spiking-lstm", "mingru", "minlstm", "rglru")
# Cells whose recurrence is linear in the hidden state, h_t = a_t * h_{t-1} + b_t with a_t, b_t computed
# from the input alone, so a whole sequence is one scan (see ``ModelSpec``'s docstring for the equations).
SCAN_CELLS: tuple[str, ...] = ("mingru", "minlstm", "rglru")
ScanMode = Literal["sequential", "parallel"]
SCAN_MODES: tuple[str, ...] = ("sequential", "parallel")
RGLRU_C = 8.0  # Griffin's gate constant c: a_t = sigmoid(Lambda) ** (c * r_t)
# softmax_mse: mean squared error between the softmax of the logits and the one-hot label, averaged over
# every class of every example (the spiking-LSTM names seed's loss, PyTorch's F.mse_loss default).
LOSSES: tuple[str, ...] = ("binary_crossentropy", "categorical_crossentropy", "softmax_mse")
SAMPLING: tuple[str, ...] = ("random", "consecutive")
OPTIMIZERS: tuple[str, ...] = ("adam", "rmsprop", "sgd")
ADAM_EPS: tuple[str, ...] = ("corrected", "uncorrected")
RMS_EPS: tuple[str, ...] = ("inside", "outside")
SPIKE_ALPHA = 2.0  # spikingjelly's surrogate.Erf default: dH/dz ~= alpha/sqrt(pi) * exp(-(alpha z)^2)


@dataclass(frozen=True)
class Dense:
    """A fully connected layer of the head; ``activation`` is ``linear`` or ``relu``."""

    units: int
    activation: str = "linear"


@dataclass(frozen=True)
class Dropout:
    """Element-wise dropout in the head (inverted: kept units are scaled by 1/(1-rate))."""

    rate: float


@dataclass(frozen=True)
class ModelSpec:
    """One recurrent model, described without any framework.

    Layout: input (token ids through an embedding, or one-hot vectors) -> ``embed_dropout`` (element-wise)
    -> ``input_dropout`` (one mask per sequence shared over time steps, as Keras' ``LSTM(dropout=)``)
    -> ``num_layers`` recurrent layers of ``cell`` (``layer_dropout`` between them, ``recurrent_dropout``
    on the carried hidden state, one mask per sequence) -> the last time step (``output="last"``) or
    every step (``"sequence"``) -> ``head`` layers. The final Dense produces logits (with an empty
    head the recurrent output is the logits); the loss applies the sigmoid or softmax.

    ``decoder_steps > 0`` makes an encoder-decoder (Keras' ``RepeatVector``): the recurrent stack's last
    output is repeated ``decoder_steps`` times and fed to ``decoder_layers`` further recurrent layers of
    the same cell and size, whose every step goes to the head (``output`` must be ``"sequence"``).
    ``layer_dropout`` acts between decoder layers as between encoder layers, but not between the
    encoder and the decoder (Keras' ``RepeatVector`` has no dropout); the decoder starts from zeros.

    ``spiking-lstm`` is spikingjelly's SpikingLSTM (0.0.0.0.14, the names seed's): the LSTM's four gate
    pre-activations go through a Heaviside step ``H(z) = 1 if z >= 0 else 0`` instead of sigmoid/tanh,
    ``c' = f*c + i*g`` and ``h' = o*c'`` (no tanh, no clamp); gradients use the surrogate derivative
    ``SPIKE_ALPHA/sqrt(pi) * exp(-(SPIKE_ALPHA*z)^2)`` (the derivative of ``erfc(-alpha z)/2``). It has
    no fused kernel anywhere.

    Scan cells (``SCAN_CELLS``): no recurrent matrix; every gate reads the layer's input only, so the
    recurrence is ``h_t = a_t * h_{t-1} + b_t`` (elementwise) and a sequence is one scan. With
    ``[.., ..] = x_t W + b`` the layer's projection split into H-wide blocks in the order listed:

    - ``mingru`` (Feng et al. 2024, "Were RNNs All We Needed?", the minGRU of their section 3, not the
      log-space variant with g()): blocks (z, h~); ``z = sigmoid(z)``,
      ``h_t = (1 - z) * h_{t-1} + z * h~``.
    - ``minlstm`` (the same paper): blocks (f, i, h~); ``f = sigmoid(f)``, ``i = sigmoid(i)``, normalised
      ``f' = f / (f + i)``, ``i' = i / (f + i)``; ``h_t = f' * h_{t-1} + i' * h~`` (no output gate, no c).
    - ``rglru`` (De et al. 2024, Griffin's Real-Gated Linear Recurrent Unit): blocks (r, i, u);
      ``r = sigmoid(r)``, ``i = sigmoid(i)``, ``a = sigmoid(Lambda) ** (RGLRU_C * r)`` with a learnt
      ``Lambda`` (H,); ``h_t = a * h_{t-1} + sqrt(1 - a**2) * (i * u)``. Griffin gates the same x_t it
      feeds; here the layer's input is first projected to H (the ``u`` block), as the Griffin block's
      linear branch does, so the cell takes any input width.

    ``scan`` picks how a backend computes the recurrence: ``sequential`` a step loop over time,
    ``parallel`` a parallel form (an associative scan over the (a, b) pairs, or the log-space
    cumulative-sum form), whichever the backend offers and names in its record's kernel path. The
    non-log-space step loop (``backends.reference``) is the definition both must match. Scan cells take
    no recurrent dropout (there is no recurrent matrix to drop) and no decoder; only they read ``scan``.
    """

    cell: CellKind
    vocab_size: int
    hidden_size: int
    head: tuple[Dense | Dropout, ...]
    input: Literal["embedding", "onehot"] = "embedding"
    embed_dim: int = 0
    num_layers: int = 1
    embed_dropout: float = 0.0
    input_dropout: float = 0.0
    recurrent_dropout: float = 0.0
    layer_dropout: float = 0.0
    output: Literal["last", "sequence"] = "last"
    loss: str = "categorical_crossentropy"
    # Weight initialisation scheme, drawn once in NumPy (backends/canonical.py): "keras" (Glorot uniform
    # kernels, orthogonal recurrent kernels, zero bias with forget-gate bias 1, embeddings U(-0.05, 0.05))
    # or "torch" (PyTorch's defaults: U(-1/sqrt(H), 1/sqrt(H)) and Kaiming-uniform dense layers).
    # or "uniform" (every weight U(-init_scale, init_scale), Zaremba et al.'s PTB models).
    init: Literal["keras", "torch", "uniform"] = "keras"
    init_scale: float = 0.1
    decoder_steps: int = 0
    decoder_layers: int = 1
    scan: ScanMode = "parallel"

    def __post_init__(self) -> None:
        if self.cell not in CELL_KINDS:
            raise ValueError(f"unknown cell kind {self.cell!r}; expected one of {', '.join(CELL_KINDS)}")
        if self.scan not in SCAN_MODES:
            raise ValueError(f"unknown scan mode {self.scan!r}; expected one of {', '.join(SCAN_MODES)}")
        if self.cell in SCAN_CELLS and self.recurrent_dropout:
            raise ValueError(f"cell {self.cell} has no recurrent matrix to drop out: set "
                             "model.recurrent_dropout=0 (input_dropout and layer_dropout work)")
        if self.cell in SCAN_CELLS and self.decoder_steps:
            raise ValueError(f"cell {self.cell} has no encoder-decoder form here: use rnn, gru or lstm "
                             "for decoder_steps > 0")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if self.input == "embedding" and self.embed_dim <= 0:
            raise ValueError("an embedding input needs embed_dim > 0")
        if self.head and not isinstance(self.head[-1], Dense):
            raise ValueError("the head must end with a Dense layer that produces the logits")
        if self.decoder_steps and self.output != "sequence":
            raise ValueError("an encoder-decoder (decoder_steps > 0) outputs every decoder step: "
                             "set output='sequence'")

    @property
    def input_size(self) -> int:
        """Width of the vectors fed to the first recurrent layer."""
        return self.embed_dim if self.input == "embedding" else self.vocab_size

    @property
    def num_outputs(self) -> int:
        """Width of the logits: the last Dense, or the recurrent output itself with an empty head (the
        five-words seed's RNN, whose 26 hidden units are the 26 letters' logits)."""
        return self.head[-1].units if self.head else self.hidden_size  # type: ignore[union-attr]

    @property
    def fused_ok(self) -> bool:
        """Whether fused (cuDNN-style) kernels can run this model: recurrent dropout and the spiking cell
        rule them out, and no such kernel exists for the scan cells."""
        return self.recurrent_dropout == 0.0 and self.cell not in ("spiking-lstm", *SCAN_CELLS)

    @property
    def scan_cell(self) -> bool:
        """A cell linear in its hidden state (``SCAN_CELLS``): computed by a step loop or a scan."""
        return self.cell in SCAN_CELLS

    @property
    def spiking(self) -> bool:
        return self.cell == "spiking-lstm"

    @property
    def gate_cell(self) -> str:
        """The cell whose weight layout this one shares (spiking-lstm has the LSTM's four gates)."""
        return "lstm" if self.cell == "spiking-lstm" else self.cell

    def to_dict(self) -> dict:
        d = asdict(self)
        d["head"] = [{"type": type(layer).__name__.lower(), **asdict(layer)} for layer in self.head]
        return d


@dataclass(frozen=True)
class Recipe:
    """How to train: every backend applies exactly these settings.

    ``lr_schedule`` is evaluated by the harness per epoch (``lr_at``) and pushed to the adapter, so the
    schedule is implemented once. ``clip_norm`` clips the global gradient norm.
    """

    optimizer: Literal["adam", "sgd", "rmsprop"] = "adam"
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-7  # Keras' Adam/RMSprop default (PyTorch's Adam default is 1e-8)
    # Where Adam adds eps: "corrected" divides the bias-corrected moments, m_hat / (sqrt(v_hat) + eps)
    # (PyTorch, optax); "uncorrected" adds it to the raw second moment and folds the bias correction into
    # the step, lr * sqrt(1-beta2^t)/(1-beta1^t) * m / (sqrt(v) + eps) (Keras, MXNet; Kingma and Ba's
    # "epsilon hat"). The same as "corrected" with eps / sqrt(1 - beta2^t) at step t.
    adam_eps: Literal["corrected", "uncorrected"] = "corrected"
    rho: float = 0.9  # RMSprop decay of the mean square
    # RMSprop: g / sqrt(v + eps) ("inside": Keras, TensorFlow, MXNet, optax's default) or
    # g / (sqrt(v) + eps) ("outside": PyTorch); centered subtracts the squared mean gradient from v.
    rms_eps: Literal["inside", "outside"] = "outside"
    centered: bool = False
    # SGD and RMSprop momentum, PyTorch's form: buf = momentum * buf + update; step = lr * buf (Keras'
    # RMSprop puts lr inside the buffer, the same only while lr is constant).
    momentum: float = 0.0
    weight_decay: float = 0.0  # L2 added to the gradient after clipping (PyTorch's weight_decay semantics)
    clip_norm: float | None = None  # the global norm over all gradients (clip_grad_norm_), before decay
    batch_size: int = 32
    eval_batch_size: int = 256
    epochs: int = 1
    lr_step_epochs: int | None = None  # step schedule: lr *= lr_gamma every lr_step_epochs epochs
    lr_gamma: float = 1.0
    lr_decay_after: int | None = None  # Zaremba's: full lr for this many epochs, then *= lr_gamma each epoch
    # "random": batches of independent windows in a fresh random order every epoch, each starting from a
    # zero state. "consecutive": row b of batch i+1 continues row b of batch i (the task lays the data out
    # so), batches run in order, and the adapter carries the final hidden state, detached, into the next
    # train_step / predict call (truncated backpropagation through time); ``reset_state`` zeroes it.
    sampling: Literal["random", "consecutive"] = "random"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.adam_eps not in ADAM_EPS:
            raise ValueError(f"unknown adam_eps {self.adam_eps!r}; expected one of {', '.join(ADAM_EPS)}")
        if self.rms_eps not in RMS_EPS:
            raise ValueError(f"unknown rms_eps {self.rms_eps!r}; expected one of {', '.join(RMS_EPS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
        if self.sampling not in SAMPLING:
            raise ValueError(f"unknown sampling {self.sampling!r}; expected one of {', '.join(SAMPLING)}")

    @property
    def stateful(self) -> bool:
        return self.sampling == "consecutive"

    def lr_at(self, epoch: int) -> float:
        """Learning rate for a 0-based epoch."""
        if self.lr_step_epochs:
            return self.lr * self.lr_gamma ** (epoch // self.lr_step_epochs)
        if self.lr_decay_after is not None:
            return self.lr * self.lr_gamma ** max(epoch + 1 - self.lr_decay_after, 0)
        return self.lr

    def to_dict(self) -> dict:
        return asdict(self)
