"""What a task declares: data, model spec, recipe, metrics, target and named scales.

A task module defines one :class:`Task` instance named ``TASK``. Nothing here imports a framework.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasks.spec import ModelSpec, Recipe

if TYPE_CHECKING:
    import numpy as np


@dataclass
class Split:
    """Inputs and targets of one split, as NumPy arrays (x: int32 token ids, y: labels).

    ``lengths`` (optional) gives each row's true length for rows of different lengths padded at the
    front: the harness then batches rows of equal length together and cuts the padding off (bucketing),
    so no backend needs masking and every model sees exactly its sequence.
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None
    stream_batch: int | None = None  # consecutive layout: rows per batch (row b of batch i+1 continues row b)

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Dataset:
    """Deterministic train/validation/test splits; validation is carved from the training data."""

    train: Split
    val: Split
    test: Split
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scale:
    """A named size of a task: its model, its recipe and the data options that go with them."""

    name: str
    description: str
    model: ModelSpec
    recipe: Recipe
    data: dict[str, Any] = field(default_factory=dict)
    # the seed document's (or paper's) own figure for this configuration, as it states it: the overview's
    # column beside the measured ones
    reported: str = ""
    # why a run of this configuration may miss the target, in one line (the overview's note under a †)
    misses: str = ""

    def with_epochs(self, epochs: int) -> Scale:
        return replace(self, recipe=replace(self.recipe, epochs=epochs))


@dataclass(frozen=True)
class Target:
    """The figure a run should reach: ``metric`` (a key of the record's metrics), compared by ``mode``."""

    metric: str
    value: float
    mode: str = "max"  # "max": higher is better; "min": lower is better
    source: str = ""

    def reached(self, value: float) -> bool:
        return value >= self.value if self.mode == "max" else value <= self.value


@dataclass(frozen=True)
class Task:
    """A benchmark task, defined once for every backend.

    ``load(scale, data_dir, cache_dir)`` returns a :class:`Dataset`. ``metric`` names the validation and
    test metric the harness computes (``accuracy`` or ``perplexity``); ``target`` is compared with the
    validation metric for time-to-target and with the test metric at the end.

    ``extra_metrics`` names further functions of ``harness.common.metrics.EXTRA`` reported for the test split;
    ``latency`` makes the harness time every training step on its own (tasks whose batches are so small
    that per-step overhead is the figure of interest); ``encode`` turns a user's text into token ids
    with the dataset's ``info`` (vocabulary), for ``predict`` and ``generate``.
    """

    name: str
    description: str
    scales: dict[str, Scale]
    load: Callable[[Scale, Path | None, Path | None], Dataset]
    metric: str
    target: Target
    default_scale: str = "full"
    seed_source: str = ""
    extra_metrics: tuple[str, ...] = ()
    latency: bool = False
    encode: Callable[[str, dict[str, Any]], list[int]] | None = None
    held_out: bool = True  # False: val and test are the training data (a memorisation task); records say so
    # Input length of a typical example where the scale's data options (``maxlen``, ``steps``) do not say
    # it: the bench feeds synthetic batches of this length (``Task.seq_len_of``).
    seq_len: int = 0
    # The scale data options a user may change (``--set data.maxlen=120``), with their types; the cache key
    # of derived arrays includes them.
    data_options: dict[str, type] = field(default_factory=dict)
    # The model fields that follow from the data options (IMDB: the vocabulary is ``num_words`` ids).
    data_derived: Callable[[Scale], Scale] | None = None

    def seq_len_of(self, scale: Scale) -> int:
        """The input length of ``scale``'s examples: its ``maxlen`` or ``steps`` data option, else the
        task's ``seq_len``."""
        length = scale.data.get("maxlen") or scale.data.get("steps") or self.seq_len
        if not length:
            raise ValueError(f"task {self.name!r} declares no sequence length for scale {scale.name!r}")
        return int(length)

    def scale(self, name: str) -> Scale:
        try:
            return self.scales[name]
        except KeyError:
            raise KeyError(
                f"task {self.name!r} has no scale {name!r}; choose one of: {', '.join(self.scales)}"
            ) from None
