"""``predict`` and ``generate``: use a finished run's checkpoint (canonical weights) on new text.

The checkpoint is backend-neutral, so any backend can load a run trained by another; the task's
``encode`` and the dataset's vocabulary turn text into ids, as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import backends
import tasks
from backends import canonical
from harness import records
from harness.common import metrics
from harness.errors import UserError
from tasks.base import Task


def _finished_run(task: str, backend: str, runs: str, run_id: str | None, weights: str = "best"
                  ) -> dict[str, Any]:
    """The chosen run's record, or the newest finished run of the task that has a checkpoint; runs by
    other backends count too (weights are canonical), the backend's own first."""
    found = [r for r in records.load_all(Path(runs))
             if r.get("task") == task and r.get("status") == "ok" and r.get("checkpoint")
             and checkpoint_of(r, weights).exists() and (run_id is None or r["run_id"] == run_id)]
    if not found:
        which = f"run {run_id!r}" if run_id else f"finished {task} run with a {weights} checkpoint"
        raise UserError(f"found no {which} in {runs}; train one first: "
                        f"python -m harness run --task {task} --backend {backend}")
    found.sort(key=lambda r: (r["backend"] == backend, r.get("started", "")))
    return found[-1]


def checkpoint_of(record: dict[str, Any], weights: str = "best") -> Path:
    """A record's checkpoint file (``best`` validation or ``final``), relative to the record's folder."""
    key = "checkpoint" if weights == "best" else "checkpoint_final"
    return Path(record["_path"]).parent / record.get(key, f"(no {weights} checkpoint)")


def _model(task: Task, record: dict[str, Any], backend: str, device: str, data_dir: str | None,
           cache_dir: str | None, weights: str = "best") -> tuple[Any, dict[str, Any]]:
    from dataclasses import replace

    from harness.common import overrides

    scale = task.scale(record["scale"])
    changed = record["config"].get("overrides")
    if changed is not None:  # the run's --set (data options included: the vocabulary follows them)
        scale = overrides.apply(scale, changed, task)
    elif (record["config"].get("options") or {}).get("cell"):  # records from before overrides
        scale = replace(scale, model=replace(scale.model, cell=record["config"]["options"]["cell"]))
    scale = replace(scale, recipe=replace(scale.recipe, sampling="random"))  # every call from zeros
    info = task.load(scale, data_dir, cache_dir).info
    adapter = backends.create(backends.get(backend), device, "fp32")
    adapter.build(scale.model, scale.recipe, 0)
    adapter.set_weights(canonical.load(str(checkpoint_of(record, weights))))
    return adapter, info


def _load(task_name: str, backend: str, runs: str, run_id: str | None, data_dir: str | None,
          cache_dir: str | None, device: str, weights: str
          ) -> tuple[Task, dict[str, Any], Any, dict[str, Any]]:
    """The task, the chosen run's record, a backend model holding its weights, and the data's info."""
    task = tasks.get(task_name)
    record = _finished_run(task_name, backend, runs, run_id, weights)
    adapter, info = _model(task, record, backend, device, data_dir, cache_dir, weights)
    return task, record, adapter, info


def _encode(task: Task, text: str, info: dict[str, Any]) -> list[int]:
    if task.encode is None:
        raise UserError(f"task {task.name!r} takes no text input")
    try:
        ids = task.encode(text, info)
    except ValueError as exc:
        raise UserError(f"{text!r}: {exc}") from None
    if not ids:
        raise UserError(f"{text!r} has nothing the task can read; give some letters")
    return ids


def predict(task_name: str, backend: str, text: str, top: int, runs: str, run_id: str | None,
            data_dir: str | None, cache_dir: str | None, device: str = "auto", weights: str = "best") -> str:
    """The ``top`` most probable classes of ``text`` with their softmax probabilities."""
    task, record, adapter, info = _load(task_name, backend, runs, run_id, data_dir, cache_dir, device,
                                        weights)
    if "classes" not in info:
        raise UserError(f"task {task_name!r} does not classify; use `generate` for language models")
    x = np.asarray([_encode(task, text, info)], dtype=np.int32)
    probs = np.exp(metrics.log_softmax(adapter.predict(x)))[0]
    best = np.argsort(-probs)[:top]
    lines = [f"{text} (run {record['run_id']}, {weights} weights):"]
    lines += [f"  ({probs[i]:.2f}) {info['classes'][i]}" for i in best]
    return "\n".join(lines)


def generate(task_name: str, backend: str, prefix: str, count: int, runs: str, run_id: str | None,
             data_dir: str | None, cache_dir: str | None, device: str = "auto", weights: str = "best") -> str:
    """``prefix`` and ``count`` greedy next tokens (the most probable each time, as d2l's predict)."""
    task, _, adapter, info = _load(task_name, backend, runs, run_id, data_dir, cache_dir, device, weights)
    if "vocab" not in info:
        raise UserError(f"task {task_name!r} is not a language model; use `predict`")
    ids = _encode(task, prefix, info)
    context = info.get("context")  # a model trained on fixed windows reads only its window
    for _ in range(count):  # the whole sequence each time: simple, and exact for every backend
        logits = adapter.predict(np.asarray([ids[-context:] if context else ids], dtype=np.int32))
        ids.append(int((logits[0, -1] if logits.ndim == 3 else logits[0]).argmax()))  # sequence or last
    sep = " " if info.get("unit") == "word" else ""
    return sep.join(info["vocab"][i] for i in ids)
