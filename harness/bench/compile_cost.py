"""Compile cost: the first training step of each backend and mode (compilation and warm-up), against the
sequence length, per cell (#41).

A bench times a point's first step apart from the steady state (``first_step_s``): for an XLA or
``torch.compile`` mode it holds the compilation, for an eager mode the first call's allocations. A step
loop unrolled into the graph (a scan cell's ``sequential`` form under ``torch.compile``, mxnet's unrolled
graphs) compiles in time growing with the length; a ``lax.scan`` or a fused kernel compiles once. The
fitted ``k`` of first step ~ T^k says which. The points come from benches with a set or swept
``shape.seq_len`` (``experiments/compile-bench.sh``); a mode stopped by the bench's ``--step-budget`` is
shown as over budget. Steady-state throughput excludes this figure; time to target includes it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backends.base import MODE_SEP

OVER = "over budget"


def _label(r: dict[str, Any]) -> tuple[str, str]:
    """(cell with its scan form, backend row) of a record."""
    point = r["point"]
    scan = (point.get("overrides") or {}).get("model.scan")
    return (f"{point.get('cell')}{f' {scan}' if scan else ''}", r["backend"])


def records(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of compile-cost benches: a set or swept length, and a mode row among the bench's
    rows (a bench of default modes alone is a length bench, ``harness.bench.lengths``)."""
    with_modes = {r["bench_id"] for r in recs if MODE_SEP in r.get("backend", "")}
    return [r for r in recs if r["bench_id"] in with_modes
            and "shape.seq_len" in ((r.get("point") or {}).get("overrides") or {})
            and (r.get("status") == "ok" and r.get("first_step_s")
                 or "step budget" in (r.get("error") or ""))]


def series(recs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[int, float | None]]:
    """(cell, backend row) -> {seq_len: first step seconds, None where over budget}, the newest of each."""
    found: dict[tuple[str, str], dict[int, float | None]] = {}
    for r in records(recs):
        seconds = r.get("first_step_s") if r.get("status") == "ok" else None
        found.setdefault(_label(r), {})[int(r["point"]["seq_len"])] = seconds
    return dict(sorted(found.items()))


def exponent(points: dict[int, float | None]) -> float | None:
    """k of first step ~ T^k over the measured lengths (least squares on the logs)."""
    xs = [n for n, s in points.items() if s]
    if len(xs) < 2:
        return None
    return float(np.polyfit(np.log(xs), np.log([points[n] for n in xs]), 1)[0])


def table(recs: list[dict[str, Any]]) -> pd.DataFrame | None:
    """A row per cell and backend row: first-step seconds at each length and the fitted exponent."""
    lines = series(recs)
    if not lines:
        return None
    lengths = sorted({n for pts in lines.values() for n in pts})
    rows = []
    for (cell, backend), pts in lines.items():
        k = exponent(pts)
        rows.append({"cell": cell, "backend": backend,
                     **{f"T={n}": ("" if n not in pts else OVER if pts[n] is None else f"{pts[n]:.3g}")
                        for n in lengths},
                     "k": "" if k is None else f"{k:.2f}"})
    return pd.DataFrame(rows)


def plot(recs: list[dict[str, Any]], out: Path, title: str) -> Path | None:
    """A log-log panel per cell: first-step seconds against length, a line per backend row."""
    lines = series(recs)
    if not lines:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = list(dict.fromkeys(cell for cell, _ in lines))
    fig, axes = plt.subplots(1, len(cells), figsize=(5 * len(cells), 4), squeeze=False)
    for ax, cell in zip(axes[0], cells, strict=True):
        for (c, backend), pts in lines.items():
            if c != cell:
                continue
            xs = [n for n, s in sorted(pts.items()) if s]
            if xs:
                k = exponent(pts)
                ax.plot(xs, [pts[n] for n in xs], marker="o",
                        label=f"{backend}" + (f" (k={k:.2f})" if k is not None else ""))
            over = [n for n, s in pts.items() if s is None]
            if over:
                ax.scatter(over, [max(s for s in pts.values() if s) if xs else 1.0] * len(over), marker="x",
                           color="red", label=f"{backend}: {OVER}")
        ax.set(xscale="log", yscale="log", xlabel="sequence length", ylabel="first step, s", title=cell)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Compile cost (first training step) against length, {title}", fontsize=10)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", f"compile-cost-{title}")[:120] + ".png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
