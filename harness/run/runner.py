"""One run: load a task's data, build a backend's model from canonical weights, train, evaluate, record.

The loop is written once here, so every backend sees the same batches in the same order, the same
learning-rate schedule and the same evaluation; adapters only execute steps.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import backends
import tasks
from backends import canonical
from backends.base import Adapter, BackendError
from harness import records
from harness.common import environment, ftz, metrics, overrides, threads
from harness.common.timing import Stopwatch
from harness.errors import Diverged, UserError
from harness.statistics import spread
from tasks.base import Scale, Split, Task
from tasks.data import DataError
from tasks.spec import SAMPLING


@dataclass
class RunOptions:
    task: str
    backend: str
    scale: str | None = None
    seed: int = 0
    epochs: int | None = None
    device: str = "auto"
    precision: str = "fp32"
    data_dir: str | None = None
    cache_dir: str | None = None
    out: str = "results/runs"
    flush_to_zero: bool = True
    init: str = "canonical"
    progress: bool = True
    sampling: str | None = None
    cell: str | None = None
    threads: int | None = None  # None: the cores this process may use (harness.common.threads)
    settings: list[str] = field(default_factory=list)  # ``KEY=VALUE`` overrides (``--set``, ``--config``)
    extra: dict[str, Any] = field(default_factory=dict)


def _pad_rows(xb: np.ndarray, size: int) -> np.ndarray:
    """``xb`` with its last row repeated up to ``size`` rows: one input shape for compiled backends."""
    return xb if len(xb) >= size else np.concatenate([xb, np.repeat(xb[-1:], size - len(xb), axis=0)])


def pad_batch(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A partial batch as ``fixed_shapes`` adapters train on it: rows padded to ``size``, and a weight per
    row, 0 for the padding, so that the loss and update are the partial batch's own."""
    weight = np.concatenate([np.ones(len(x), np.float32), np.zeros(size - len(x), np.float32)])
    return _pad_rows(x, size), _pad_rows(y, size), weight


Batch = tuple[np.ndarray, int | None]  # row indices, and the length rows are cut to (None: whole rows)


def batches(split: Split, size: int, rng: np.random.Generator | None = None, drop_last: bool = False
            ) -> list[Batch]:
    """Row batches of a split: shuffled by ``rng`` or in order (consecutive sampling, evaluation).

    Rows with ``lengths`` are bucketed: every batch holds rows of one length, cut to that length, so
    the models see no padding; bucket remainders are kept as smaller batches.
    """
    if split.lengths is None:
        order = rng.permutation(len(split)) if rng is not None else np.arange(len(split))
        stop = len(order) - len(order) % size if drop_last else len(order)
        return [(order[i : i + size], None) for i in range(0, stop, size)]
    out: list[Batch] = []
    for length in np.unique(split.lengths):
        rows = np.flatnonzero(split.lengths == length)
        if rng is not None:
            rows = rng.permutation(rows)
        out += [(rows[i : i + size], int(length)) for i in range(0, len(rows), size)]
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


