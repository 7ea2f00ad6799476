"""Regression tracking for speed: ``baseline save`` and ``compare``.

A baseline holds, for one machine fingerprint, the throughput of the latest bench records
(``harness bench``: the figures to track, keyed ``bench:<point>/<backend>/<device>/<precision>/t<threads>``)
and of the latest runs: per (task, scale,
backend, device kind, precision) the median, min, max and count across repeats (the latest ``ok`` record
of each seed) of training and inference samples/s, and their relative noise.

Noise of a figure: ``(max - min) / median`` across repeats; for a single run, the same over that run's
own repeated measurements (its epochs for training, its evaluations for inference). Every repeat's value
is kept (``values``): the test below needs them.

Test (``compare``): the baseline and the latest figures are separate runs, so nothing pairs them; the
ratio new/base (of geometric means) gets Welch's t interval on the log figures over the repeats of each
side (``harness.statistics.unpaired``), and the verdict of the bench's: ``same`` inside 1 +- ``--margin``,
``SLOWER`` or ``faster`` when the interval excludes 1, else ``inconclusive``. Each row also says the
smallest slowdown its data could detect (the interval's half-width as a fraction): with three repeats a
side at 10% noise, about 15%; more repeats detect less. A side with a single figure (or a baseline saved
before values were kept) has no interval: ``inconclusive``, and the row says why. Figures are compared
only on the machine the baseline was saved on: the latest runs (the machine of the most recent record)
must have the baseline's fingerprint, else ``compare`` refuses.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tabulate import tabulate

from harness import records, statistics
from harness.errors import UserError
from harness.report.comparisons import device_kind, dig

# figure -> the record's within-run spread of it (the noise of a single run)
FIGURES = {"train_samples_per_s": "train_samples_per_s_epochs",
           "eval_samples_per_s": "eval_samples_per_s_runs"}
# bench figures under the same names, so a baseline and compare treat both alike
BENCH_FIGURES = {"train_samples_per_s": "train", "eval_samples_per_s": "inference"}
DEFAULT_DIR = Path("results/baselines")
NOISY = 0.3  # a tolerance above this cannot catch the slowdowns that matter: say so


def _latest_machine(recs: list[dict[str, Any]], runs: str) -> str:
    machines = [dig(r, "environment", "machine") for r in recs if dig(r, "environment", "machine")]
    if not machines:
        raise UserError(f"no result records with a machine fingerprint under {runs}; run "
                        "`python -m harness matrix` (or `run`) first")
    return machines[-1]  # records are sorted oldest first


def _key(r: dict[str, Any]) -> str:
    precision = dig(r, "environment", "backend", "precision", default="fp32")
    return f"{r['task']}/{r['scale']}/{r['backend']}/{device_kind(r)}/{precision}"


def _noise(values: list[float], within: dict[str, Any] | None) -> float:
    if len(values) >= 2:
        return statistics.relative_spread(statistics.spread(values)) or 0.0
    if within and within.get("n", 0) >= 2:
        return statistics.relative_spread(within) or 0.0
    return 0.0


def _bench_figures(recs: list[dict[str, Any]], machine: str) -> dict[str, Any]:
    """Figures of bench records (the protocol's interleaved repeats): the latest bench of each point,
    backend, device, precision and thread count; noise is the spread of its repeats."""
    out: dict[str, Any] = {}
    for r in recs:  # oldest first: a later bench of the same key replaces an earlier one
        if dig(r, "environment", "machine") != machine:
            continue
        precision = dig(r, "environment", "backend", "precision", default="fp32")
        key = (f"bench:{r['point']['id']}/{r['backend']}/{device_kind(r)}/{precision}/"
               f"t{dig(r, 'protocol', 'threads')}")
        entry: dict[str, Any] = {"runs": [r["run_id"]], "seeds": [], "busy": bool(r.get("busy"))}
        for name, part in BENCH_FIGURES.items():
            s = dig(r, part, "samples_per_s")
            if s and s.get("median"):
                entry[name] = {"median": s["median"], "min": s["min"], "max": s["max"], "n": s["n"],
                               "noise": s.get("spread") or 0.0, "values": list(s.get("values") or [])}
        out[key] = entry
    return out


def figures(runs: str, machine: str | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The machine, its description and the throughput figures of its latest runs under ``runs``: run
    records, and bench records (``harness bench``), whose figures are the ones to track."""
    from harness.bench import driver as bench

    recs = [r for r in records.load_all(Path(runs), warn=True) if r["status"] == "ok"]
    benched = [r for r in bench.load_all(Path(runs)) if r.get("status") == "ok"]
    machine = machine or _latest_machine(sorted(recs + benched, key=lambda r: r.get("started", "")), runs)
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for r in recs:
        if dig(r, "environment", "machine") == machine:
            latest[(_key(r), r["seed"])] = r
    by_key: dict[str, list[dict[str, Any]]] = {}
    for (key, _seed), r in sorted(latest.items()):
        by_key.setdefault(key, []).append(r)
    out: dict[str, Any] = {}
    for key, rs in by_key.items():
        entry: dict[str, Any] = {"runs": [r["run_id"] for r in rs], "seeds": [r["seed"] for r in rs]}
        for name, within in FIGURES.items():
            vals = [v for r in rs if isinstance(v := dig(r, "throughput", name), (int, float))]
            if vals:
                single = dig(rs[0], "throughput", within) if len(vals) == 1 else None
                entry[name] = {**statistics.spread(vals), "noise": _noise(vals, single), "values": vals}
        out[key] = entry
    out.update(_bench_figures(benched, machine))
    sample = next((r for r in reversed(recs + benched) if dig(r, "environment", "machine") == machine), {})
    env = sample.get("environment") or {}
    described = {"cpu": env.get("cpu"), "cpu_count": env.get("cpu_count"),
                 "device_name": dig(env, "backend", "device_name"), "hostname": env.get("hostname")}
    return machine, described, out


def save(runs: str, file: str | None) -> str:
    machine, described, figs = figures(runs)
    if not figs:
        raise UserError(f"no ok runs with throughput figures under {runs}")
    path = Path(file) if file else DEFAULT_DIR / f"{machine}.json"
    records.dump_atomic(path, {
        "schema": records.BASELINE, "machine": machine, "described": described, "runs_folder": str(runs),
        "saved": datetime.now(timezone.utc).isoformat(timespec="seconds"), "figures": figs,
    })
    return (f"baseline: throughput of {len(figs)} combinations (task/scale/backend/device/precision) "
            f"of machine {machine} ({described['cpu']}) saved to {path}")


def load(file: str) -> dict[str, Any]:
    try:
        data = records.read(Path(file), records.BASELINE)
    except FileNotFoundError:
        raise UserError(f"baseline {file} not found; save one with `python -m harness baseline save`"
                        ) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read baseline {file}: {exc}") from None
    if data is None:
        raise UserError(f"{file} is not an rnnbench baseline (expected schema {records.BASELINE!r})")
    return data


def judge(base: dict[str, Any], new: dict[str, Any], margin: float) -> statistics.Unpaired | None:
    """Welch's comparison of one figure's repeats, new against base (None without values on a side)."""
    return statistics.unpaired(base.get("values") or [], new.get("values") or [], margin)


def _why(b: dict[str, Any], n: dict[str, Any]) -> str:
    if not b.get("values"):
        return "baseline without repeat values: save it again"
    if len(b["values"]) < 2 or len(n.get("values") or []) < 2:
        return "one repeat on a side: no interval"
    return ""


def _fmt(s: dict[str, Any]) -> str:
    return f"{s['median']:,.0f} [{s['min']:,.0f}-{s['max']:,.0f}] n={s['n']}"


def compare(file: str, runs: str, margin: float = statistics.MARGIN) -> tuple[str, int]:
    """A table of every figure against the baseline, and the exit status (1 when any is slower)."""
    statistics.check_margin(margin)
    from harness.bench import driver as bench

    base = load(file)
    recs = sorted([r for r in records.load_all(Path(runs), warn=True) if r["status"] == "ok"]
                  + [r for r in bench.load_all(Path(runs)) if r.get("status") == "ok"],
                  key=lambda r: r.get("started", ""))
    machine = _latest_machine(recs, runs)
    if machine != base["machine"]:
        latest_cpu = next(dig(r, "environment", "cpu") for r in reversed(recs)
                          if dig(r, "environment", "machine") == machine)
        raise UserError(
            f"baseline {file} was measured on machine {base['machine']} ({dig(base, 'described', 'cpu')}), "
            f"the latest runs under {runs} on machine {machine} ({latest_cpu}); figures from different "
            "machines are not compared: save a baseline on this machine with `python -m harness baseline "
            "save`")
    _, _, new = figures(runs, machine)
    rows, slower, blind = [], 0, 0
    for key in sorted(set(base["figures"]) | set(new)):
        for name in FIGURES:
            b, n = dig(base, "figures", key, name), dig(new, key, name)
            if b is None and n is None:
                continue
            if b is None or n is None:
                rows.append((key, name, _fmt(b) if b else "-", _fmt(n) if n else "-", "-", "-",
                             "new" if b is None else "missing"))
                continue
            found = judge(b, n, margin)
            if found is None or found.low is None:
                ratio = n["median"] / b["median"] if b.get("median") else float("nan")
                blind += 1
                rows.append((key, name, _fmt(b), _fmt(n), f"{ratio:.3f}", "-",
                             f"inconclusive ({_why(b, n)})"))
                continue
            verdict = "SLOWER" if found.verdict == "slower" else found.verdict
            slower += verdict == "SLOWER"
            blind += found.detectable is not None and found.detectable > NOISY
            rows.append((key, name, _fmt(b), _fmt(n),
                         f"{found.ratio:.3f} [{found.low:.3f}-{found.high:.3f}]",
                         f"{found.detectable:.1%}" if found.detectable is not None else "-", verdict))
    table = tabulate(rows, headers=("task/scale/backend/device/precision", "figure", "baseline", "latest",
                                    "ratio [95% interval]", "detectable slowdown", "verdict"),
                     tablefmt="simple_outline", disable_numparse=True)
    verdict = (f"compare: {slower} figure(s) slower than the baseline (95% Welch interval below 1)" if slower
               else "compare: no figure shown slower than the baseline")
    if blind:
        verdict += (f"; {blind} figure(s) cannot detect a {NOISY:.0%} slowdown (too few or too noisy "
                    "repeats): use more --repeats on a quieter machine")
    return f"{table}\n{verdict} (machine {machine}, baseline {file}, margin {margin:g})", 1 if slower else 0
