"""Comparison tables, plots and an HTML page from result records alone, and the README's results section.

Records are grouped into comparisons: one per (task, scale, epochs, machine fingerprint, device kind), so
figures from different machines or devices never share a table, a ratio or a plot. Within a comparison
there is one row per (backend, precision); a row uses the latest record of each seed (the repeats), and
shows the median of the ``ok`` ones with their min-max spread. Failed and diverged records are shown as
such (a row with no ``ok`` run shows ``n/a`` figures), and matrix manifests under the runs folder add the
combinations that failed before writing any record. Missing fields are ``n/a``, never a crash.

Writes to ``--out`` (default ``results/report/``): ``report.md``, ``report.html`` (self-contained: PNGs
embedded as base64) and the PNGs, ``throughput-<comparison>.png`` and ``curves-<comparison>.png``.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import records
from harness.report import plots
from harness.report.comparisons import NA, Comparison, Row, dig, fmt, fmt_spread, group, unit

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _status(row: Row) -> str:
    counts: dict[str, int] = {}
    for r in row.runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: kv[0] != "ok"))
    bad = [r for r in row.runs if r["status"] != "ok"]
    if bad:
        error = str(bad[-1].get("error") or "no error recorded").replace("|", "/")
        text += f" ({bad[-1]['status'].upper()}: {error[:120]})"
    return text


def _memory(row: Row) -> str:
    host = row.spread("memory", "peak_host_bytes")
    device = row.spread("memory", "peak_device_bytes")
    if device:
        return f"{device['median'] / 2**20:,.0f} (device)"
    return f"{host['median'] / 2**20:,.0f}" if host else NA


def _load(row: Row) -> str:
    """The machine's 1-minute load average at the start of the runs: other work there skews timings."""
    loads = [r["environment"]["load_average"][0] for r in row.ok if dig(r, "environment", "load_average")]
    return f"{max(loads):.1f}" if loads else NA


def comp_has_latency(comp: Comparison) -> bool:
    return any(dig(r, "throughput", "step_latency_ms") for row in comp.rows.values() for r in row.ok)


def _latency(row: Row) -> str:
    """Per-step training latency of batch-1 tasks: median of the runs' medians and of their p95s."""
    lat = [dig(r, "throughput", "step_latency_ms") for r in row.ok]
    lat = [x for x in lat if x]
    if not lat:
        return NA
    return (f"{fmt(float(np.median([x['median'] for x in lat])))} / "
            f"{fmt(float(np.median([x['p95'] for x in lat])))}")


def table(comp: Comparison) -> pd.DataFrame:
    """The comparison's rows as a frame of formatted strings."""
    metric, u = comp.metric or "metric", unit(comp.metric)
    rate = "samples" if u == "samples" else "tokens"
    best = max((s["median"] for row in comp.rows.values()
                if (s := row.spread("throughput", f"train_{rate}_per_s"))), default=None)
    out = []
    for row in comp.sorted_rows():
        sample = row.ok[-1] if row.ok else row.runs[-1]
        be = dig(sample, "environment", "backend", default={})
        train = row.spread("throughput", f"train_{rate}_per_s")
        reached = [r for r in row.ok if dig(r, "timings", "time_to_target_s") is not None]
        ttt = row.spread("timings", "time_to_target_s")
        out.append({
            "backend": row.label,
            "runs": _status(row),
            "device": (be.get("device_name") or be.get("device") or NA) if be else NA,
            f"test {metric}": fmt_spread(row.spread("metrics", f"test_{metric}"), 4),
            "time to target s": (fmt_spread(ttt) + (f" ({len(reached)}/{len(row.ok)})"
                                                    if len(reached) < len(row.ok) else "")
                                 if ttt else ("not reached" if row.ok else NA)),
            f"train {u}/s": fmt_spread(train),
            "train rel.": f"{train['median'] / best:.2f}x" if train and best else NA,
            f"inference {u}/s": fmt_spread(row.spread("throughput", f"eval_{rate}_per_s")),
            "first step s": fmt_spread(row.spread("timings", "first_step_s")),
            **({"step ms p50 / p95": _latency(row)} if comp_has_latency(comp) else {}),
            "peak MiB": _memory(row),
            "params": fmt(dig(sample, "config", "param_count")),
            "kernel": be.get("kernel_path", NA) if be else NA,
            "threads": fmt(be.get("threads")) if be else NA,
            "load": _load(row),
            "versions": ", ".join(f"{k} {v}" for k, v in (be.get("versions") or {}).items()) or NA,
        })
    return pd.DataFrame(out)


