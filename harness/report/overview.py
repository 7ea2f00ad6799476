"""The overview a reader sees first: a row per task configuration, a column per backend.

Each cell is the test metric of that configuration on that backend, the median over seeds with its
min-max spread (the latest record of each seed; failed or diverged runs are named), and the training
speed relative to the fastest backend, taken from the bench (never from the training runs, whose timings
share the machine with whatever else ran): each backend at its fastest execution mode in that bench,
named when it is not the default (``1.21x [1.15-1.27] compile``). Beside them: the target and the seed
document's own figure.

Only runs of a task's own scales count (no ``--set`` overrides, no ``--epochs``), at fp32; smoke scales
are left out unless asked for, since their figures say nothing about a framework. Accuracy does not
depend on the machine, so seeds run on different machines share a cell; speed ratios come from one
bench, on one machine, and the table says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from backends.base import MODE_SEP
from harness import statistics
from harness.bench import reference as bench_reference
from harness.bench import verdicts
from harness.bench.report import BUSY, compares, groups, headline_group
from harness.report.comparisons import NA, dig, fmt, fmt_spread, scale_label
from tasks.base import Scale, Target

MISSES = "†"  # marks a median that misses the target
ORDER = ("torch", "keras", "keras-jax", "keras-torch", "jax", "mxnet")  # the columns, then any others


def _scale(task: str, scale: str) -> Scale | None:
    """The task's own scale of that name, if the task and scale still exist."""
    import tasks

    try:
        return tasks.get(task).scales.get(scale)
    except KeyError:
        return None


def _plain(r: dict[str, Any], include_smoke: bool) -> bool:
    """A run of a task's own scale: no overrides, the scale's own number of epochs, fp32."""
    precision = dig(r, "environment", "backend", "precision",
                    default=dig(r, "config", "options", "precision"))
    epochs = dig(r, "config", "options", "epochs")
    own = _scale(r["task"], r["scale"])
    own_epochs = epochs is None or (own is not None and epochs == own.recipe.epochs)
    return (scale_label(r) == r["scale"] and own_epochs
            and precision in (None, "fp32") and (include_smoke or r["scale"] != "smoke"))


@dataclass
class Cell:
    """One backend's runs of one configuration: the latest record of each seed."""

    runs: dict[int, dict[str, Any]] = field(default_factory=dict)

    def values(self, key: str) -> list[float]:
        return [v for r in self.runs.values() if r["status"] == "ok"
                and isinstance(v := dig(r, "metrics", key), (int, float))]


@dataclass
class Config:
    """A task configuration (task and scale) and its cells per backend."""

    task: str
    scale: str
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def sample(self) -> dict[str, Any]:
        return next(r for c in self.cells.values() for r in c.runs.values())

    @property
    def target(self) -> dict[str, Any]:
        return dig(self.sample, "config", "target", default={}) or {}


def configs(recs: list[dict[str, Any]], include_smoke: bool = False) -> list[Config]:
    """Configurations of the records (oldest first), in task then scale order."""
    found: dict[tuple[str, str], Config] = {}
    for r in recs:
        if not _plain(r, include_smoke):
            continue
        conf = found.setdefault((r["task"], r["scale"]), Config(r["task"], r["scale"]))
        conf.cells.setdefault(r["backend"], Cell()).runs[r["seed"]] = r
    return [found[k] for k in sorted(found)]


def _adapter_figure(r: dict[str, Any]) -> bool:
    """A finished bench record of an adapter (not a reference loop) on the task's own model."""
    return (r.get("status") == "ok" and not (r.get("point") or {}).get("overrides")
            and bool(dig(r, "train", "samples_per_s", "median"))
            and not bench_reference.is_reference(r["backend"]) and not r.get("ab"))



