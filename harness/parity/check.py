"""Same model, provably: every backend runs the same canonical weights on the same batch.

The parent draws the initial weights and a fixed batch once and writes them to files; each backend loads
them (in its own tox environment when its framework is not importable here), saves its forward outputs,
the losses of N plain-SGD steps with dropout off, and its final weights. The parent compares every pair
of backends, and every backend's forward pass with the NumPy reference (``backends.reference``).

Tolerances: forward outputs agree to ``FORWARD_TOL`` (absolute, float32); training losses to
``TRAIN_TOL`` (absolute, over N steps of SGD: float32 rounding differences grow a little per step).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate

import backends
import tasks
from backends import canonical, reference
from harness import launcher
from harness.common import metrics
from harness.common.synthetic import fixed_batch
from harness.errors import UserError
from tasks.spec import Dense, ModelSpec, Recipe

FORWARD_TOL = 1e-5
TRAIN_TOL = 1e-4
STEPS = 20  # training steps compared by default (``parity --steps``, and a bench A/B's numerics check)
BATCH = 16  # rows of the fixed batch, at most (fewer where the recipe's batch is smaller)
QUANTITIES = {"outputs": ("forward", FORWARD_TOL), "loss": ("losses", TRAIN_TOL)}  # name: (key, tolerance)


# Optimizer settings of a parity check: a learning rate that moves the loss in a few steps, and for Adam
# and RMSprop an epsilon large enough that its two forms (adam_eps, rms_eps) differ far beyond tolerance.
OPTIMIZER_DEFAULTS = {"sgd": {"lr": 0.1}, "adam": {"lr": 1e-2, "eps": 1e-3},
                      "rmsprop": {"lr": 1e-3, "eps": 1e-3}}


def parity_spec(task: str, scale: str, cell: str | None, optim: dict[str, Any] | None = None
                ) -> tuple[ModelSpec, Recipe]:
    """The task's model at ``scale`` with every dropout off (and ``cell`` swapped in), trained by
    ``optim`` (``optimizer``: sgd, adam or rmsprop, default sgd; ``clip_norm``, ``weight_decay``,
    ``adam_eps``, ``rms_eps``, ``centered``, ``momentum`` as the recipe fields; the task's own forms by
    default; ``settings``: ``--set KEY=VALUE`` overrides of the scale, applied first)."""
    from harness.common import overrides

    the_task = tasks.get(task)
    optim = dict(optim or {})
    s = overrides.apply(the_task.scale(scale), overrides.parse_settings(optim.pop("settings", []), the_task),
                        the_task)
    spec = replace(s.model, embed_dropout=0.0, input_dropout=0.0, recurrent_dropout=0.0, layer_dropout=0.0,
                   head=tuple(layer for layer in s.model.head if isinstance(layer, Dense)),
                   cell=cell or s.model.cell)
    name = optim.pop("optimizer", "sgd")
    settings = {"momentum": 0.0, "weight_decay": 0.0, "clip_norm": None, **OPTIMIZER_DEFAULTS[name], **optim}
    recipe = replace(s.recipe, optimizer=name, sampling="random", **settings)
    return spec, recipe


def describe_optim(recipe: Recipe) -> str:
    """The optimizer of a parity check in words, for its table's title."""
    parts = [f"{recipe.optimizer} lr {recipe.lr:g}"]
    if recipe.optimizer == "adam":
        parts.append(f"eps {recipe.eps:g} {recipe.adam_eps}")
    if recipe.optimizer == "rmsprop":
        parts.append(f"eps {recipe.eps:g} {recipe.rms_eps} the root"
                     + (", centered" if recipe.centered else ""))
    if recipe.momentum:
        parts.append(f"momentum {recipe.momentum:g}")
    if recipe.weight_decay:
        parts.append(f"weight decay {recipe.weight_decay:g}")
    if recipe.clip_norm:
        parts.append(f"clip norm {recipe.clip_norm:g}")
    return ", ".join(parts)


