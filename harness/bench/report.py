"""The report's Speed section, from bench records alone: a headline table and one plot per sweep.

Headline: one table per machine fingerprint, device kind, precision and thread count (figures from
different machines never share a table or a ratio); a row per task shape (points without overrides),
a column per backend, each cell the training (or inference) samples/s as median [min-max] over the
interleaved repeats and the ratio to the row's fastest backend. The latest bench of each (point,
backend) is used. Figures measured while other processes used the machine are marked ``busy``.

Sweeps: for each bench with swept fields, per swept axis a log-log plot of training and inference
throughput against the axis value, one line per backend (one panel per value of the other axes), each
point's min-max over the repeats as its error bar, and in the legend the fitted scaling exponent (the
slope of log throughput on log size) and, at the largest size, the paired ratio to the panel's fastest
backend with its 95% interval (the rows of one sweep are of one bench: the same interleaved rounds).

Reference rows (``<backend>-reference``, ``harness.bench.reference``): the headline shows them as columns,
and a table per group gives adapter / reference for training and inference, per point and backend, from
records of the same bench only (so the same machine and the same interleaving).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backends.base import MODE_SEP
from harness.bench import compile_cost, lengths, peak, verdicts
from harness.bench import driver as bench
from harness.bench import numerics as bench_numerics
from harness.bench import reference as bench_reference

NA = "n/a"
BUSY = " (busy)"


def measured_alike(r: dict[str, Any]) -> tuple[str, str, str, int]:
    """The key of bench records whose figures may share a table: machine, device kind, precision, threads."""
    env = r.get("environment") or {}
    be = env.get("backend") or {}
    device = "cpu" if be.get("device", "cpu") == "cpu" else "gpu"
    return (env.get("machine", NA), device, be.get("precision", NA), (r.get("protocol") or {}).get("threads"))


def _median(r: dict[str, Any], part: str, unit: str = "samples_per_s") -> float | None:
    return ((r.get(part) or {}).get(unit) or {}).get("median")


@dataclass
class Group:
    """Bench records measured alike: same machine, device kind, precision and thread count."""

    machine: str
    device: str
    precision: str
    threads: int | None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        env = self.records[-1].get("environment") or {}
        where = (env.get("backend") or {}).get("device_name") if self.device == "gpu" else \
            f"{env.get('cpu', 'unknown CPU')} ({env.get('cpu_count', '?')} cores)"
        return f"{where}, {self.device}, {self.precision}, {self.threads} threads (machine {self.machine})"

    @property
    def bench_ids(self) -> list[str]:
        return sorted({r["bench_id"] for r in self.records})


def _started(group: Group) -> str:
    """When the group's most recent bench started."""
    return max(r.get("started") or "" for r in group.records)


def newest(found: list[Group]) -> Group:
    """The group of the most recently started bench."""
    return max(found, key=_started)


def compared_shapes(group: Group) -> int:
    """How many task shapes one bench of ``group`` measured on two backends or more."""
    seen: dict[tuple[str, str], set[str]] = {}
    for r in plain(group.records):
        seen.setdefault((r["bench_id"], r["point"]["id"]), set()).add(bench_reference.base(r["backend"]))
    return len({pid for (_, pid), names in seen.items() if len(names) >= 2})


def headline_group(found: list[Group]) -> Group:
    """The group whose benches compare backends on the most task shapes, the newest among equals: a few
    points benched on another machine (a mode check, a length bench) do not replace the machine with the
    whole comparison; a full headline bench there does."""
    return max(found, key=lambda g: (compared_shapes(g), _started(g)))


def compares(group: Group) -> bool:
    """Whether one bench of ``group`` measured two backends or more of one configuration (adapters and
    references, A/B rows left out): a bench of one backend (a thread-count check, an A/B of versions)
    compares no frameworks and must not take the place of the group that does."""
    return compared_shapes(group) > 0


def shown_in_readme(found: list[Group]) -> list[Group]:
    """The README's groups: per device kind (CPU, then GPU), the fp32 group that compares backends on the
    most task shapes (``headline_group``), so a GPU bench never replaces the CPU table nor shares one with
    it, nor a bench of one backend the table of six, nor a few points on another machine the whole
    comparison; other precisions, thread counts and machines are in the full report."""
    shown = []
    comparing = [g for g in found if compares(g)] or found
    for device in ("cpu", "gpu"):
        candidates = [g for g in comparing if g.device == device and g.precision == "fp32"]
        if candidates:
            shown.append(headline_group(candidates))
    return shown or [newest(found)]