def take(split: Split, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    rows, length = batch
    x, y = split.x[rows], split.y[rows]
    if length is not None:
        x = x[:, -length:]
        if y.ndim == 2 and y.shape[1] == split.x.shape[1]:
            y = y[:, -length:]
    return x, y


class Trainer:
    """The training loop for one (task, scale, backend) with timings, curves and checkpoints."""

    def __init__(self, task: Task, scale: Scale, adapter: Adapter, seed: int, progress: bool) -> None:
        self.task, self.scale, self.adapter, self.seed, self.progress = task, scale, adapter, seed, progress
        self.spec, self.recipe = scale.model, scale.recipe
        self.curves: list[dict[str, Any]] = []
        self.first_step_s: float | None = None
        self.epoch_throughput: list[float] = []
        self.eval_throughput: list[float] = []
        self.step_latencies: list[float] = []
        self.steady_seconds = 0.0
        self.steady_samples = 0
        self.steady_tokens = 0
        self.time_to_target: float | None = None
        self.best: tuple[float, int, dict[str, np.ndarray]] | None = None
        self.padded_steps = 0  # partial batches padded to the batch size (adapters with fixed shapes)
        self.compile_s: float | None = None  # ahead-of-time compilation of every shape (``_prepare``)

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best[0] if self.task.target.mode == "max" else value < self.best[0]

    def evaluate(self, split: Split) -> tuple[dict[str, float], metrics.Accumulator]:
        """Metrics of ``split`` in inference mode, batch by batch (logits are not kept)."""
        adapter, stateful = self.adapter, self.recipe.stateful
        size = (split.stream_batch or self.recipe.batch_size) if stateful else self.recipe.eval_batch_size
        acc = metrics.Accumulator(self.spec.loss)
        if stateful:
            adapter.reset_state()
        seconds, rows = 0.0, 0
        for batch in batches(split, size):
            x, y = take(split, batch)
            n = len(x)
            start = time.perf_counter()  # predict returns NumPy: the work has finished when it returns
            logits = adapter.predict(x if stateful else _pad_rows(x, size))[:n]
            seconds += time.perf_counter() - start
            rows += n
            acc.add(logits, y, batch[0] if split.lengths is not None else None)
        if stateful:
            adapter.reset_state()
        self.eval_throughput.append(rows / seconds if seconds else 0.0)
        return acc.result(self.task.metric), acc

    def _check_finite(self, values: np.ndarray, epoch: int, what: str) -> None:
        if not np.all(np.isfinite(values)):
            raise Diverged(
                f"{what} became {values[~np.isfinite(values)][0]} in epoch {epoch + 1}: the run diverged; "
                f"try a lower learning rate (--set recipe.lr={self.recipe.lr / 10:g}) or gradient clipping "
                f"(--set recipe.clip_norm=1.0), or fp32 precision"
            )

    def train(self, train: Split, val: Split) -> None:
        recipe, adapter = self.recipe, self.adapter
        if len(batches(train, recipe.batch_size, drop_last=train.lengths is None)) == 0:
            raise UserError(f"{len(train)} training examples are fewer than one batch of {recipe.batch_size}")
        rng = np.random.default_rng(self.seed)
        started = time.perf_counter()
        self._prepare(train)
        for epoch in range(recipe.epochs):
            adapter.set_lr(recipe.lr_at(epoch))
            # the partial batch is dropped (one shape for compilers) unless rows are bucketed by length
            plan = batches(train, recipe.batch_size, None if recipe.stateful else rng,
                           drop_last=train.lengths is None)
            bar = tqdm(total=len(plan), desc=f"epoch {epoch + 1}/{recipe.epochs}", unit="step",
                       disable=not self.progress, dynamic_ncols=True, mininterval=1.0)
            if recipe.stateful:
                adapter.reset_state()
            losses = self._epoch(epoch, train, plan, bar)
            val_metrics, _ = self.evaluate(val)
            self._check_finite(np.array([val_metrics["loss"]]), epoch, "the validation loss")
            wall = time.perf_counter() - started
            value = val_metrics[self.task.metric]
            if self.time_to_target is None and self.task.target.reached(value):
                self.time_to_target = wall
            if self._better(value):
                self.best = (value, epoch, adapter.get_weights())
            self.curves.append({
                "epoch": epoch + 1, "lr": recipe.lr_at(epoch), "train_loss": float(np.mean(losses)),
                "val_loss": val_metrics["loss"], f"val_{self.task.metric}": value, "wall_s": wall,
                "train_samples_per_s": self.epoch_throughput[-1] if self.epoch_throughput else None,
            })
            bar.set_postfix(loss=f"{np.mean(losses):.4f}", **{f"val_{self.task.metric}": f"{value:.4f}"})
            bar.close()
            if not self.progress:  # no bar (a matrix' run, a log file): one line an epoch instead
                rate = self.curves[-1]["train_samples_per_s"]
                print(f"epoch {epoch + 1}/{recipe.epochs}: train loss {np.mean(losses):.4f}, validation "
                      f"{self.task.metric} {value:.4f}" + (f", {rate:,.0f} samples/s" if rate else "")
                      + f", {wall / 60:.1f} min", file=sys.stderr, flush=True)
        self.wall_s = time.perf_counter() - started
        self.final_weights = adapter.get_weights()  # before testing may load the best checkpoint

    def _prepare(self, train: Split) -> None:
        """Compilers with one program per shape (``fixed_shapes``) compile every length bucket's step
        before the first epoch, timed apart (``compile_s``), so the first epoch runs at the speed of the
        others; the shapes are one batch per distinct length, padded to the batch size."""
        if not self.adapter.fixed_shapes or train.lengths is None:
            return
        size = self.recipe.batch_size
        examples = []
        for length in np.unique(train.lengths):
            x, y = take(train, (np.flatnonzero(train.lengths == length)[:size], int(length)))
            examples.append((_pad_rows(x, size), _pad_rows(y, size)))
        with Stopwatch(self.adapter) as sw:
            self.adapter.prepare(examples)
        self.compile_s = sw.seconds

    def _epoch(self, epoch: int, train: Split, plan: list[Batch], bar: tqdm) -> list[float]:
        """One pass over ``plan``; the very first step of a run is timed on its own. Latency tasks time
        every step alone (synchronised), with the loss read outside the timed span."""
        adapter, steps, latency = self.adapter, len(plan), self.task.latency
        log_every = 1 if latency else max(1, min(50, steps // 10))
        losses: list[float] = []
        pending: list[Any] = []
        samples = tokens = 0

        def launch(i: int) -> None:
            nonlocal samples, tokens
            x, y = take(train, plan[i])
            n, size = len(x), self.recipe.batch_size
            samples, tokens = samples + n, tokens + x.size
            if adapter.fixed_shapes and n < size:  # a bucket's remainder: padded, its padding weighted 0
                self.padded_steps += 1
                pending.append(adapter.train_step(*pad_batch(x, y, size)))
            else:
                pending.append(adapter.train_step(x, y))

        def fetch(i: int) -> None:
            if len(pending) >= log_every or i == steps - 1:
                values = adapter.losses(pending)
                pending.clear()
                self._check_finite(values, epoch, "the training loss")
                losses.extend(values.tolist())
                bar.set_postfix(loss=f"{np.mean(losses[-max(log_every, 20):]):.4f}", refresh=False)
            bar.update(1)

        first = 0
        if self.first_step_s is None:  # compile / warm-up, reported apart from steady state
            with Stopwatch(adapter) as warmup:
                launch(0)
                fetch(0)
            self.first_step_s, first = warmup.seconds, 1
        samples = tokens = 0
        if latency:
            seconds = 0.0
            for i in range(first, steps):
                with Stopwatch(adapter) as sw:
                    launch(i)
                seconds += sw.seconds
                self.step_latencies.append(sw.seconds)
                fetch(i)
        else:
            with Stopwatch(adapter) as sw:
                for i in range(first, steps):
                    launch(i)
                    fetch(i)
            seconds = sw.seconds
        if steps > first:
            self.epoch_throughput.append(samples / seconds)
            self.steady_seconds += seconds
            self.steady_samples += samples
            self.steady_tokens += tokens
        return losses


def checkpoint_path(record_path: Path, suffix: str = "") -> Path:
    """Where a run's weights are kept: ``checkpoints/<run_id>.npz`` (best validation) and
    ``<run_id>-final.npz`` (last epoch) beside the record."""
    return record_path.parent / "checkpoints" / f"{record_path.stem}{suffix}.npz"


def save_checkpoint(record_path: Path, weights: dict[str, np.ndarray], suffix: str = "") -> str:
    """Save canonical weights atomically (any backend can load them); returns the path relative to the
    record's folder, so records and checkpoints can move together."""
    from tasks.data import save_arrays

    path = checkpoint_path(record_path, suffix)
    save_arrays(path, weights)
    return str(path.relative_to(record_path.parent))


def _peak_host_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run(opts: RunOptions) -> tuple[dict[str, Any], Path]:
    """Train and evaluate one configuration; the record is written even when the run fails."""
    try:
        task = tasks.get(opts.task)
        info = backends.get(opts.backend)
        scale = task.scale(opts.scale or task.default_scale)
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    if opts.epochs is not None and opts.epochs < 1:
        raise UserError(f"--epochs {opts.epochs}: give a positive number of epochs")
    if opts.sampling is not None and opts.sampling not in SAMPLING:
        raise UserError(f"--sampling {opts.sampling!r}: choose one of {', '.join(SAMPLING)}")
    # the shorthands first, so that an explicit --set of the same key wins
    settings = overrides.shorthands(opts.epochs, opts.cell, opts.sampling) + list(opts.settings)
    changed = overrides.parse_settings(settings, task)
    scale = overrides.apply(scale, changed, task)
    if opts.init != "canonical":
        raise UserError(f"--init {opts.init!r}: only 'canonical' (weights drawn once in NumPy) is supported")

    n_threads = threads.apply(opts.threads)  # before any framework import: OpenMP reads it once
    ftz.set_flush_to_zero(opts.flush_to_zero)  # before any framework import, so its threads inherit it
    try:  # the device first: a missing GPU is an error before the data is read
        adapter = backends.create(info, opts.device, opts.precision)
        adapter.set_threads(n_threads)
    except BackendError as exc:
        raise UserError(str(exc)) from None
    t = time.perf_counter()
    try:
        dataset = task.load(scale, opts.data_dir, opts.cache_dir)
    except DataError as exc:
        raise UserError(str(exc)) from None
    data_s = time.perf_counter() - t
    sampling = changed.get("recipe.sampling")
    if sampling is not None and dataset.info.get("sampling") != sampling:
        raise UserError(f"--sampling (recipe.sampling) applies to language-model tasks (such as lyrics or "
                        f"ptb), whose data is laid out for it; {task.name} has independent examples: drop "
                        "the option")
    try:
        t = time.perf_counter()
        adapter.build(scale.model, scale.recipe, opts.seed)
        adapter.set_weights(canonical.init(scale.model, opts.seed))
        build_s = time.perf_counter() - t
    except BackendError as exc:
        raise UserError(str(exc)) from None

    described = adapter.describe()
    device = "cpu" if described.get("device", "cpu") == "cpu" else "gpu"
    started = datetime.now(timezone.utc)
    run_id, path = records.claim(Path(opts.out), f"{task.name}-{scale.name}{_variant(changed)}-{info.name}-"
                                 f"{device}-s{opts.seed}-{started:%Y%m%dT%H%M%S}")
    record: dict[str, Any] = {
        "schema": records.RUN, "run_id": run_id, "task": task.name, "backend": info.name,
        "scale": scale.name, "seed": opts.seed, "status": "failed", "error": None,
        "started": started.isoformat(timespec="seconds"),
        "config": {
            "model": scale.model.to_dict(), "recipe": scale.recipe.to_dict(), "data": dataset.info,
            "options": {"device": opts.device, "precision": opts.precision, "init": opts.init,
                        "epochs": scale.recipe.epochs, "flush_to_zero": opts.flush_to_zero,
                        "cell": changed.get("model.cell"), "sampling": sampling, "threads": n_threads},
            "overrides": changed,
            "splits": {"train": len(dataset.train), "val": len(dataset.val), "test": len(dataset.test),
                       "held_out": task.held_out},
            "param_count": canonical.param_count(scale.model),
            "target": {"metric": task.target.metric, "value": task.target.value, "mode": task.target.mode},
        },
        "metrics": {}, "throughput": {}, "timings": {"data_s": data_s, "build_s": build_s}, "curves": [],
        "memory": {},
        "environment": {**environment.collect(described, ftz.enabled()), "threads": threads.describe()},
    }
    trainer = Trainer(task, scale, adapter, opts.seed, opts.progress)
    try:
        trainer.train(dataset.train, dataset.val)
        _finish(record, trainer, dataset, task, scale)
        record["checkpoint"] = save_checkpoint(path, trainer.best[2])  # type: ignore[index]
        record["checkpoint_final"] = save_checkpoint(path, trainer.final_weights, "-final")
        if "confusion" in record["analysis"]:
            from harness.report import plots

            png = path.parent / "plots" / f"{path.stem}-confusion.png"
            plots.confusion(record, png)
            record["analysis"]["confusion_png"] = str(png.relative_to(path.parent))
        record["status"] = "ok"
    except Diverged as exc:
        record["status"], record["error"] = "diverged", str(exc)
        raise
    except KeyboardInterrupt:
        record["error"] = "interrupted"
        raise
    except UserError as exc:
        record["error"] = str(exc)
        raise
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        if os.environ.get("RNNBENCH_DEBUG"):
            traceback.print_exc()
        raise UserError(f"the {info.name} backend failed: {record['error']} "
                        "(set RNNBENCH_DEBUG=1 for the traceback)") from None
    finally:
        record["curves"] = trainer.curves
        record["environment"]["load_average_end"] = os.getloadavg()
        record["memory"] = {"peak_host_bytes": _peak_host_bytes(),
                            "peak_device_bytes": adapter.peak_device_memory()}
        records.write_atomic(path, record)
        records.release(path)
    return record, path


def _variant(changed: dict[str, Any]) -> str:
    """The part of a run id that keeps overridden runs apart: ``-lstm`` for a cell kind alone, else the
    settings (``-hidden_size=64+maxlen=120``), or a hash of them when that is too long for a file name."""
    shown = {k: v for k, v in changed.items() if k != "recipe.epochs"}  # the record's options say it
    if not shown:
        return ""
    if list(shown) == ["model.cell"]:
        return f"-{shown['model.cell']}"
    text = re.sub(r"[^A-Za-z0-9_.=+-]", "_", overrides.label(shown, "+"))  # a head's ":" and "," too
    if len(text) > 60:
        import hashlib

        text = "o" + hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"-{text}"


def _finish(record: dict[str, Any], trainer: Trainer, dataset: Any, task: Task, scale: Scale) -> None:
    """Test once with the final model and once with the best-validation checkpoint."""
    metric = task.metric
    final, final_acc = trainer.evaluate(dataset.test)
    best_value, best_epoch, best_weights = trainer.best  # type: ignore[misc]
    if best_epoch == len(trainer.curves) - 1:
        best, acc = final, final_acc
    else:
        trainer.adapter.set_weights(best_weights)
        best, acc = trainer.evaluate(dataset.test)
    train_rate = trainer.steady_samples / trainer.steady_seconds if trainer.steady_seconds else None
    token_rate = trainer.steady_tokens / trainer.steady_seconds if trainer.steady_seconds else None
    eval_rates = trainer.eval_throughput[1:] or trainer.eval_throughput  # the first may include compiling
    eval_rate = spread(eval_rates)["median"]
    seq_len = trainer.steady_tokens / trainer.steady_samples if trainer.steady_samples else None
    record["metrics"] = {
        f"test_{metric}": best[metric], "test_loss": best["loss"],
        f"test_{metric}_final": final[metric], "test_loss_final": final["loss"],
        f"val_{metric}_best": best_value, "best_epoch": best_epoch + 1,
        "target_reached": task.target.reached(best[metric]),
    }
    record["analysis"] = analysis(task, dataset, acc)
    record["metrics"].update(record["analysis"].pop("metrics"))
    record["throughput"] = {
        "train_samples_per_s": train_rate,
        "train_tokens_per_s": token_rate,
        "train_samples_per_s_epochs": spread(trainer.epoch_throughput),
        "eval_samples_per_s": eval_rate,
        "eval_tokens_per_s": eval_rate * seq_len if eval_rate and seq_len else None,
        "eval_samples_per_s_runs": spread(eval_rates),
        "seq_len": seq_len,
    }
    if task.latency:
        lat = np.asarray(trainer.step_latencies) * 1e3
        record["throughput"]["step_latency_ms"] = {
            "median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)),
            "min": float(lat.min()), "n": int(lat.size)} if lat.size else None
    record["timings"].update({
        "first_step_s": trainer.first_step_s, "steady_train_s": trainer.steady_seconds,
        "compiled_train_shapes": trainer.adapter.compiled_shapes(), "padded_steps": trainer.padded_steps,
        "compile_s": trainer.compile_s,
        "wall_s": trainer.wall_s, "time_to_target_s": trainer.time_to_target,
    })


def analysis(task: Task, dataset: Any, acc: metrics.Accumulator) -> dict[str, Any]:
    """Task-specific test figures from the predicted classes: extra metrics, per-class accuracy and the
    confusion matrix where the dataset names its classes, and a few rendered examples."""
    pred, y = acc.predictions()
    out: dict[str, Any] = {"metrics": {f"test_{name}": metrics.EXTRA[name](pred, y)
                                       for name in task.extra_metrics}}
    classes = dataset.info.get("classes")
    if classes and pred.ndim == 1:
        per_class = metrics.per_class_accuracy(pred, y, len(classes))
        out["classes"] = list(classes)
        out["per_class_accuracy"] = {c: float(a) for c, a in zip(classes, per_class, strict=True)}
        out["confusion"] = metrics.confusion(pred, y, len(classes)).tolist()
    vocab_in, vocab_out = dataset.info.get("input_vocab"), dataset.info.get("output_vocab")
    if vocab_in and vocab_out and pred.ndim == 2:
        out["examples"] = [
            {"input": "".join(vocab_in[i] for i in dataset.test.x[r]),
             "predicted": "".join(vocab_out[i] for i in pred[r]),
             "actual": "".join(vocab_out[i] for i in y[r])}
            for r in range(min(10, len(y)))
        ]
    return out
