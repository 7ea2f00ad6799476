"""PNG plots of one comparison (matplotlib, Agg backend: no display needed).

``throughput-<comparison>.png`` (comparisons of two rows or more): training and inference throughput per
backend, bars at the median across repeats with min-max error bars. ``curves-<comparison>.png``: the
validation metric per backend over epochs and over wall time: the median across seeds with a min-max band,
one colour per backend, runs started under load dashed and apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

if TYPE_CHECKING:
    from harness.report.comparisons import Comparison, Row

DPI = 100


def _bars(ax, rows: list[Row], key: str, title: str, unit: str) -> None:
    labels, medians, low, high = [], [], [], []
    for row in rows:
        s = row.spread("throughput", key)
        labels.append(row.label)
        medians.append(s["median"] if s else 0.0)
        low.append(s["median"] - s["min"] if s else 0.0)
        high.append(s["max"] - s["median"] if s else 0.0)
    x = range(len(rows))
    colors = [f"C{i}" for i in x]
    ax.bar(x, medians, yerr=[low, high], capsize=6, color=colors)
    for i, row in enumerate(rows):
        if not row.spread("throughput", key):
            ax.text(i, 0, "n/a", ha="center", va="bottom")
    ax.set_xticks(list(x), labels, rotation=20 if len(rows) > 4 else 0)
    ax.set_title(title)
    ax.set_ylabel(f"{unit}/s (median, min-max)")
    ax.grid(axis="y", alpha=0.3)


def throughput(comp: Comparison, path: Path) -> Path:
    from harness.report.comparisons import unit

    rows, u = comp.sorted_rows(), unit(comp.metric)
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(rows) + 4), 4))
    _bars(axes[0], rows, f"train_{u}_per_s", "training (steady state)", u)
    _bars(axes[1], rows, f"eval_{u}_per_s", "inference", u)
    fig.suptitle(comp.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


LOADED = 1.0  # a run started with more runnable processes than cores per core: its wall times wait


def loaded(record: dict[str, Any]) -> bool:
    """Whether a run started on a machine with more runnable processes than cores (1-minute load over
    core count at least ``LOADED``): its wall times include waiting, so its curve is drawn apart."""
    env = record.get("environment") or {}
    load, cores = (env.get("load_average") or [0.0])[0], env.get("cpu_count") or 1
    return load / cores >= LOADED


def _by_epoch(runs: list[dict[str, Any]], key: str) -> tuple[list[int], np.ndarray]:
    """Epochs every one of ``runs`` reached, and ``key`` at each: (runs, epochs), NaN where a run lacks it."""
    tables = [{c.get("epoch"): c.get(key) for c in r.get("curves") or []} for r in runs]
    epochs = sorted(set.intersection(*(set(t) for t in tables))) if tables else []
    return epochs, np.array([[t[e] if t[e] is not None else np.nan for e in epochs] for t in tables], float)


def curves(comp: Comparison, path: Path) -> Path:
    """Validation metric over epochs and over wall time, per backend: the median across seeds with a
    min-max band; runs started under load (``loaded``) as a dashed line of their own, since their wall
    times include waiting."""
    metric = comp.metric or "metric"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, row in enumerate(comp.sorted_rows()):
        runs = [r for r in row.runs if any(c.get(f"val_{metric}") is not None for c in r.get("curves") or [])]
        for busy in (False, True):
            group = [r for r in runs if loaded(r) == busy]
            if not group:
                continue
            epochs, values = _by_epoch(group, f"val_{metric}")
            _, walls = _by_epoch(group, "wall_s")
            if not epochs:
                continue
            mid, low, high = (np.nanmedian(values, 0), np.nanmin(values, 0), np.nanmax(values, 0))
            failed = [r["status"] for r in group if r["status"] != "ok"]
            label = (f"{row.label}{' (loaded)' if busy else ''}"
                     + (f" n={len(group)}" if len(group) > 1 else "")
                     + (f" ({', '.join(sorted(set(failed)))})" if failed else ""))
            style = "--" if busy else "-"
            for ax, x in ((axes[0], np.array(epochs, float)), (axes[1], np.nanmedian(walls, 0))):
                ax.plot(x, mid, style, marker="o", ms=3, color=f"C{i}",
                        label=label if ax is axes[0] else None)
                if len(group) > 1:
                    ax.fill_between(x, low, high, color=f"C{i}", alpha=0.15, lw=0)
    target = (comp.sample.get("config") or {}).get("target") or {}
    for ax, xlabel in zip(axes, ("epoch", "training wall time, s"), strict=True):
        if target.get("value") is not None:
            ax.axhline(target["value"], color="grey", ls="--", lw=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"validation {metric}")
        ax.grid(alpha=0.3)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_title("median over seeds, band min-max (grey dashed: target)")
    axes[1].set_title("over training wall time (median of the seeds' times)")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle(comp.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def draw(comp: Comparison, out: Path) -> list[Path]:
    """The plots of ``comp`` in ``out``; their paths. A comparison of one row gets its curves only: a bar
    chart of a single bar compares nothing."""
    bars = [throughput(comp, out / f"throughput-{comp.slug}.png")] if len(comp.rows) > 1 else []
    return [*bars, curves(comp, out / f"curves-{comp.slug}.png")]


def confusion(record: dict, path: Path) -> Path:
    """The run's test confusion matrix, rows normalised (true class -> share of predictions), with
    each class's accuracy in its row label."""
    analysis = record["analysis"]
    classes, counts = analysis["classes"], np.asarray(analysis["confusion"], dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(classes), 0.8 + 0.4 * len(classes)), dpi=DPI)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    labels = [f"{c} ({analysis['per_class_accuracy'][c]:.2f})" for c in classes]
    ax.set_xticks(range(len(classes)), classes, rotation=90)
    ax.set_yticks(range(len(classes)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (accuracy)")
    metric = record["config"]["target"]["metric"]
    ax.set_title(f"{record['task']} / {record['scale']} on {record['backend']}: test {metric} "
                 f"{record['metrics'].get(f'test_{metric}', float('nan')):.3f}")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
