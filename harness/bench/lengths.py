"""Time per token against sequence length, per recurrent cell, scan mode and backend (#32).

A step loop costs the same per token at every length (time per token ~ T^0); a parallel scan does
O(T log T) work in O(log T) depth, so on a CPU, with no parallel width to spare, its time per token
grows slowly with T (Hillis-Steele: ~log T), while a work-efficient (Blelloch) scan or the log-space
cumsum form stays flat. The fitted exponent ``k`` of time per token ~ T^k says which regime a backend is in.
The points may come from several benches of one machine (the scan cells' parallel, sequential and long
benches: ``experiments/scan-bench.sh``); only figures within one bench are paired, so this plot and table
show medians and min-max, and claim no ratio.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# the cells whose length scaling is compared, in panel order (lstm: the fused kernel, the yardstick)
CELLS = ("mingru", "minlstm", "rglru", "lstm")
PARTS = (("train", "training"), ("inference", "inference"))


def _mode(r: dict[str, Any]) -> str:
    """``parallel`` or ``sequential`` for a scan cell; the kernel path (fused, loop...) for the others."""
    point = r["point"]
    if point.get("cell") in CELLS[:3]:
        return str((point.get("model") or {}).get("scan", "parallel"))
    return str(((r.get("environment") or {}).get("backend") or {}).get("kernel_path", "step loop"))


def records(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finished records of length benches: a set or swept ``shape.seq_len`` and a model with
    ``model.scan`` set, the cells of :data:`CELLS`; and the LSTM rows of those benches (since the bench
    stopped recording a ``model.scan`` the LSTM does not read, their point ids name none)."""
    timed = [r for r in recs if r.get("status") == "ok" and r["point"].get("cell") in CELLS
             and "shape.seq_len" in (r["point"].get("overrides") or {})]
    benches = {r["bench_id"] for r in timed if "model.scan" in r["point"]["overrides"]}
    return [r for r in timed if "model.scan" in r["point"]["overrides"]
            or (r["point"]["cell"] == "lstm" and r["bench_id"] in benches)]


def us_per_token(r: dict[str, Any], part: str) -> tuple[float, float, float] | None:
    """Microseconds per token: median, and the fastest and slowest repeat."""
    s = ((r.get(part) or {}).get("tokens_per_s") or {})
    if not s.get("median"):
        return None
    return 1e6 / s["median"], 1e6 / s.get("max", s["median"]), 1e6 / s.get("min", s["median"])


def exponent(lengths: list[int], times: list[float]) -> float | None:
    """k of time per token ~ T^k (least squares on the logs); None with fewer than two lengths."""
    if len(set(lengths)) < 2:
        return None
    return float(np.polyfit(np.log(lengths), np.log(times), 1)[0])


def series(recs: list[dict[str, Any]], part: str) -> dict[tuple[str, str, str], list[tuple[int, tuple]]]:
    """(cell, mode, backend) -> [(seq_len, (median, low, high) us/token)], the newest record of each
    length (records are read oldest first), sorted by length."""
    found: dict[tuple[str, str, str], dict[int, tuple]] = {}
    for r in records(recs):
        t = us_per_token(r, part)
        if t is not None:
            key = (r["point"]["cell"], _mode(r), r["backend"])
            found.setdefault(key, {})[int(r["point"]["seq_len"])] = t
    return {k: sorted(v.items()) for k, v in sorted(found.items(), key=lambda kv: (CELLS.index(kv[0][0]),
                                                                                   kv[0][1], kv[0][2]))}


def table(recs: list[dict[str, Any]], part: str = "train") -> pd.DataFrame | None:
    """A row per cell, mode and backend: us per token at each length and the fitted exponent."""
    lines = series(recs, part)
    if not lines:
        return None
    lengths = sorted({n for pts in lines.values() for n, _ in pts})
    rows = []
    for (cell, mode, backend), pts in lines.items():
        at = dict(pts)
        k = exponent([n for n, _ in pts], [t[0] for _, t in pts])
        rows.append({"cell": cell, "mode": mode, "backend": backend,
                     **{f"T={n}": (f"{at[n][0]:,.1f}" if n in at else "") for n in lengths},
                     "k": f"{k:+.2f}" if k is not None else ""})
    return pd.DataFrame(rows)


def plot(recs: list[dict[str, Any]], out: Path, title: str) -> Path | None:
    """A log-log figure: a panel per cell (training above, inference below), time per token against
    sequence length, a colour per backend, solid for parallel and dashed for sequential (dotted: lstm)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_part = {part: series(recs, part) for part, _ in PARTS}
    cells = [c for c in CELLS if any(k[0] == c for k in per_part["train"])]
    if not cells:
        return None
    backends = sorted({k[2] for k in per_part["train"]})
    colours = {b: f"C{i}" for i, b in enumerate(backends)}
    styles = {"parallel": "-", "sequential": "--"}
    fig, grid = plt.subplots(2, len(cells), figsize=(4.6 * len(cells), 8.0), squeeze=False)
    for row, (part, label) in enumerate(PARTS):
        for col, cell in enumerate(cells):
            ax = grid[row][col]
            for (c, mode, backend), pts in per_part[part].items():
                if c != cell:
                    continue
                ns = [n for n, _ in pts]
                med = [t[0] for _, t in pts]
                k = exponent(ns, med)
                name = f"{backend} {mode}" + (f" k={k:+.2f}" if k is not None else "")
                ax.errorbar(ns, med, yerr=[[m - t[1] for m, (_, t) in zip(med, pts, strict=True)],
                                           [t[2] - m for m, (_, t) in zip(med, pts, strict=True)]],
                            color=colours[backend], linestyle=styles.get(mode, ":"), marker="o",
                            capsize=2, markersize=3, label=name)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{cell}: {label}", fontsize=10)
            ax.set_xlabel("sequence length T")
            ax.set_ylabel("µs per token")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6)
    fig.suptitle(f"Time per token against sequence length (median, bars: min-max of the repeats; "
                 f"k: time per token ~ T^k)\n{title}", fontsize=10)
    fig.tight_layout()
    path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", f"lengths-{title}")[:120] + ".png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