def worker(backend: str, spec: ModelSpec, recipe: Recipe, weights: dict[str, np.ndarray], x: np.ndarray,
           y: np.ndarray, steps: int, device: str = "cpu") -> dict[str, np.ndarray]:
    """What one backend computes from the shared weights and batch on ``device``, and what ran
    (``describe``, its ``describe()`` as JSON: the doctor checks the kernel path)."""
    adapter = backends.create(backends.get(backend), device=device)
    adapter.build(spec, recipe, seed=0)
    adapter.set_weights(weights)
    forward = adapter.predict(x)
    losses = adapter.losses([adapter.train_step(x, y) for _ in range(steps)])
    final = adapter.get_weights()
    return {"forward": forward, "losses": losses, **{f"w:{k}": v for k, v in final.items()},
            "describe": np.array(json.dumps(adapter.describe(), default=str))}


def run_worker(args: Any) -> int:
    """``parity-worker``: load the shared files, compute, save (runs in the backend's environment)."""
    spec, recipe = parity_spec(args.task, args.scale, args.cell, json.loads(args.optim))
    weights = canonical.load(args.weights)
    with np.load(args.batch) as b:
        x, y = b["x"], b["y"]
    np.savez(args.result, **worker(args.backend, spec, recipe, weights, x, y, args.steps,
                                   getattr(args, "device", "cpu")))
    return 0


