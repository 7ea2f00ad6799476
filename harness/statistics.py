"""The statistics of repeated measurements, in one place: the spread of repeats (median, min, max, n),
its relative width, and ratios between figures. Every table, record and warning computes them here, so
a figure reads the same wherever it is shown; confidence intervals of paired comparisons belong here too.

NumPy-free (the standard library's ``statistics``), so the report, the bench driver and the training loop
can all use it.
"""

from __future__ import annotations

import statistics as _stats
from collections.abc import Sequence
from typing import Any

Spread = dict[str, Any]  # {"median", "min", "max", "n"}: floats (None when there are no values) and a count


def spread(values: Sequence[float]) -> Spread:
    """Median, min, max and count of repeated measurements (None figures when there are none)."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    vals = [float(v) for v in values]
    return {"median": float(_stats.median(vals)), "min": min(vals), "max": max(vals), "n": len(vals)}


def relative_spread(s: Spread) -> float | None:
    """``(max - min) / median`` of a spread: the noise of the repeats as a fraction (None when unknown)."""
    if not s.get("n") or not s.get("median"):
        return None
    return (s["max"] - s["min"]) / s["median"]


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero (a figure relative to another)."""
    if a is None or not b:
        return None
    return a / b