def groups(recs: list[dict[str, Any]]) -> list[Group]:
    found: dict[tuple, Group] = {}
    # a row that failed before it could describe its machine (a mode that cannot compile) belongs with
    # the rest of its bench
    of_bench = {r["bench_id"]: measured_alike(r) for r in recs if (r.get("environment") or {}).get("machine")}
    for r in recs:
        if r.get("status") == "partial" and not r.get("repeats"):
            continue
        key = measured_alike(r) if (r.get("environment") or {}).get("machine") else \
            of_bench.get(r["bench_id"], measured_alike(r))
        found.setdefault(key, Group(*key)).records.append(r)
    return list(found.values())


def _shape(r: dict[str, Any]) -> str:
    p = r["point"]
    infer = f" (inference {p.get('infer_batch')})" if p.get("infer_batch") != p.get("train_batch") else ""
    return (f"{r['task']}/{r['scale']}: batch {p.get('train_batch')}{infer} x {p.get('seq_len')}, "
            f"{p.get('num_layers', 1)}x{p.get('cell')} {p.get('hidden_size')}, {p.get('optimizer')}")


def _cell(r: dict[str, Any] | None, part: str, best: float | None,
          fastest: dict[str, Any] | None = None) -> str:
    """samples/s median [min-max], the ratio to the row's fastest and, when both were measured in one
    interleaved bench, the ratio's paired 95% interval and verdict (harness.bench.verdicts)."""
    if r is None:
        return NA
    if r.get("status") == "failed":
        return f"failed: {(r.get('error') or '')[:60]}"
    s = (r.get(part) or {}).get("samples_per_s") or {}
    if not s.get("median"):
        return NA
    ratio = f" {s['median'] / best:.2f}x" if best else ""
    if best and fastest is not None and fastest is not r and fastest.get("bench_id") == r.get("bench_id"):
        found = verdicts.paired(r, fastest, part)
        if found is not None:
            ratio = f" {found.interval()} {found.verdict}"
    return (f"{s['median']:,.0f} [{s['min']:,.0f}-{s['max']:,.0f}]{ratio}"
            f"{BUSY if r.get('busy') else ''}")


