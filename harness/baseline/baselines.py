"""Regression tracking for speed: ``baseline save`` and ``compare``.

A baseline holds, for one machine fingerprint, the throughput of the latest bench records
(``harness bench``: the figures to track, keyed ``bench:<point>/<backend>/<device>/<precision>/t<threads>``)
and of the latest runs: per (task, scale,
backend, device kind, precision) the median, min, max and count across repeats (the latest ``ok`` record
of each seed) of training and inference samples/s, and their relative noise.

Noise of a figure: ``(max - min) / median`` across repeats; for a single run, the same over that run's
own repeated measurements (its epochs for training, its evaluations for inference).

Rule (``compare``): a figure regresses when ``new_median < base_median * (1 - tolerance)`` with
``tolerance = max(threshold, base_noise, new_noise)``; ``--threshold`` defaults to 0.10 because single
runs swing 5-10% on a shared CPU. So a slowdown is flagged only when it is larger than both the
threshold and the spread measured on either side; more repeats give tighter spreads and catch smaller
slowdowns. Figures are compared only on the machine the baseline was saved on: the latest runs (the
machine of the most recent record) must have the baseline's fingerprint, else ``compare`` refuses.
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
                               "noise": s.get("spread") or 0.0}
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
                entry[name] = {**statistics.spread(vals), "noise": _noise(vals, single)}
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


def judge(base: dict[str, Any], new: dict[str, Any], threshold: float) -> tuple[float, float, str]:
    """Ratio new/base, the tolerance and the verdict (``ok``, ``SLOWER``, ``faster``) of one figure."""
    tol = max(threshold, base.get("noise", 0.0), new.get("noise", 0.0))
    ratio = new["median"] / base["median"] if base["median"] else float("inf")
    if new["median"] < base["median"] * (1 - tol):
        return ratio, tol, "SLOWER"
    if new["median"] > base["median"] * (1 + tol):
        return ratio, tol, "faster"
    return ratio, tol, "ok"


def _fmt(s: dict[str, Any]) -> str:
    return f"{s['median']:,.0f} [{s['min']:,.0f}-{s['max']:,.0f}] n={s['n']}"


def compare(file: str, runs: str, threshold: float) -> tuple[str, int]:
    """A table of every figure against the baseline, and the exit status (1 when any is slower)."""
    if not 0 <= threshold < 1:
        raise UserError(f"--threshold {threshold}: give a fraction between 0 and 1 (0.10 is 10%)")
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
    rows, slower, noisy = [], 0, 0
    for key in sorted(set(base["figures"]) | set(new)):
        for name in FIGURES:
            b, n = dig(base, "figures", key, name), dig(new, key, name)
            if b is None and n is None:
                continue
            if b is None or n is None:
                rows.append((key, name, _fmt(b) if b else "-", _fmt(n) if n else "-", "-", "-",
                             "new" if b is None else "missing"))
                continue
            ratio, tol, verdict = judge(b, n, threshold)
            slower += verdict == "SLOWER"
            noisy += tol > NOISY
            rows.append((key, name, _fmt(b), _fmt(n), f"{ratio:.3f}", f"{tol:.0%}", verdict))
    table = tabulate(rows, headers=("task/scale/backend/device/precision", "figure", "baseline", "latest",
                                    "ratio", "tolerance", "verdict"),
                     tablefmt="simple_outline", disable_numparse=True)
    verdict = (f"compare: {slower} figure(s) slower than the baseline beyond tolerance" if slower
               else "compare: no throughput regression beyond tolerance")
    if noisy:
        verdict += (f"; {noisy} figure(s) too noisy to catch a {NOISY:.0%} slowdown (tolerance above it): "
                    "use more --repeats on a quieter machine")
    return f"{table}\n{verdict} (machine {machine}, baseline {file})", 1 if slower else 0
