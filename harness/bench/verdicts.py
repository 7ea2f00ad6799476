"""Verdicts between rows of one interleaved bench: which pairs are compared, and their paired statistics
(``harness.statistics.decide``), for the bench's summary and the report's speed tables alike.

Rows measured in the same bench are paired round by round (repeat ``r`` of one row against repeat ``r``
of the other: the same minute of the machine). The pairs, per point and for training and inference:
- every row against the point's fastest row (by median): the headline's ratio (not in an A/B bench,
  whose pairs are its own);
- an adapter against its reference loop (``torch`` / ``torch-reference``);
- a backend in a mode against the same backend in its default mode (``torch+compile`` / ``torch``);
- A/B rows (``harness.bench.ab``): every variant against the first one named, the working tree against
  ``--against``'s commit, a calibration row against its plain row.

The design (a fixed look after all repeats, or an A/B bench's sequential looks) and the margin are the
bench's, kept in every record's ``protocol.verdicts``; records from before verdicts existed get a fixed
design over their repeats and the default margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.base import MODE_SEP
from harness import statistics as st
from harness.bench import numerics as bench_numerics
from harness.bench import reference as bench_reference

PARTS = ("train", "inference")


@dataclass(frozen=True)
class Comparison:
    """Row ``a`` against row ``b`` of one point, for ``part`` (``train`` or ``inference``): ``kind`` is
    ``fastest``, ``reference``, ``mode`` or ``ab``."""

    point: str
    part: str
    a: str
    b: str
    kind: str
    paired: st.Paired | None

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "part": self.part, "a": self.a, "b": self.b, "kind": self.kind,
                **(self.paired.to_dict() if self.paired else {"verdict": None})}


def by_round(record: dict[str, Any], part: str) -> dict[int, float]:
    """A record's samples/s per round (its repeats' index)."""
    key = "train_samples_per_s" if part == "train" else "infer_samples_per_s"
    return {r["repeat"]: r[key] for r in record.get("repeats") or []
            if isinstance(r.get(key), (int, float)) and r[key] > 0}


def settings(record: dict[str, Any]) -> tuple[st.Design | None, float]:
    """The bench's design (None: a fixed look over whatever rounds are paired) and margin."""
    found = (record.get("protocol") or {}).get("verdicts") or {}
    design = found.get("design")
    return (st.Design.from_dict(design) if design and len(design.get("looks", ())) > 1 else None,
            float(found.get("margin") or st.MARGIN))


def paired(a: dict[str, Any], b: dict[str, Any], part: str) -> st.Paired | None:
    """Row ``a`` against row ``b`` (records of one point in one bench), paired round by round."""
    ra, rb = by_round(a, part), by_round(b, part)
    common = sorted(set(ra) & set(rb))
    design, margin = settings(a)
    return st.decide([ra[i] for i in common], [rb[i] for i in common], design, margin)


def _median(r: dict[str, Any], part: str) -> float | None:
    return ((r.get(part) or {}).get("samples_per_s") or {}).get("median")


def ab_pairs(names: list[str], rows: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(candidate, baseline) A/B pairs among ``names`` from each row's ``ab`` description: every row
    that names a ``versus`` row is compared against it."""
    return [(n, rows[n]["versus"]) for n in names
            if rows.get(n, {}).get("versus") and rows[n]["versus"] in names]


def comparisons(recs: list[dict[str, Any]]) -> list[Comparison]:
    """Every comparison among ``recs``, which are the records of one bench (one record per point and
    row); points in the order first seen."""
    by_point: dict[str, dict[str, dict[str, Any]]] = {}
    for r in recs:
        if r.get("status") in ("ok", "partial") and r.get("repeats"):
            by_point.setdefault(r["point"]["id"], {})[r["backend"]] = r
    out: list[Comparison] = []
    for pid, rows in by_point.items():
        names = list(rows)
        described = {n: rows[n].get("ab") or {} for n in names}
        ab_bench = any(d.get("versus") for d in described.values())  # its A/B pairs say it all
        for part in PARTS:
            medians = {n: m for n in names if (m := _median(rows[n], part))}
            if len(medians) >= 2 and not ab_bench:
                fastest = max(medians, key=lambda n: medians[n])
                out += [Comparison(pid, part, n, fastest, "fastest", paired(rows[n], rows[fastest], part))
                        for n in names if n != fastest and n in medians]
            for n in names:
                if bench_reference.is_reference(n) and bench_reference.base(n) in rows:
                    a = bench_reference.base(n)
                    out.append(Comparison(pid, part, a, n, "reference", paired(rows[a], rows[n], part)))
            for n in names:
                if MODE_SEP in n and n.split(MODE_SEP, 1)[0] in rows:
                    b = n.split(MODE_SEP, 1)[0]
                    out.append(Comparison(pid, part, n, b, "mode", paired(rows[n], rows[b], part)))
            for a, b in ab_pairs(names, described):
                out.append(Comparison(pid, part, a, b, "ab", paired(rows[a], rows[b], part)))
    return out


def cell(c: Comparison | None) -> str:
    """``0.91x [0.88-0.94] slower``: a paired ratio as the tables show it ('' without one)."""
    if c is None or c.paired is None:
        return ""
    return f"{c.paired.interval()} {c.paired.verdict}"


def undecided(recs: list[dict[str, Any]]) -> list[Comparison]:
    """The A/B comparisons of one point still inconclusive (a sequential bench goes on while any is)."""
    return [c for c in comparisons(recs) if c.kind == "ab"
            and (c.paired is None or c.paired.verdict == "inconclusive")]


def numerics(recs: list[dict[str, Any]], c: Comparison) -> dict[str, Any] | None:
    """The numerics entry of an A/B comparison (``harness.bench.numerics``): kept in row ``a``'s record."""
    if c.kind != "ab":
        return None
    rec = next((r for r in recs if r["point"]["id"] == c.point and r["backend"] == c.a), None)
    found = (rec or {}).get("numerics")
    return found if found and found.get("b") == c.b else None


def table(recs: list[dict[str, Any]]) -> str:
    """The bench summary's verdicts: a row per comparison (A/B pairs first), with its interval, verdict
    and rounds, and where the rows' numerics were checked, whether they compute the same numbers beside
    the speed verdict; '' when there is nothing to compare."""
    from tabulate import tabulate

    found = comparisons(recs)
    if not found:
        return ""
    order = {"ab": 0, "mode": 1, "reference": 2, "fastest": 3}
    found.sort(key=lambda c: (order[c.kind], c.point, c.part))
    what = {"ab": "A/B", "mode": "mode / default mode", "reference": "adapter / reference",
            "fastest": "against the fastest"}
    checked = any(r.get("numerics") for r in recs)
    rows = []
    for c in found:
        p = c.paired
        row = [c.point, c.part, f"{c.a} / {c.b}", what[c.kind], p.interval() if p else "n/a",
               p.verdict if p else "n/a"]
        if checked:
            row.append(bench_numerics.mark(numerics(recs, c)))
        rows.append((*row, f"{p.n} of {p.rounds}" if p else "", f"{p.level:.1%}" if p else "",
                     p.note() if p else "fewer than two paired rounds"))
    headers = ("point", "part", "A / B", "comparison", "ratio [interval]", "verdict",
               *(("numerics",) if checked else ()), "rounds used", "level", "note")
    return tabulate(rows, headers=headers, tablefmt="simple_outline", disable_numparse=True)
