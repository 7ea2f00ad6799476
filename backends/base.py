"""The adapter protocol: everything a backend provides, and nothing more.

An adapter turns a :class:`~tasks.spec.ModelSpec` and :class:`~tasks.spec.Recipe` into the framework's
idiomatic model and optimizer, and runs training and inference steps on NumPy batches. It returns
losses and raw model outputs (logits); the harness computes every metric, applies the learning-rate
schedule, times the work and writes the record. This module imports no framework.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from tasks.spec import ModelSpec, Recipe

DEVICES = ("auto", "cpu", "gpu")
PRECISIONS = ("fp32", "bf16", "fp16")


class BackendError(Exception):
    """A backend cannot do what was asked (no GPU, unsupported option); the message says what would."""


@dataclass(frozen=True)
class BackendInfo:
    """How the registry finds a backend without importing its framework.

    ``requires`` are the modules that must be importable to run it here; otherwise the harness runs it
    in the tox environment ``tox_env``. ``options`` are passed to the adapter (backend variants such as
    Keras on JAX share one package and differ only in options).

    ``modes`` are the framework's execution modes (``torch``: eager, compile; ``jax``: scan unroll
    factors; ...), name -> what it runs, the first the default. ``NAME+MODE`` (``torch+compile``) is the
    backend in that mode: its own row in a bench, its own column in a report (``backends.get``); the
    adapter receives the mode as ``mode`` and records what ran.
    """

    name: str
    adapter: str  # "module:Class"
    requires: tuple[str, ...]
    tox_env: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """The backend's name without its mode (``torch`` of ``torch+compile``)."""
        return self.name.split(MODE_SEP, 1)[0]

    @property
    def default_mode(self) -> str | None:
        return next(iter(self.modes), None)

    @property
    def mode(self) -> str | None:
        """The mode this entry runs: its ``NAME+MODE``'s, else the default."""
        return self.options.get("mode", self.default_mode)


MODE_SEP = "+"


class Adapter(abc.ABC):
    """One framework's implementation of a model spec. See the module docstring for the division of work.

    Lifecycle: ``Adapter(device, precision, **options)`` -> ``build(spec, recipe, seed)`` ->
    ``set_weights(canonical)`` -> ``train_step``/``predict`` ... The harness calls ``synchronize()``
    before reading a clock, so asynchronous frameworks are timed on finished work.
    """

    framework: str = ""
    # True for compilers that build one program per input shape (XLA): the harness then pads a length
    # bucket's partial training batch to the batch size with rows of loss weight 0, and calls
    # ``train_step(x, y, weight)``, so there is one program per length, not per (length, size).
    fixed_shapes: bool = False

    def __init__(self, device: str = "auto", precision: str = "fp32", **options: Any) -> None:
        if device not in DEVICES:
            raise BackendError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
        if precision not in PRECISIONS:
            raise BackendError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
        self.device_request = device
        self.precision = precision
        self.mode: str | None = options.pop("mode", None)  # the BackendInfo's mode (``NAME+MODE``)
        self.options = options

    @abc.abstractmethod
    def build(self, spec: ModelSpec, recipe: Recipe, seed: int) -> None:
        """Create the model and optimizer; seed the framework's RNG (dropout) with ``seed``."""

    @abc.abstractmethod
    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical weights (names and layouts in ``backends.canonical``) into the model."""

    @abc.abstractmethod
    def get_weights(self) -> dict[str, np.ndarray]:
        """The model's weights in the canonical format, as NumPy copies."""

    @abc.abstractmethod
    def train_step(self, x: np.ndarray, y: np.ndarray) -> Any:
        """One optimizer step on a batch; returns the loss as a framework value (no forced sync)."""

    @abc.abstractmethod
    def losses(self, handles: list[Any]) -> np.ndarray:
        """The float values of losses returned by ``train_step`` (this waits for them)."""

    @abc.abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits for a batch in inference mode (no dropout), as a NumPy float32 array."""

    def reset_state(self) -> None:
        """Zero the hidden state carried between calls under ``recipe.sampling == "consecutive"``.

        With consecutive sampling, ``train_step`` and ``predict`` start from the state the previous call
        ended with (detached from its graph: truncated backpropagation through time) and keep their final
        state for the next call; a call whose batch size differs from the carried state's starts from
        zeros. The harness resets before every epoch and every evaluation pass. With random sampling
        every call starts from zeros and this does nothing.
        """
        raise BackendError(f"the {self.framework or type(self).__name__} backend cannot carry hidden state "
                           "between batches; use --sampling random")

    @abc.abstractmethod
    def set_lr(self, lr: float) -> None:
        """Set the optimizer's learning rate (the harness evaluates the schedule)."""

    @abc.abstractmethod
    def synchronize(self) -> None:
        """Block until all queued device work has finished."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """What ran: ``framework``, ``versions``, ``device``, ``device_name``, ``kernel_path``,
        ``precision``, ``threads`` and anything framework-specific (XLA, cuDNN, ...)."""

    def set_threads(self, threads: int) -> None:
        """Use ``threads`` CPU threads through the framework's own call, where it has one. Called before
        ``build``; the environment variables read at import (``harness.common.threads``) are already
        set, which is all OpenMP (MXNet) and XLA need, hence this default does nothing."""
        return None

    def peak_device_memory(self) -> int | None:
        """Peak accelerator memory in bytes since build, or None on a CPU."""
        return None

    def prepare(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Compile the training step for each of these example batches (one per input shape) before
        training, so compilation is timed apart rather than inside the first epoch (``fixed_shapes``
        adapters; others have nothing to do)."""
        return None

    def compiled_shapes(self) -> int | None:
        """How many training programs the framework compiled (one per input shape), or None where it
        compiles none or cannot tell."""
        return None