def speeds(bench_recs: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[dict[str, float], str, set[str]]]:
    """Per (task, scale): training samples/s (median) per backend from the latest bench that measured
    at least two adapters of it without overrides, that bench's id, and the backends whose figures were
    taken while other processes used the machine (``busy``); ``records`` gives the records themselves,
    for the paired intervals (``_ratio_text``). Reference rows are left out. Only the
    machine (and device, precision, threads) of the CPU benches that compare the most task shapes
    counts (``headline_group``; the newest among equals), the device the overview's
    runs trained on, so ratios from different machines never share the table (GPU figures have tables
    of their own)."""
    usable = [r for r in bench_recs if _adapter_figure(r)]
    if not usable:
        return {}
    found = groups(usable)
    by_bench: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    busy: set[tuple[str, str]] = set()  # (bench id, backend)
    comparing = [g for g in found if compares(g)] or found
    # oldest first: a later bench replaces an earlier one
    for r in headline_group([g for g in comparing if g.device == "cpu"] or comparing).records:
        rate = dig(r, "train", "samples_per_s", "median")
        by_bench.setdefault((r["task"], r["scale"]), {}).setdefault(r["bench_id"], {})[r["backend"]] = rate
        if r.get("busy"):
            busy.add((r["bench_id"], r["backend"]))
    out = {}
    for key, benches in by_bench.items():
        full = [b for b in sorted(benches) if len(benches[b]) >= 2]
        if full:
            out[key] = (benches[full[-1]], full[-1], {name for bid, name in busy if bid == full[-1]})
    return out


def records_of(bench_recs: list[dict[str, Any]], bench_id: str | None, task: str, scale: str
               ) -> dict[str, dict[str, Any]]:
    """The adapters' records of (task, scale) in bench ``bench_id``, by backend."""
    return {r["backend"]: r for r in bench_recs if r.get("bench_id") == bench_id and r["task"] == task
            and r["scale"] == scale and _adapter_figure(r)}


def _ratio_text(backend: str, fastest: str, rates: dict[str, float],
                recs: dict[str, dict[str, Any]]) -> str:
    """`` · 0.61x [0.58-0.64]``: the backend's training speed over the fastest's, with the 95% interval
    of the paired per-round ratios when both rows come from one interleaved bench (``harness.bench.
    verdicts``); the bare ratio of the medians otherwise (too few rounds)."""
    if backend == fastest:
        return " · 1.00x"
    found = verdicts.paired(recs[backend], recs[fastest], "train") if backend in recs and fastest in recs \
        else None
    if found is None:
        return f" · {rates[backend] / rates[fastest]:.2f}x"
    return f" · {found.interval()}"


def best_mode(backend: str, rates: dict[str, float]) -> str | None:
    """The fastest of ``backend``'s rows in one bench, its default mode (the plain name) and its other
    modes (``torch+compile``): a framework is ranked at its best (None: not benched)."""
    mine = [n for n in rates if n.split(MODE_SEP, 1)[0] == backend]
    return max(mine, key=lambda n: rates[n]) if mine else None


def _mode_text(row: str) -> str:
    """`` compile``: the mode a ratio was measured in, when not the default."""
    return f" {row.split(MODE_SEP, 1)[1]}" if MODE_SEP in row else ""


def _source(bench_recs: list[dict[str, Any]], used: set[str]) -> str | None:
    """Where the speed ratios come from: the machine, threads and ids of the benches used."""
    if not used:
        return None
    title = groups([r for r in bench_recs if r.get("bench_id") in used])[0].title
    return f"{title}, bench {', '.join(sorted(used))}"


def _digits(median: float, target: float | None, digits: int = 3) -> int:
    """Enough significant digits that a median beside its target reads on the right side of it (0.8399,
    not 0.84, for a miss of 0.84)."""
    while (target is not None and median != target and digits < 6
           and fmt(median, digits) == fmt(target, digits)):
        digits += 1
    return digits


def _metric_text(conf: Config, cell: Cell) -> str:
    target = conf.target
    vals = cell.values(f"test_{target.get('metric')}")
    bad = sorted({r["status"] for r in cell.runs.values() if r["status"] != "ok"})
    if not vals:
        return ", ".join(bad) or NA
    figures = statistics.spread(vals)
    text = fmt_spread(figures, _digits(figures["median"], target.get("value")))
    if target.get("value") is not None:
        rule = Target(target.get("metric", ""), target["value"], target.get("mode", "max"))
        text += "" if rule.reached(figures["median"]) else MISSES
    if len(vals) > 1:
        text += f" n={len(vals)}"
    if bad:
        text += f" (+{', '.join(bad)})"
    return text


