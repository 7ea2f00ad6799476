"""How records are grouped and their figures formatted: the comparisons (task, scale, epochs, machine,
device kind) and their rows (backend, precision), shared by the run tables, the plots and the overview.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from harness import statistics

NA = "n/a"


def dig(obj: Any, *keys: str, default: Any = None) -> Any:
    """``obj[k1][k2]...``, or ``default`` where any level is missing."""
    for key in keys:
        if not isinstance(obj, dict) or obj.get(key) is None:
            return default
        obj = obj[key]
    return obj


def device_kind(record: dict[str, Any]) -> str:
    device = dig(record, "environment", "backend", "device")
    if device is None:
        return NA
    return "cpu" if device == "cpu" else "gpu"


def unit(metric: str | None) -> str:
    """Throughput unit of a task: tokens/s for language models (perplexity), else samples/s."""
    return "tokens" if metric == "perplexity" else "samples"


@dataclass
class Row:
    """One backend (and precision) of a comparison: the latest record of each seed."""

    backend: str
    precision: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["status"] == "ok"]

    @property
    def label(self) -> str:
        return self.backend if self.precision in ("fp32", NA) else f"{self.backend} {self.precision}"

    def values(self, *keys: str) -> list[float]:
        found = (dig(r, *keys) for r in self.ok)
        return [v for v in found if isinstance(v, (int, float)) and not isinstance(v, bool)]

    def spread(self, *keys: str) -> dict[str, float] | None:
        vals = self.values(*keys)
        return statistics.spread(vals) if vals else None


@dataclass
class Comparison:
    """Records measured alike: same task, scale, epochs, machine and device kind."""

    task: str
    scale: str
    epochs: Any
    machine: str
    device: str
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        raw = f"{self.task}-{self.scale}-e{self.epochs}-{self.device}-{self.machine}"
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", raw)

    @property
    def sample(self) -> dict[str, Any]:
        return next(r for row in self.rows.values() for r in row.runs)

    @property
    def metric(self) -> str | None:
        return dig(self.sample, "config", "target", "metric")

    @property
    def title(self) -> str:
        env = self.sample.get("environment") or {}
        if self.device == "gpu":
            where = dig(env, "backend", "device_name", default="GPU")
        else:
            where = f"{env.get('cpu', 'unknown CPU')} ({env.get('cpu_count', '?')} cores)"
        epochs = f", {self.epochs} epoch{'s' if self.epochs != 1 else ''}" if self.epochs != NA else ""
        return f"{self.task} / {self.scale}{epochs} on {where}, {self.device} (machine {self.machine})"

    def sorted_rows(self) -> list[Row]:
        return sorted(self.rows.values(), key=lambda r: (r.backend, r.precision))


def scale_label(r: dict[str, Any]) -> str:
    """The scale, with what a run overrode (``names / full cell=lstm``, ``imdb / full hidden_size=64
    maxlen=120``): such runs train another model, or on other data, and are compared apart. The number
    of epochs is not named here: it is a column of the comparison's key."""
    changed = dig(r, "config", "overrides", default=None)
    if changed is None:  # records from before overrides: the cell kind and sampling options
        options = dig(r, "config", "options", default={}) or {}
        return r["scale"] + "".join(f" {k}={options[k]}" for k in ("cell", "sampling") if options.get(k))
    return r["scale"] + "".join(f" {k.split('.', 1)[1]}={v}" for k, v in sorted(changed.items())
                                if k != "recipe.epochs")


def group(recs: list[dict[str, Any]]) -> list[Comparison]:
    """Comparisons from records (oldest first): the latest record of each (row, seed) is kept."""
    latest: dict[tuple, dict[str, Any]] = {}
    for r in recs:
        key = (r["task"], scale_label(r), dig(r, "config", "options", "epochs", default=NA),
               dig(r, "environment", "machine", default="unknown"), device_kind(r),
               r["backend"], dig(r, "environment", "backend", "precision",
                                 default=dig(r, "config", "options", "precision", default=NA)), r["seed"])
        latest[key] = r
    comparisons: dict[tuple, Comparison] = {}
    for key, r in latest.items():
        comp = comparisons.setdefault(key[:5], Comparison(*key[:5]))
        comp.rows.setdefault(key[5:7], Row(*key[5:7])).runs.append(r)
    for comp in comparisons.values():
        for row in comp.rows.values():
            row.runs.sort(key=lambda r: r["seed"])
    return [comparisons[k] for k in sorted(comparisons, key=lambda k: tuple(map(str, k)))]


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return NA
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_spread(s: dict[str, float] | None, digits: int = 3) -> str:
    """``median [min-max]`` across repeats, or the single value."""
    if s is None:
        return NA
    if s["n"] < 2 or fmt(s["min"], digits) == fmt(s["max"], digits):
        return fmt(s["median"], digits)
    return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)}-{fmt(s['max'], digits)}]"
