"""Do an A/B bench's rows compute the same numbers? The parity check between them, beside the speed verdict.

A framework upgrade (``--variant``) or a change to an adapter (``--against``) that is faster because it
computes something else is no win, so an A/B bench also runs, for each point and each row, the parity
worker of ``harness.parity.check`` (in the row's environment, with the row's checkout): the same canonical
weights and the same fixed synthetic batch (``check.BATCH`` rows of ``SEQ_LEN`` steps: the model's
function, not the point's speed shape), the forward outputs and ``check.STEPS`` training steps of the
point's optimizer (with the parity check's settings), dropout off. Each A/B pair is then judged by
``check.difference`` within the parity tolerances: ``same``, ``differs`` (the quantity furthest past its
tolerance and its largest relative difference), or ``failed`` (a worker that did not finish; its log
named). Points that resolve to the same parity model (a sweep of the batch or the length) share one check.

Entries (the manifest's ``numerics``, and each candidate row's record): ``point``, ``a``, ``b``,
``verdict``, ``quantity``, ``relative`` and ``absolute`` (per quantity), ``tolerance``, ``steps``,
``optimizer``, ``error``.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import backends
from harness import launcher
from harness.bench import plan as bench_plan
from harness.errors import UserError
from harness.parity import check

CHECK_MARK = "\u2713"
Collect = Callable[[dict[str, Any], str, str, str, int, Path, dict[str, Any], Path], dict[str, np.ndarray]]


def optim_of(point: bench_plan.Point) -> dict[str, Any]:
    """The parity check's optimizer settings for ``point``: its own optimizer (with the parity check's
    learning rate and epsilon) and its overrides as ``--set`` settings."""
    optimizer = bench_plan.resolve(point).scale.recipe.optimizer
    settings = [f"{k}={v}" for k, v in point.overrides.items() if not k.startswith("shape.")]
    return {"optimizer": optimizer if optimizer in check.OPTIMIZER_DEFAULTS else "sgd", "settings": settings}


def collect_row(row: dict[str, Any], task: str, scale: str, cell: str, steps: int, folder: Path,
                optim: dict[str, Any], log: Path) -> dict[str, np.ndarray]:
    """One A/B row's parity results: its own interpreter (a variant's environment) or its backend's, and
    its own checkout (``--against``)."""
    python = row.get("python") or launcher.env_python(backends.get(row["backend"]))
    result = folder / f"{row['name']}.npz"
    return check.collect_with(python, row["backend"], task, scale, cell, steps, folder, optim, result, log,
                              row.get("tree"))


def run(points: list[bench_plan.Point], rows: dict[str, dict[str, Any]], pairs: list[tuple[str, str]],
        logs: Path, collect: Collect = collect_row, steps: int = check.STEPS, seed: int = 0
        ) -> list[dict[str, Any]]:
    """An entry per point and A/B pair (``pairs``: candidate, baseline), from each row's parity worker."""
    needed = list(dict.fromkeys(name for pair in pairs for name in pair))
    cache: dict[tuple, list[dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for point in points:
        optim = optim_of(point)
        key = (point.task, point.scale, tuple(optim["settings"]), optim["optimizer"])
        if key not in cache:
            try:
                cache[key] = _check(point, optim, rows, needed, pairs, logs, collect, steps, seed)
            except (UserError, KeyError, ValueError) as exc:  # a model the parity check cannot set up
                why = str(exc.args[0]) if exc.args else type(exc).__name__
                cache[key] = [{"a": a, "b": b, "verdict": "failed", "quantity": None, "relative": None,
                               "absolute": None, "error": why, "steps": steps,
                               "optimizer": optim["optimizer"], "tolerance": None} for a, b in pairs]
        out += [{"point": point.id, **entry} for entry in cache[key]]
    return out


def _check(point: bench_plan.Point, optim: dict[str, Any], rows: dict[str, dict[str, Any]], needed: list[str],
           pairs: list[tuple[str, str]], logs: Path, collect: Collect, steps: int, seed: int
           ) -> list[dict[str, Any]]:
    spec, recipe = check.parity_spec(point.task, point.scale, None, optim)
    results: dict[str, dict[str, np.ndarray]] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="rnnbench-numerics-") as tmp:
        folder = Path(tmp)
        check.shared_inputs(spec, recipe, seed, folder)
        for name in needed:
            log = logs / f"numerics-{name}.log"
            try:
                results[name] = collect(rows[name], point.task, point.scale, spec.cell, steps, folder, optim,
                                        log)
            except UserError as exc:
                errors[name] = str(exc)
    common = {"steps": steps, "optimizer": recipe.optimizer,
              "tolerance": {q: tol for q, (_, tol) in check.QUANTITIES.items()}}
    found = []
    for a, b in pairs:
        failed = [errors[n] for n in (a, b) if n in errors]
        if failed:
            found.append({"a": a, "b": b, "verdict": "failed", "quantity": None, "relative": None,
                          "absolute": None, "error": "; ".join(failed), **common})
            continue
        diff = check.difference(results[a], results[b])
        worst = diff.worst
        found.append({"a": a, "b": b, "verdict": "same" if diff.ok else "differs", "quantity": worst,
                      "relative": _finite(diff.relative), "absolute": _finite(diff.absolute),
                      "error": None, **common})
    return found


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    """JSON has no infinity: a NaN or a shape mismatch is None."""
    return {k: (v if np.isfinite(v) else None) for k, v in values.items()}


def mark(entry: dict[str, Any] | None) -> str:
    """An entry as the tables show it: a check mark, ``differs: loss 3e-4`` (its largest relative
    difference), or why it was not checked; '' without one."""
    if not entry:
        return ""
    if entry["verdict"] == "same":
        return CHECK_MARK
    if entry["verdict"] == "differs":
        rel = (entry.get("relative") or {}).get(entry["quantity"])
        shown = "beyond measure" if rel is None else re.sub(r"e([+-])0+(\d)", r"e\1\2", f"{rel:.0e}")
        return f"differs: {entry['quantity']} {shown}"
    return "unchecked (a worker failed)"


def lookup(entries: list[dict[str, Any]] | None, point: str, a: str) -> dict[str, Any] | None:
    """The entry of candidate row ``a`` at ``point``, if any."""
    return next((e for e in entries or [] if e["point"] == point and e["a"] == a), None)