def _columns(confs: list[Config], backends: list[str]) -> list[str]:
    present = {b for c in confs for b in c.cells}
    known = [b for b in ORDER if b in backends] + [b for b in backends if b not in ORDER]
    return known + sorted(present - set(known))


def _target_text(target: dict[str, Any]) -> str:
    if target.get("value") is None:
        return NA
    sign = "≥" if target.get("mode", "max") == "max" else "≤"
    return f"{target.get('metric', NA)} {sign} {fmt(target['value'])}"


def table(recs: list[dict[str, Any]], bench_recs: list[dict[str, Any]], backends: list[str],
          include_smoke: bool = False) -> tuple[pd.DataFrame | None, str | None]:
    """The overview frame (None without any configuration) and where its speeds come from (the bench
    machine, threads and bench ids; None without a benched configuration)."""
    confs = configs(recs, include_smoke)
    if not confs:
        return None, None
    speed = speeds(bench_recs)
    rows, used = [], set()
    for conf in confs:
        rates, bench_id, busy = speed.get((conf.task, conf.scale), ({}, None, set()))
        best = max(rates.values(), default=None)
        fastest = max(rates, key=rates.get) if rates else None
        recs_here = records_of(bench_recs, bench_id, conf.task, conf.scale) if rates else {}
        row = {"task": f"{conf.task} / {conf.scale}", "target (test)": _target_text(conf.target),
               "seed document": _reported(conf.task, conf.scale)}
        for b in _columns(confs, backends):
            text = _metric_text(conf, conf.cells.get(b)) if b in conf.cells else "not run"
            shown = best_mode(b, rates)
            if shown is not None and best:
                text += _ratio_text(shown, fastest, rates, recs_here) + _mode_text(shown) + \
                    (BUSY if shown in busy else "")
                used.add(bench_id)
            row[b] = text
        rows.append(row)
    return pd.DataFrame(rows), _source(bench_recs, used)


def wall_times(recs: list[dict[str, Any]], backends: list[str], include_smoke: bool = False,
               timing: str = "wall_s") -> pd.DataFrame | None:
    """A run timing (``timings.<timing>``) of each configuration per backend, minutes: median [min-max]
    over seeds, with the machine's load at the start (these runs may share the machine; their speed is
    the bench's). ``wall_s``: the whole run; ``time_to_target_s``: until the validation metric first
    reached the task's target, ``not reached`` (k of n) where a seed never did."""
    confs = configs(recs, include_smoke)
    if not confs:
        return None
    rows = []
    for conf in confs:
        row = {"task": f"{conf.task} / {conf.scale}"}
        for b in _columns(confs, backends):
            ok = [r for r in conf.cells[b].runs.values() if r["status"] == "ok"] if b in conf.cells else []
            times = [w / 60 for r in ok if isinstance(w := dig(r, "timings", timing), (int, float))]
            loads = [r["environment"]["load_average"][0] for r in ok if dig(r, "environment", "load_average")]
            missed = len(ok) - len(times)
            if not times:
                row[b] = f"not reached (n={len(ok)})" if ok and timing != "wall_s" else NA
                continue
            row[b] = (fmt_spread(statistics.spread(times), 2)
                      + (f", not reached in {missed} of {len(ok)}" if missed else "")
                      + (f" (load {max(loads):.1f})" if loads else ""))
        rows.append(row)
    return pd.DataFrame(rows)


def _reported(task: str, scale: str) -> str:
    """The seed document's own figure for the configuration (``Scale.reported``), if the task says."""
    found = _scale(task, scale)
    return (found.reported or NA) if found else NA


NOTE = (
    "Each cell: the test metric, median [min-max] over seeds (n = seeds; the latest record of each), "
    f"{MISSES} where the median misses the target; then `· 0.60x [0.50-0.72]`, the training speed relative "
    "to the fastest backend of that configuration in the bench (`python -m harness bench`, on one idle "
    "machine): the geometric mean of the per-round ratios of one interleaved bench and its 95% interval "
    "(an interval that holds 1 is no win; few rounds give wide ones); each backend in its fastest execution "
    "mode of that bench, named after the ratio where it is not the default (`0.95x [0.92-0.98] compile`: "
    "`torch+compile`; `python -m harness list` lists the modes); no figure where the configuration has "
    "not been benched; `(busy)` where other processes used the machine while it was measured. Smoke scales "
    "and runs with `--set` overrides are "
    "left out. "
    "The seed document column is the figure the task's source program or paper states."
)


