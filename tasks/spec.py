"""Backend-neutral descriptions of a model and its training recipe.

Adapters read these dataclasses and nothing else, so a size or hyperparameter is stated once, here or in
the task module that fills them in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

CellKind = Literal["rnn", "gru", "lstm"]
CELL_KINDS: tuple[str, ...] = ("rnn", "gru", "lstm")
LOSSES: tuple[str, ...] = ("binary_crossentropy", "categorical_crossentropy")


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
    every step (``"sequence"``) -> ``head`` layers. The final Dense produces logits; the loss applies
    the sigmoid or softmax.
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
    init: Literal["keras", "torch"] = "keras"

    def __post_init__(self) -> None:
        if self.cell not in CELL_KINDS:
            raise ValueError(f"unknown cell kind {self.cell!r}; expected one of {', '.join(CELL_KINDS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; expected one of {', '.join(LOSSES)}")
        if self.input == "embedding" and self.embed_dim <= 0:
            raise ValueError("an embedding input needs embed_dim > 0")
        if not self.head or not isinstance(self.head[-1], Dense):
            raise ValueError("the head must end with a Dense layer that produces the logits")

    @property
    def input_size(self) -> int:
        """Width of the vectors fed to the first recurrent layer."""
        return self.embed_dim if self.input == "embedding" else self.vocab_size

    @property
    def num_outputs(self) -> int:
        return self.head[-1].units  # type: ignore[union-attr]

    @property
    def fused_ok(self) -> bool:
        """Whether fused (cuDNN-style) kernels can run this model: recurrent dropout rules them out."""
        return self.recurrent_dropout == 0.0

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
    rho: float = 0.9  # RMSprop decay
    momentum: float = 0.0
    weight_decay: float = 0.0  # L2 added to the gradient (PyTorch Adam's weight_decay semantics)
    clip_norm: float | None = None
    batch_size: int = 32
    eval_batch_size: int = 256
    epochs: int = 1
    lr_step_epochs: int | None = None  # step schedule: lr *= lr_gamma every lr_step_epochs epochs
    lr_gamma: float = 1.0
    extra: dict = field(default_factory=dict)

    def lr_at(self, epoch: int) -> float:
        """Learning rate for a 0-based epoch."""
        if not self.lr_step_epochs:
            return self.lr
        return self.lr * self.lr_gamma ** (epoch // self.lr_step_epochs)

    def to_dict(self) -> dict:
        return asdict(self)