def collect_here(backend: str, task: str, scale: str, cell: str, steps: int, folder: Path,
                 optim: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """A backend's results computed in this process (its framework must be importable here)."""
    spec, recipe = parity_spec(task, scale, cell, optim)
    with np.load(folder / "batch.npz") as b:
        x, y = b["x"], b["y"]
    return worker(backend, spec, recipe, canonical.load(str(folder / "weights.npz")), x, y, steps)


def collect_isolated(backend: str, task: str, scale: str, cell: str, steps: int, folder: Path,
                     optim: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """A backend's results from its own process (its tox environment when needed): frameworks, and Keras
    variants, never share a process."""
    info = backends.get(backend)
    result = folder / f"{backend}.npz"
    argv = launcher.parity_worker_argv(task, scale, cell, backend, steps, optim, folder, result)
    lacking = launcher.missing(info.requires)
    code = launcher.run_in_tox(info.tox_env, argv, lacking) if lacking else launcher.call_harness(argv)
    if code != 0 or not result.exists():
        raise UserError(f"parity worker for {backend} failed (exit {code}); run it alone: "
                        f"python -m harness {' '.join(argv)}")
    return _load(result)


def collect_with(python: str, backend: str, task: str, scale: str, cell: str, steps: int, folder: Path,
                 optim: dict[str, Any] | None, result: Path, log: Path, tree: str | None = None
                 ) -> dict[str, np.ndarray]:
    """A backend's results from a worker run by ``python`` (an A/B row's environment), with the harness
    of checkout ``tree`` where given (``bench --against``): the same worker as ``parity``'s, so an A/B
    bench's numerics check is the parity check between its rows."""
    argv = launcher.parity_worker_argv(task, scale, cell, backend, steps, optim, folder, result)
    code = launcher.run_logged_with(python, argv, log, tree)
    if code != 0 or not result.exists():
        raise UserError(f"parity worker for {backend} failed (exit {code}); its log: {log}")
    return _load(result)


def _load(result: Path) -> dict[str, np.ndarray]:
    with np.load(result) as r:
        return {k: r[k] for k in r.files}


def shared_inputs(spec: ModelSpec, recipe: Recipe, seed: int, folder: Path
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The canonical weights and the fixed batch every worker of a check loads, drawn once and written to
    ``folder`` (weights.npz, batch.npz)."""
    weights = canonical.init(spec, seed)
    x, y = fixed_batch(spec, min(recipe.batch_size, BATCH), seed)
    canonical.save(str(folder / "weights.npz"), weights)
    np.savez(folder / "batch.npz", x=x, y=y)
    return weights, x, y


@dataclass(frozen=True)
class Difference:
    """Two workers' results set side by side: per quantity (``outputs``: the forward pass before
    training; ``loss``: every step's loss) the largest absolute difference, which the tolerances judge,
    and the largest relative one (over the largest magnitude of ``b``'s), which a reader can weigh."""

    absolute: dict[str, float]
    relative: dict[str, float]

    @property
    def ok(self) -> bool:
        return all(self.absolute[q] <= tol for q, (_, tol) in QUANTITIES.items())

    @property
    def worst(self) -> str:
        """The quantity furthest past (or nearest to) its tolerance."""
        return max(QUANTITIES, key=lambda q: self.absolute[q] / QUANTITIES[q][1])


def difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> Difference:
    """How far ``a``'s outputs and losses are from ``b``'s (NaN anywhere: infinitely far)."""
    absolute, relative = {}, {}
    for name, (key, _) in QUANTITIES.items():
        x, y = np.asarray(a[key], dtype=np.float64), np.asarray(b[key], dtype=np.float64)
        if x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            absolute[name] = relative[name] = float("inf")
            continue
        diff = float(np.max(np.abs(x - y))) if x.size else 0.0
        scale = float(np.max(np.abs(y))) if y.size else 0.0
        absolute[name] = diff
        relative[name] = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
    return Difference(absolute, relative)


def compare(results: dict[str, dict[str, np.ndarray]], expected_forward: np.ndarray, expected_loss: float
            ) -> tuple[list[tuple], bool]:
    """Rows (a, b, forward max |diff|, loss max |diff|, ok) for every pair, and whether all pass. Against
    the NumPy reference the loss compared is the first one (before any update): it checks the loss."""
    rows, ok = [], True
    for name, r in results.items():
        diff = float(np.max(np.abs(r["forward"] - expected_forward)))
        loss = abs(float(r["losses"][0]) - expected_loss)
        good = diff <= FORWARD_TOL and loss <= FORWARD_TOL
        ok &= good
        rows.append(("numpy reference", name, diff, loss, "ok" if good else "FAIL"))
    for a, b in combinations(results, 2):
        found = difference(results[a], results[b])
        ok &= found.ok
        rows.append((a, b, found.absolute["outputs"], found.absolute["loss"], "ok" if found.ok else "FAIL"))
    return rows, ok


def run(task: str, backend_names: list[str], scale: str = "smoke", cells: list[str] | None = None,
        steps: int = STEPS, seed: int = 0, collect=collect_isolated, optim: dict[str, Any] | None = None
        ) -> tuple[str, bool]:
    """The parity table for every cell kind, and whether every comparison is within tolerance."""
    out, all_ok = [], True
    shown = "".join(f" {s}" for s in (optim or {}).get("settings", []))
    for cell in cells or [parity_spec(task, scale, None, optim)[0].cell]:
        spec, recipe = parity_spec(task, scale, cell, optim)
        with tempfile.TemporaryDirectory(prefix="rnnbench-parity-") as tmp:
            folder = Path(tmp)
            weights, x, y = shared_inputs(spec, recipe, seed, folder)
            results = {b: collect(b, task, scale, cell, steps, folder, optim) for b in backend_names}
        expected = reference.forward(spec, weights, x)
        rows, ok = compare(results, expected, metrics.LOSSES[spec.loss](expected, y))
        all_ok &= ok
        table = tabulate([(a, b, f"{f:.2e}", f"{loss:.2e}", s) for a, b, f, loss, s in rows],
                         headers=("", "vs", "forward max|diff|", "loss max|diff|", ""),
                         tablefmt="simple_outline")
        out.append(f"{task}/{scale}{shown} cell={cell}: {steps} steps of {describe_optim(recipe)}, "
                   f"batch {x.shape}, forward tol {FORWARD_TOL:g}, loss tol {TRAIN_TOL:g}\n{table}")
    return "\n\n".join(out), all_ok