def unrecorded(runs: Path) -> list[dict[str, Any]]:
    """Matrix combinations that ended without a record (e.g. an environment that could not be built)."""
    found: dict[str, dict[str, Any]] = {}
    for _path, data in records.documents(runs, records.MATRIX):
        for entry in data.get("runs", []):
            if entry.get("status") == "failed" and not entry.get("record"):
                found[entry.get("key", "?")] = entry
    return list(found.values())


@dataclass
class Report:
    comparisons: list[Comparison]
    frames: list[pd.DataFrame]
    images: list[list[Path]]
    missing: list[dict[str, Any]]
    runs: Path
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> str:
        if any(r["scale"] == "smoke" for r in self.records):
            return (f"Only smoke-scale records under {self.runs}: they are left out "
                    "(`report --include-smoke` shows them).")
        return f"No result records under {self.runs}."

    def markdown(self, image_dir: str | None) -> str:
        """Markdown; images linked from ``image_dir`` (relative to the file it goes in) unless None."""
        if not self.comparisons and not self.missing:
            return f"_{self.empty}_"
        parts = []
        for comp, frame, images in zip(self.comparisons, self.frames, self.images, strict=True):
            parts.append(f"### {comp.title}\n\n{frame.to_markdown(index=False)}")
            if image_dir is not None:
                prefix = image_dir.rstrip("/") + "/" if image_dir else ""
                parts.append(" ".join(f"![{p.stem}]({prefix}{p.name})" for p in images))
        if self.missing:
            lines = [f"- {e.get('key', '?')}: FAILED, no record: {e.get('error') or 'no error recorded'}"
                     for e in self.missing]
            parts.append("### Combinations without a record (n/a)\n\n" + "\n".join(lines))
        parts.append(_NOTES)
        return "\n\n".join(parts)

    def html(self, speed: str = "", overview: str = "") -> str:
        body = [f"<h2 id=\"overview-title\">Overview</h2>\n{overview}"] if overview else []
        body += [f"<h2>Speed (bench)</h2>\n{speed}"] if speed else []
        if self.comparisons:
            body.append("<h2>Training runs</h2>")
        for comp, frame, images in zip(self.comparisons, self.frames, self.images, strict=True):
            body.append(f"<h3>{html.escape(comp.title)}</h3>")
            body.append(frame.to_html(index=False, escape=True, border=0, classes="runs"))
            for p in images:
                data = base64.b64encode(p.read_bytes()).decode("ascii")
                body.append(f'<img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}">')
        if self.missing:
            body.append("<h2>Combinations without a record (n/a)</h2><ul>")
            body += [f"<li>{html.escape(str(e.get('key')))}: FAILED, no record: "
                     f"{html.escape(str(e.get('error') or 'no error recorded'))}</li>" for e in self.missing]
            body.append("</ul>")
        if not self.comparisons and not self.missing:
            body.append(f"<p>{html.escape(self.empty)}</p>")
        notes = html.escape(_NOTES).replace("\n", "<br>\n")
        made = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rnnbench report</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}"
            "table.runs{border-collapse:collapse;font-size:90%}"
            "table.runs td,table.runs th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
            "img{max-width:100%;margin:8px 0}</style></head><body>\n"
            f"<h1>rnnbench report</h1><p>From the records under {html.escape(str(self.runs))}, made {made}."
            "</p>\n" + "\n".join(body) + f"\n<p>{notes}</p>\n</body></html>\n"
        )


_NOTES = (
    "Figures: median [min-max] across repeats (seeds 0..K-1; the latest record of each seed), from "
    "`ok` runs only; failed and diverged runs are counted in `runs`. Throughput is steady state (the "
    "first step, with any compilation, is `first step s`); `train rel.` is training throughput relative "
    "to the fastest row of the same table. Tables never mix machines or devices."
)


def build(runs: Path, out: Path, include_smoke: bool = False) -> Report:
    """Tables and plots (written to ``out``) from the records under ``runs``; smoke-scale comparisons
    only with ``include_smoke`` (their figures say nothing about a framework)."""
    recs = records.load_all(runs, warn=True)
    comps = [c for c in group(recs) if include_smoke or c.scale.split(" ", 1)[0] != "smoke"]
    out.mkdir(parents=True, exist_ok=True)
    images = [plots.draw(comp, out) for comp in comps]
    missing = [e for e in unrecorded(runs) if include_smoke or _entry_scale(e) != "smoke"]
    return Report(comps, [table(c) for c in comps], images, missing, runs, recs)


def _entry_scale(entry: dict[str, Any]) -> str | None:
    key = str(entry.get("key", "")).split("/")
    return entry.get("scale") or (key[1] if len(key) > 1 else None)


def update_readme(readme: Path, body: str) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} section to fill")
    generated = f"{START}\n<!-- generated by `python -m harness report --readme README.md`; do not edit -->\n"
    new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: f"{generated}{body}\n{END}", text,
                 flags=re.S)
    readme.write_text(new)