def _where(source: str | None) -> str:
    return f" Speed ratios from the bench on {source}." if source else ""


def misses(recs: list[dict[str, Any]], include_smoke: bool = False) -> list[str]:
    """One line per configuration where some backend's median misses the target: the task's reason
    (``Scale.misses``) and the validation and test medians over every backend's runs, so the reason can
    be checked against the figures."""
    notes = []
    for conf in configs(recs, include_smoke):
        metric, value = conf.target.get("metric"), conf.target.get("value")
        if value is None:
            continue
        rule = Target(metric or "", value, conf.target.get("mode", "max"))
        tests = {b: cell.values(f"test_{metric}") for b, cell in conf.cells.items()}
        if all(not v or rule.reached(statistics.spread(v)["median"]) for v in tests.values()):
            continue
        found = _scale(conf.task, conf.scale)
        why = (found.misses if found else "") or "no reason recorded for this configuration"
        test = [x for v in tests.values() for x in v]
        val = [x for cell in conf.cells.values() for x in cell.values(f"val_{metric}_best")]
        figures = "; ".join(f"{name} {fmt(statistics.spread(xs)['median'])}"
                            for name, xs in (("validation (best epoch)", val), ("test", test)) if xs)
        notes.append(f"{MISSES} {conf.task} / {conf.scale}: {why} ({figures}: medians over every "
                     "backend's runs).")
    return notes


def markdown(frame: pd.DataFrame | None, source: str | None, notes: list[str] | None = None) -> str:
    if frame is None:
        return ("_No full-scale result records yet: run `experiments/full-scale.sh` "
                "(or `python -m harness matrix`)._")
    lines = "".join(f"\n- {note}" for note in notes or [])
    return f"{frame.to_markdown(index=False)}\n\n{NOTE}{_where(source)}" + (f"\n{lines}" if lines else "")


TARGET_NOTE = (
    "MLPerf's time to train: median [min-max] over seeds of the wall time from the run's start until its "
    "validation metric (from the training split) first reached the task's target, with the highest "
    "1-minute load average at the runs' start; `not reached` where no epoch reached it (the test metric "
    "in the overview can still miss or meet it). The runs may share the machine: a guide to what reaching "
    "the target costs, not a speed figure.")
WALL_NOTE = (
    "Median [min-max] over seeds of each run's wall time (data, build, training, evaluation), with the "
    "highest 1-minute load average at the runs' start: these long runs may share the machine, so their "
    "times are a guide to what a run costs, not a speed figure.")


def _prose(text: str) -> str:
    """A note as HTML: escaped, with Markdown's `code` spans as <code>."""
    import html as html_lib
    import re

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html_lib.escape(text))


def html(frame: pd.DataFrame | None, source: str | None, walls: pd.DataFrame | None = None,
         targets: pd.DataFrame | None = None, notes: list[str] | None = None) -> str:
    if frame is None:
        return "<p>No full-scale result records yet.</p>"
    out = (frame.to_html(index=False, escape=True, border=0, classes="runs overview", table_id="overview")
           + f"\n<p>{_prose(NOTE + _where(source))}</p>")
    if notes:
        out += "\n<ul>" + "".join(f"<li>{_prose(n)}</li>" for n in notes) + "</ul>"
    if targets is not None:
        out += ("\n<h3>Time to target, minutes</h3>\n"
                + targets.to_html(index=False, escape=True, border=0, classes="runs",
                                  table_id="time-to-target")
                + f"\n<p>{_prose(TARGET_NOTE)}</p>")
    if walls is not None:
        out += ("\n<h3>Training wall time, minutes</h3>\n"
                + walls.to_html(index=False, escape=True, border=0, classes="runs", table_id="wall-times")
                + f"\n<p>{_prose(WALL_NOTE)}</p>")
    return out