def plain(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the headline tables: a task's own shapes (no sweep overrides) from benches that
    compare backends, not the rows of an A/B bench (``--variant``, ``--against``, ``--calibrate``), whose
    extra rows would otherwise take a backend's column and split it from the bench the others come from;
    those have their own table (``ab_verdicts``)."""
    return [r for r in recs if not r["point"].get("overrides") and not r.get("ab")]


def latest(recs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each point's records from one bench, by (point, backend): the newest bench that measured two
    backends or more of the point (the newest that measured it at all where none did), so that a row's
    ratios and intervals never mix benches (a newer bench of the adapters alone does not sit beside an
    older one's reference rows). Records are sorted oldest first."""
    benches: dict[str, dict[str, dict[str, set[str]]]] = {}
    for r in recs:
        benches.setdefault(r["point"]["id"], {}).setdefault(r["bench_id"], {}).setdefault(
            bench_reference.base(r["backend"]), set()).add(r["backend"])
    chosen: dict[str, str] = {}
    for pid, found in benches.items():
        comparing = [b for b, names in found.items() if len(names) >= 2]
        chosen[pid] = max(comparing or found)  # bench ids sort by their start time
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in recs:
        if r["bench_id"] == chosen[r["point"]["id"]]:
            out[(r["point"]["id"], r["backend"])] = r
    return out


def columns(recs: list[dict[str, Any]], chosen: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The backends of ``chosen``, in the benches' interleaving order: one column order for every table."""
    order = [b for r in recs for b in (r.get("protocol") or {}).get("interleaved", [])]
    present = {b for _, b in chosen}
    return [b for b in dict.fromkeys([*order, *(b for _, b in chosen)]) if b in present]


def headline(group: Group, part: str = "train") -> pd.DataFrame | None:
    """Task-shape rows, backend columns (``part``: ``train`` or ``inference``)."""
    rows_of = plain(group.records)
    if not rows_of:
        return None
    chosen = latest(rows_of)
    points = list(dict.fromkeys(pid for pid, _ in chosen))
    names = columns(rows_of, chosen)
    rows = []
    for pid in points:
        cells = {b: chosen.get((pid, b)) for b in names}
        rates = {b: m for b, r in cells.items() if r and r.get("status") == "ok" and (m := _median(r, part))}
        best = max(rates.values()) if rates else None
        top = cells[max(rates, key=lambda b: rates[b])] if rates else None
        sample = next(r for r in cells.values() if r)
        rows.append({"task shape": _shape(sample), **{b: _cell(cells[b], part, best, top) for b in names}})
    return pd.DataFrame(rows)


def sources(group: Group) -> str | None:
    """Which bench each headline row comes from (``latest`` picks one per point), one line: a reader can
    tell a row of a bench of six from one of an older bench."""
    rows_of = plain(group.records)
    if not rows_of:
        return None
    by_bench: dict[str, list[str]] = {}
    for r in latest(rows_of).values():
        label = f"{r['task']}/{r['scale']}"
        if label not in by_bench.setdefault(r["bench_id"], []):
            by_bench[r["bench_id"]].append(label)
    return "Rows from: " + "; ".join(f"{b} ({', '.join(labels)})" for b, labels in sorted(by_bench.items()))


def fractions(group: Group, peak_records: list[dict[str, Any]]) -> tuple[pd.DataFrame | None, str | None]:
    """Achieved training TFLOP/s and its fraction of the device's measured GEMM peak, task-shape rows and
    backend columns as the headline (``harness.bench.peak``); and the peak's description. (None, None)
    where no peak was measured for this device and precision."""
    ok = [r for r in plain(group.records) if r.get("status") == "ok"]
    if not ok:
        return None, None
    found = peak.peak_for(peak_records, peak.device_key(ok[-1]), group.precision)
    if found is None:
        return None, None
    rate, how = found
    chosen = latest(ok)
    names = columns(ok, chosen)
    rows = []
    for pid in dict.fromkeys(pid for pid, _ in chosen):
        sample = next(r for (p, _), r in chosen.items() if p == pid)
        flops = peak.train_flops(sample["point"])
        row = {"task shape": _shape(sample), "GFLOP a sample": f"{flops / 1e9:,.3g}" if flops else NA}
        for b in names:
            got = peak.achieved(chosen[(pid, b)]) if (pid, b) in chosen else None
            row[b] = f"{flop_rate(got)}, {percent(got / rate)}" if got else NA
        rows.append(row)
    return pd.DataFrame(rows), f"{flop_rate(rate)} ({how}, {group.precision})"


def flop_rate(tflops: float) -> str:
    """A FLOP rate in the unit that keeps it readable: GFLOP/s below one TFLOP/s (a CPU), else TFLOP/s."""
    return f"{tflops * 1e3:,.3g} GFLOP/s" if tflops < 1 else f"{tflops:,.3g} TFLOP/s"


def percent(fraction: float) -> str:
    """12%, 0.25%, 110%: two significant figures below 10%, whole per cents above."""
    value = 100 * fraction
    return f"{value:.2g}%" if value < 10 else f"{value:.0f}%"


def gemm_rates(group: Group, peak_records: list[dict[str, Any]]) -> pd.DataFrame | None:
    """Each framework's own matrix-multiply rate on this device (``harness.bench.gemm``, measured by the
    benches): the square product and the points' own shapes, a row each, GFLOP/s per library and the
    fraction of the square product's best; each library's newest figures. None where no bench measured
    them."""
    ok = [r for r in plain(group.records) if r.get("status") == "ok"]
    if not ok:
        return None
    key = peak.device_key(ok[-1])
    newest_of: dict[str, dict[str, Any]] = {}
    for found in peak_records:  # oldest first
        if found.get("key") == key and found.get("shapes") and \
                all(s.get("precision") == group.precision for s in found["shapes"]):
            newest_of[next(iter(found["by"]))] = found
    if not newest_of:
        return None
    best = max(s["tflops"] for f in newest_of.values() for s in f["shapes"] if s["what"] == "square")
    rows: dict[tuple[str, int, int, int], dict[str, str]] = {}
    for lib, found in sorted(newest_of.items()):
        for s in found["shapes"]:
            row = rows.setdefault((s["what"], s["m"], s["k"], s["n"]), {})
            row[f"{lib} {found['by'][lib]}"] = f"{s['tflops'] * 1e3:,.1f} ({percent(s['tflops'] / best)})"
    return pd.DataFrame([{"product": what, "m x k x n": f"{m} x {k} x {n}", **cells}
                         for (what, m, k, n), cells in rows.items()]).fillna(NA)


def _ratio(adapter: dict[str, Any], ref: dict[str, Any], part: str) -> str:
    """adapter / reference: the paired ratio with its 95% interval and verdict (both rows are of one
    bench), or the ratio of medians where the records have no per-round figures."""
    a, r = _median(adapter, part), _median(ref, part)
    if not a or not r:
        return NA
    found = verdicts.paired(adapter, ref, part)
    shown = f"{found.interval()} {found.verdict}" if found else f"{a / r:.2f}x"
    return f"{shown}{BUSY if adapter.get('busy') or ref.get('busy') else ''}"


def ratios(group: Group) -> pd.DataFrame | None:
    """Adapter / reference samples/s (medians) per point and backend: both records of one bench, the
    latest bench that has both finished; None without reference rows."""
    ok = {(r["bench_id"], r["point"]["id"], r["backend"]): r
          for r in plain(group.records) if r.get("status") == "ok"}
    pairs: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
    for (bench_id, pid, name), ref in ok.items():  # oldest first: a later bench replaces an earlier one
        adapter = ok.get((bench_id, pid, bench_reference.base(name)))
        if bench_reference.is_reference(name) and adapter is not None:
            pairs[(pid, adapter["backend"])] = (adapter, ref)
    if not pairs:
        return None
    return pd.DataFrame([{"point": pid, "backend": b, "train adapter/reference": _ratio(a, r, "train"),
                          "inference adapter/reference": _ratio(a, r, "inference"), "bench": a["bench_id"]}
                         for (pid, b), (a, r) in pairs.items()])


def _first_step(r: dict[str, Any]) -> str:
    return f"{r['first_step_s']:.3g} s" if r.get("first_step_s") else NA


def mode_ratios(group: Group) -> pd.DataFrame | None:
    """Each execution mode against its backend's default mode (``torch+compile`` / ``torch``), per point,
    both rows of one bench (the latest that has both): paired training and inference ratios with their
    verdicts, each row's first step (its compilation) and, for a mode that failed or ran over the step
    budget, why. None without mode rows."""
    recs = [r for r in group.records if not r.get("ab")]
    by_key = {(r["bench_id"], r["point"]["id"], r["backend"]): r for r in recs}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for (bench_id, pid, name), r in by_key.items():  # oldest first: a later bench replaces an earlier one
        if MODE_SEP not in name:
            continue
        default = by_key.get((bench_id, pid, name.split(MODE_SEP, 1)[0]))
        if default is None:
            continue
        label = f"{r['task']}/{r['scale']}" + "".join(f" {k.split('.', 1)[1]}={v}" for k, v in
                                                    (r["point"].get("overrides") or {}).items())
        failed = r.get("status") != "ok"
        rows[(pid, name)] = {
            "point": label, "mode": name,
            "train mode/default": (f"failed: {(r.get('error') or '')[:80]}" if failed
                                   else _ratio(r, default, "train")),
            "inference mode/default": "" if failed else _ratio(r, default, "inference"),
            "first step, default -> mode": f"{_first_step(default)} -> {_first_step(r)}",
            "bench": bench_id}
    return pd.DataFrame(list(rows.values())) if rows else None


def _ab_kind(a: dict[str, Any], b: dict[str, Any] | None) -> str:
    """What an A/B comparison set against what: the requirements of two variants, two commits, or
    calibration."""
    ab, other = a.get("ab") or {}, (b or {}).get("ab") or {}
    if ab.get("calibration"):
        return "calibration (A/A and a known slowdown)"
    if "variant" in ab:
        return f"versions: {' '.join(ab.get('asked') or [])} against {' '.join(other.get('asked') or [])}"
    return f"commits: {ab.get('ref', '?')} against {other.get('ref', '?')}"


def ab_verdicts(group: Group) -> pd.DataFrame | None:
    """Each A/B bench's comparisons (``harness.bench.verdicts``, as its summary printed them): ratio A/B
    with its interval, verdict, rounds and numerics; None without A/B benches."""
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for r in group.records:
        if r.get("ab"):
            by_bench.setdefault(r["bench_id"], []).append(r)
    rows = []
    for bench_id, recs in sorted(by_bench.items()):
        for c in verdicts.comparisons(recs):
            if c.kind != "ab":
                continue
            a = next(r for r in recs if r["point"]["id"] == c.point and r["backend"] == c.a)
            b = next((r for r in recs if r["point"]["id"] == c.point and r["backend"] == c.b), None)
            p = c.paired
            rows.append({"bench": bench_id, "what": _ab_kind(a, b), "point": c.point, "part": c.part,
                         "A / B": f"{c.a} / {c.b}", "ratio [95%]": p.interval() if p else NA,
                         "verdict": p.verdict if p else NA, "rounds": f"{p.n} of {p.rounds}" if p else NA,
                         "numerics": bench_numerics.mark(verdicts.numerics(recs, c)) or ""})
    return pd.DataFrame(rows) if rows else None


def sweeps(group: Group) -> list[tuple[str, list[dict[str, Any]]]]:
    """(bench id, records) of each bench in the group with swept points."""
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for r in group.records:
        if r["point"].get("overrides") and r.get("status") == "ok":
            by_bench.setdefault(r["bench_id"], []).append(r)
    return sorted(by_bench.items())


def exponent(xs: list[float], ys: list[float]) -> float | None:
    """The slope of log y on log x (throughput ~ size^k), None with fewer than two sizes."""
    if len(xs) < 2 or len(set(xs)) < 2 or min(xs) <= 0 or min(ys) <= 0:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _order(values: tuple) -> list[tuple]:
    """Sort key of swept values: numbers by value, before anything else by name."""
    return [(0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in values]


@dataclass
class Series:
    """One backend's line in a sweep panel: per swept value the median and the min-max over the repeats
    (the error bar: the repeats' own values, so the bar shows what was measured, fresh workers and
    process layouts included), the fitted exponent, and at the largest size the paired ratio against
    the panel's fastest row (or an A/B row's baseline) with its interval and verdict."""

    backend: str
    xs: list[Any]
    medians: list[float]
    lows: list[float]
    highs: list[float]
    exponent: float | None = None
    ratio: str | None = None


def _extremes(r: dict[str, Any], part: str) -> tuple[float, float]:
    """The min and max of a record's per-repeat samples/s (its summary's where it has no repeats)."""
    values = list(verdicts.by_round(r, part).values())
    if values:
        return min(values), max(values)
    s = (r.get(part) or {}).get("samples_per_s") or {}
    return s.get("min", s["median"]), s.get("max", s["median"])


def sweep_series(subset: list[dict[str, Any]], axis: str, part: str, names: list[str], numeric: bool
                 ) -> list[Series]:
    """The lines of one sweep panel (records of one bench with the other axes fixed), in ``names`` order."""
    def value(r: dict[str, Any]) -> Any:
        x = r["point"]["overrides"][axis]
        return x if numeric else str(x)

    found = []
    for backend in names:
        rows = sorted((r for r in subset if r["backend"] == backend and _median(r, part)), key=value)
        if not rows:
            continue
        xs = [r["point"]["overrides"][axis] for r in rows]
        medians = [_median(r, part) for r in rows]
        lows, highs = zip(*(_extremes(r, part) for r in rows), strict=True)
        found.append(Series(backend, xs, medians, list(lows), list(highs),
                            exponent(xs, medians) if numeric else None))
    if numeric and len(found) >= 2:
        largest = max(x for line in found for x in line.xs)
        at = [r for r in subset if r["point"]["overrides"][axis] == largest]
        kinds = {"ab": 0, "fastest": 1}
        said: dict[str, str] = {}
        for c in sorted((c for c in verdicts.comparisons(at) if c.part == part and c.kind in kinds
                         and c.paired is not None), key=lambda c: kinds[c.kind]):
            said.setdefault(c.a, f"{c.paired.interval()} {c.paired.verdict} vs {c.b} at {largest:g}")
        for line in found:
            line.ratio = said.get(line.backend)
    return found


def plot_sweep(bench_id: str, recs: list[dict[str, Any]], out: Path) -> list[Path]:
    """One PNG per swept axis: throughput against the axis value, a line per backend, each point's
    min-max over the repeats as its error bar, and the paired ratio at the largest size in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_keys = list(dict.fromkeys(k for r in recs for k in r["point"]["overrides"]))
    task = recs[0]["task"]
    order = [b for r in recs for b in (r.get("protocol") or {}).get("interleaved", [])]
    names = list(dict.fromkeys([*order, *(r["backend"] for r in recs)]))
    colours = {b: f"C{i}" for i, b in enumerate(names)}  # one colour per backend in every panel
    paths = []
    every = recs
    for axis in axes_keys:
        # the records that set this axis (a sweep's LSTM point sets no model.scan, harness.bench.plan)
        recs = [r for r in every if axis in r["point"]["overrides"]]
        if len({str(r["point"]["overrides"][axis]) for r in recs}) < 2:
            continue  # a --set value, not a swept axis
        others = [k for k in axes_keys if k != axis]
        combos = sorted({tuple(r["point"]["overrides"].get(k) for k in others) for r in recs}, key=_order)
        fig, grid = plt.subplots(2, len(combos), figsize=(max(7.0, 4.2 * len(combos)), 7.5), squeeze=False)
        numeric = all(isinstance(r["point"]["overrides"][axis], (int, float)) for r in recs)
        for col, combo in enumerate(combos):
            subset = [r for r in recs if tuple(r["point"]["overrides"].get(k) for k in others) == combo]
            for row, (part, label) in enumerate((("train", "training"), ("inference", "inference"))):
                ax = grid[row][col]
                for line in sweep_series(subset, axis, part, names, numeric):
                    k = line.exponent
                    below = [m - lo for m, lo in zip(line.medians, line.lows, strict=True)]
                    above = [hi - m for m, hi in zip(line.medians, line.highs, strict=True)]
                    ax.errorbar(line.xs if numeric else [str(x) for x in line.xs], line.medians,
                                yerr=[below, above], marker="o", capsize=3, color=colours[line.backend],
                                label=f"{line.backend}" + (f" (k={k:+.2f})" if k is not None else "")
                                + (f"\n  {line.ratio}" if line.ratio else ""))
                if numeric:
                    ax.set_xscale("log")
                    ax.set_xticks(sorted({r["point"]["overrides"][axis] for r in subset}))
                    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
                    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.set_yscale("log")
                fixed = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in zip(others, combo, strict=True))
                ax.set_title(f"{label}{' at ' + fixed if fixed else ''}", fontsize=10)
                ax.set_xlabel(axis.split(".", 1)[1])
                ax.set_ylabel(f"{label} samples/s")
                ax.grid(True, which="both", alpha=0.3)
                ax.legend(fontsize=7)
        fig.suptitle(f"{task}: throughput against {axis.split('.', 1)[1]}, bench {bench_id}\n(median, bars: "
                     "min-max of the repeats; k: fitted exponent; ratio: paired, 95% interval)", fontsize=10)
        fig.tight_layout()
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"sweep-{task}-{axis.split('.', 1)[1]}-{bench_id}")
        path = out / f"{slug}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


@dataclass
class Speed:
    """The Speed section: per group, the headline tables and the sweep plots."""

    groups: list[Group]
    tables: list[tuple[pd.DataFrame | None, pd.DataFrame | None]]
    images: list[list[Path]]
    folder: Path
    ratios: list[pd.DataFrame | None] = field(default_factory=list)  # adapter / reference, per group
    fractions: list[tuple[pd.DataFrame | None, str | None]] = field(default_factory=list)  # of peak
    records: list[dict[str, Any]] = field(default_factory=list)  # every bench record read, oldest first
    lengths: list[tuple[pd.DataFrame | None, Path | None]] = field(default_factory=list)  # per group
    ab: list[pd.DataFrame | None] = field(default_factory=list)  # A/B benches' verdicts, per group
    gemm: list[pd.DataFrame | None] = field(default_factory=list)  # each framework's GEMM rates, per group
    modes: list[pd.DataFrame | None] = field(default_factory=list)  # mode / default mode, per group
    compile: list[tuple[pd.DataFrame | None, Path | None]] = field(default_factory=list)  # first step vs T

    def _lengths(self) -> list[tuple[pd.DataFrame | None, Path | None]]:
        return self.lengths or [(None, None)] * len(self.groups)

    def _ab(self) -> list[pd.DataFrame | None]:
        return self.ab or [None] * len(self.groups)

    def _gemm(self) -> list[pd.DataFrame | None]:
        return self.gemm or [None] * len(self.groups)

    def _modes(self) -> list[pd.DataFrame | None]:
        return self.modes or [None] * len(self.groups)

    def _compile(self) -> list[tuple[pd.DataFrame | None, Path | None]]:
        return self.compile or [(None, None)] * len(self.groups)

    def _ratios(self) -> list[pd.DataFrame | None]:
        return self.ratios or [None] * len(self.groups)

    def _fractions(self) -> list[tuple[pd.DataFrame | None, str | None]]:
        return self.fractions or [(None, None)] * len(self.groups)

    @staticmethod
    def _fraction_text(peak_rate: str) -> str:
        return (f"Training arithmetic achieved, and its fraction of the device's peak, {peak_rate}: the "
                "matrix products of a sample by formula from the spec (forward and backward, "
                "docs/methods.md), times the median samples/s of the table above (its rows, from the same "
                "benches). Small batches are bound by latency, far below the peak:")

    def _extras(self, group: Group) -> tuple[pd.DataFrame | None, tuple[pd.DataFrame | None, Path | None]]:
        """The group's mode table and compile-cost table and plot."""
        k = next(i for i, g in enumerate(self.groups) if g is group)
        return self._modes()[k], self._compile()[k]

    def markdown(self, image_dir: str | None, headline_only: bool = False) -> str:
        """The section; ``headline_only``: the README's short form, the machine of the newest bench alone
        (its training table and adapter / reference ratios; the others are in the full report)."""
        if not self.groups:
            return f"_No bench records under {self.folder}: run `python -m harness bench`._"
        parts = []
        rows = list(zip(self.groups, self.tables, self.images, self._ratios(), self._fractions(),
                        self._lengths(), self._ab(), self._gemm(), strict=True))
        if headline_only:
            shown = shown_in_readme(self.groups)
            if len(rows) > len(shown):
                parts.append("Per device kind, the fp32 benches of the machine that compares backends on the "
                             "most task shapes (the newest among equals); "
                             f"{len(rows) - len(shown)} other machine(s) and precision(s) in the full "
                             "report.")
            rows = [row for row in rows if any(row[0] is g for g in shown)]
        for group, (train, infer), images, versus, (of_peak, peak_rate), (by_length, length_plot), ab, \
                rates in rows:
            parts.append(f"{'####' if headline_only else '###'} Speed on {group.title}")
            modes, (compiled, compile_plot) = self._extras(group)
            if not headline_only:
                parts.append(f"Benches of this machine: {', '.join(group.bench_ids)}.")
            if train is not None:
                parts.append(f"{HEADLINE_NOTE}\n\n{train.to_markdown(index=False)}\n\n{sources(group)}")
            if of_peak is not None:
                parts.append(f"{self._fraction_text(peak_rate)}\n\n{of_peak.to_markdown(index=False)}")
            if rates is not None:
                parts.append(f"{GEMM_NOTE}\n\n{rates.to_markdown(index=False)}")
            if modes is not None:
                parts.append(f"{MODES_NOTE}\n\n{modes.to_markdown(index=False)}")
            if headline_only:
                if versus is not None:
                    parts.append(f"{REFERENCE_NOTE}\n\n{versus.to_markdown(index=False)}")
                continue
            if infer is not None:
                parts.append(f"Inference samples/s:\n\n{infer.to_markdown(index=False)}")
            if versus is not None:
                parts.append(f"{REFERENCE_NOTE}\n\n{versus.to_markdown(index=False)}")
            if ab is not None:
                parts.append(f"{AB_NOTE}\n\n{ab.to_markdown(index=False)}")
            if by_length is not None:
                parts.append(f"{LENGTHS_NOTE}\n\n{by_length.to_markdown(index=False)}")
            if compiled is not None:
                parts.append(f"{COMPILE_NOTE}\n\n{compiled.to_markdown(index=False)}")
            prefix = (image_dir.rstrip("/") + "/" if image_dir else "") if image_dir is not None else None
            if prefix is not None and compile_plot is not None:
                parts.append(f"![{compile_plot.stem}]({prefix}{compile_plot.name})")
            if prefix is not None and length_plot is not None:
                parts.append(f"![{length_plot.stem}]({prefix}{length_plot.name})")
            if prefix is not None and images:
                parts.append(" ".join(f"![{p.stem}]({prefix}{p.name})" for p in images))
        parts.append(NOTES)
        return "\n\n".join(parts)

    def html(self) -> str:
        import base64
        import html

        if not self.groups:
            return f"<p>No bench records under {html.escape(str(self.folder))}.</p>"
        body = []
        for group, (train, infer), images, versus, (of_peak, peak_rate), (by_length, length_plot), ab, \
                rates in zip(self.groups, self.tables, self.images, self._ratios(), self._fractions(),
                             self._lengths(), self._ab(), self._gemm(), strict=True):
            body.append(f"<h3>Speed on {html.escape(group.title)}</h3>")
            modes, (compiled, compile_plot) = self._extras(group)
            for note, frame in ((MODES_NOTE, modes), (COMPILE_NOTE, compiled)):
                if frame is not None:
                    body.append(f"<p>{html.escape(note)}</p>")
                    body.append(frame.to_html(index=False, escape=True, border=0, classes="runs speed"))
            if compile_plot is not None:
                images = [compile_plot, *images]
            body.append(f"<p>Benches of this machine: {html.escape(', '.join(group.bench_ids))}.</p>")
            for frame, what in ((train, "Training"), (infer, "Inference")):
                if frame is not None:
                    body.append(f"<p>{what} samples/s: {html.escape(HEADLINE_NOTE.split(': ', 1)[1])}</p>")
                    body.append(frame.to_html(index=False, escape=True, border=0, classes="runs speed"))
                    body.append(f"<p>{html.escape(sources(group) or '')}</p>")
            if of_peak is not None:
                body.append(f"<p>{html.escape(self._fraction_text(peak_rate))}</p>")
                body.append(of_peak.to_html(index=False, escape=True, border=0, classes="runs speed"))
            if rates is not None:
                body.append(f"<p>{html.escape(GEMM_NOTE)}</p>")
                body.append(rates.to_html(index=False, escape=True, border=0, classes="runs speed"))
            if versus is not None:
                body.append(f"<p>{html.escape(REFERENCE_NOTE)}</p>")
                body.append(versus.to_html(index=False, escape=True, border=0, classes="runs speed"))
            if ab is not None:
                body.append(f"<p>{html.escape(AB_NOTE)}</p>")
                body.append(ab.to_html(index=False, escape=True, border=0, classes="runs speed"))
            if by_length is not None:
                body.append(f"<p>{html.escape(LENGTHS_NOTE)}</p>")
                body.append(by_length.to_html(index=False, escape=True, border=0, classes="runs speed"))
            for p in ([length_plot] if length_plot is not None else []) + images:
                data = base64.b64encode(p.read_bytes()).decode("ascii")
                body.append(f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}">')
        body.append(f"<p>{html.escape(NOTES)}</p>")
        return "\n".join(body)


HEADLINE_NOTE = (
    "Training samples/s: median [min-max] of the interleaved repeats, and the ratio to the row's fastest "
    "backend; where both were measured in one bench, the ratio is the geometric mean of the per-round "
    "ratios with its 95% interval and verdict (same: within the bench's margin, 5% by default; slower; "
    "inconclusive: the interval reaches both; docs/bench.md, \"Verdicts\")")
REFERENCE_NOTE = (
    "Adapter / reference: each backend's samples/s over its framework's hand-written loop "
    "(`<backend>-reference`, benchmarks/reference/), both from the same bench, paired round by round: "
    "ratio [95% interval] and verdict (faster: the adapter beats its reference):")
GEMM_NOTE = (
    "Each framework's own matrix-multiply rate here, GFLOP/s (measured by `bench` after its rounds, "
    "harness/bench/gemm.py), and its fraction of the best square product: the square product says what "
    "the hardware reaches through that library, the points' own shapes (a layer's input projection over "
    "the sequence, its recurrent product of one step) what a recurrent step could reach at best:")
AB_NOTE = (
    "A/B benches (`--variant`, `--against`, `--calibrate`; docs/bench.md): each comparison of one "
    "interleaved bench, A over B, the geometric mean of the per-round ratios with its 95% interval, the "
    "verdict, the rounds it used of those measured, and whether A and B compute the same numbers. Their "
    "rows stay out of the tables above, which compare backends:")
MODES_NOTE = (
    "Execution modes (`python -m harness list`: `torch+compile`, `jax+unroll8`, `keras+xla`, ...): each "
    "mode against its backend's default mode, both from the same bench, paired round by round: ratio [95% "
    "interval] and verdict (faster: the mode beats the default), and each one's first training step, where "
    "a compiler does its work (excluded from samples/s; time to target includes it):")
COMPILE_NOTE = (
    "Compile cost: the first training step (compilation and warm-up) in seconds against the sequence "
    "length, per cell and backend mode (`harness.bench.compile_cost`, from `experiments/compile-bench.sh`), "
    "and k of first step ~ T^k; `over budget`: stopped at the bench's `--step-budget`:")
LENGTHS_NOTE = (
    "Time per token against sequence length (`harness.bench.lengths`, from the benches of "
    "`experiments/scan-bench.sh`): "
    "training microseconds per token, median of the repeats, per cell, scan mode (scan cells) or kernel "
    "path (lstm) and backend, and k of time per token ~ T^k fitted over the lengths: 0 for a cost linear "
    "in the length. The lengths may come from several benches, so no paired ratio is claimed here:")
NOTES = (
    "Speed figures come from `python -m harness bench`: synthetic batches of each task's real shapes, "
    "warm-up (and the first step, with any compilation) apart, every clock read after the backend "
    "synchronises, repeats interleaved across backends on one machine, every backend on the same threads. "
    "`(busy)` marks figures taken while other processes used the machine."
)


def build(folder: Path, out: Path, peak_dir: Path | None = None) -> Speed:
    """The Speed section of the bench records under ``folder``; device peaks from ``peak_dir`` (default:
    ``peak/`` beside ``folder``, as results/peak beside results/bench)."""
    recs = bench.load_all(folder) if Path(folder).exists() else []
    peak_dir = Path(peak_dir) if peak_dir is not None else Path(folder).parent / "peak"
    peak_records = peak.peaks(peak_dir) if peak_dir.is_dir() else []
    if Path(folder).is_dir():  # and the GEMM rates the benches measured (harness.bench.gemm)
        peak_records = sorted([*peak_records, *peak.peaks(Path(folder))], key=lambda r: r.get("measured", ""))
    found = groups(recs)
    out.mkdir(parents=True, exist_ok=True)
    tables = [(headline(g, "train"), headline(g, "inference")) for g in found]
    images = [[p for bench_id, rs in sweeps(g) for p in plot_sweep(bench_id, rs, out)] for g in found]
    by_length = [(lengths.table(g.records), lengths.plot(g.records, out, f"{g.device} {g.precision}, "
                  f"{g.threads} threads, machine {g.machine}")) for g in found]
    compiles = [(compile_cost.table(g.records),
                  compile_cost.plot(g.records, out, f"{g.device} {g.precision}, {g.threads} threads, "
                                                    f"machine {g.machine}")) for g in found]
    return Speed(found, tables, images, Path(folder), ratios=[ratios(g) for g in found],
                 modes=[mode_ratios(g) for g in found], compile=compiles,
                 ab=[ab_verdicts(g) for g in found], gemm=[gemm_rates(g, peak_records) for g in found],
                 fractions=[fractions(g, peak_records) for g in found], records=recs, lengths=by_length)
