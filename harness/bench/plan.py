"""What a bench measures: points (a task's model at a scale, with swept fields changed) and their
synthetic batches.

A point is every field of the task's spec and recipe at that scale (vocabulary, embedding, cell, layers,
head, loss, optimizer, batch size), fed batches of the task's real shapes whose ids are drawn uniformly
from the vocabulary: the content of a batch does not change the cost of a dense recurrent step.
``--sweep FIELD=V1,V2`` changes one field per axis (``harness.common.overrides``: any scalar model or recipe
field, and ``seq_len``); several axes form their grid, at most ``MAX_POINTS`` points. Sweeping
``batch_size`` sets the inference batch too, so both figures move with it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import tasks
from harness.common import overrides
from harness.common.synthetic import fixed_batch
from harness.errors import UserError
from tasks.base import Scale, Task
from tasks.spec import SCAN_CELLS

MAX_POINTS = 200
SYNTHETIC = "token ids drawn uniformly from the vocabulary, labels uniformly from the classes (synthetic)"


@dataclass(frozen=True)
class Point:
    """One configuration to time: a task's scale and the overrides of its sweep axes (full keys)."""

    task: str
    scale: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        swept = "".join(f"+{k.split('.', 1)[1]}={v}" for k, v in self.overrides.items())
        return f"{self.task}-{self.scale}{swept}"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "scale": self.scale, "overrides": dict(self.overrides)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Point:
        return cls(d["task"], d["scale"], dict(d.get("overrides") or {}))


@dataclass(frozen=True)
class Shape:
    """A point resolved: the model and recipe to build, and the batch shapes to feed."""

    task: Task
    scale: Scale
    seq_len: int
    train_batch: int
    infer_batch: int

    def describe(self) -> dict[str, Any]:
        spec, recipe = self.scale.model, self.scale.recipe
        return {"seq_len": self.seq_len, "train_batch": self.train_batch, "infer_batch": self.infer_batch,
                "cell": spec.cell, "hidden_size": spec.hidden_size, "num_layers": spec.num_layers,
                "optimizer": recipe.optimizer, "stateful": recipe.stateful,
                "model": spec.to_dict(), "recipe": recipe.to_dict(), "inputs": SYNTHETIC}


def parse_sweeps(texts: list[str] | None) -> list[tuple[str, list[Any]]]:
    """``FIELD=V1,V2,...`` axes as (full key, parsed values); one-line errors for unknown fields or
    values of the wrong type."""
    axes: list[tuple[str, list[Any]]] = []
    for text in texts or []:
        name, sep, values = text.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise UserError(f"--sweep {text!r}: write FIELD=V1,V2,... (e.g. --sweep batch_size=16,64,256)")
        key = overrides.resolve(name.strip())
        if any(key == k for k, _ in axes):
            raise UserError(f"--sweep {name}: the field is swept twice; give its values in one --sweep")
        parsed = list(dict.fromkeys(overrides.parse_value(key, v.strip()) for v in values.split(",")
                                    if v.strip()))
        axes.append((key, parsed))
    return axes


def plan(task_names: list[str], scale: str | None, axes: list[tuple[str, list[Any]]],
         settings: list[str] | None = None) -> list[Point]:
    """Every point, in order: task, then the grid of the axes (the first axis varies slowest). The
    ``--set`` ``settings`` apply to every point (a data option only to the tasks that have it, parsed for
    each task). Each point is resolved once here, so a value the spec rejects fails before anything runs."""
    size = len(task_names) * int(np.prod([len(v) for _, v in axes])) if axes else len(task_names)
    if size > MAX_POINTS:
        raise UserError(f"the sweep makes {size} points, more than {MAX_POINTS}; sweep fewer values or "
                        "axes, or run several benches")
    points, unread = [], None
    for name in task_names:
        task = tasks.get(name)
        scale_name = scale or task.default_scale
        fixed = overrides.parse_settings(settings or [], task)
        for combo in itertools.product(*(values for _, values in axes)):
            swept = {k: v for (k, _), v in zip(axes, combo, strict=True)}
            given = {**{k: v for k, v in fixed.items() if k not in swept}, **swept}
            if "model.scan" in fixed and "model.scan" not in swept and \
                    (cell := _cell_of(task, scale_name, given)) not in SCAN_CELLS:
                # a --set for a sweep's scan cells: the LSTM beside them reads none, and its point id and
                # record do not claim one
                unread = (cell, given.pop("model.scan"))
            point = Point(name, scale_name, given)
            resolve(point)
            points.append(point)
    if unread and not any("model.scan" in p.overrides for p in points):
        raise UserError(overrides.scan_unread(*unread))
    return points


def _cell_of(task: Any, scale_name: str, given: dict[str, Any]) -> str:
    """The point's cell: only a scan cell (``SCAN_CELLS``) reads ``model.scan``."""
    try:
        return given.get("model.cell") or task.scale(scale_name).model.cell
    except KeyError as exc:
        raise UserError(exc.args[0]) from None


def resolve(point: Point) -> Shape:
    """The task, overridden scale and batch shapes of a point."""
    task = tasks.get(point.task)
    try:
        base = task.scale(point.scale)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    scale = overrides.apply(base, point.overrides, task)
    seq_len = point.overrides.get("shape.seq_len") or task.seq_len_of(scale)
    if seq_len < 1:
        raise UserError(f"seq_len={seq_len}: give a positive length")
    recipe = scale.recipe
    train_batch = recipe.batch_size
    infer_batch = recipe.batch_size if recipe.stateful or "recipe.batch_size" in point.overrides \
        else recipe.eval_batch_size
    return Shape(task, scale, int(seq_len), train_batch, infer_batch)


def synthetic_batches(shape: Shape, batch: int, count: int, seed: int = 0
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` different batches of ``batch`` rows of the point's shape (cycled through while timing)."""
    return [fixed_batch(shape.scale.model, batch, seed + i, shape.seq_len) for i in range(count)]
