"""``bench --calibrate``: what this machine can detect, from rows measured on purpose alike or slowed.

The rows (``harness.bench.ab.CALIBRATION``) of one backend run interleaved for ``--repeats`` rounds; the
rounds are cut into disjoint blocks of ``--block``, and each block is one trial of the verdict an A/B
bench with ``--max-rounds BLOCK`` would give (the same sequential design and margin):
- every pair of the four plain rows (the same backend, the same code) is an A/A trial, six a block (two
  of them disjoint): a ``slower`` or ``faster`` verdict is false;
- a row idling 10% of every timed span, and one idling 5%, each against every plain row (four a block):
  a ``slower`` verdict is a detection (the power at that slowdown).
Trials of one block share rounds and rows, so they are not independent: the summary counts both the
trials and the disjoint ones (``aa_disjoint``, ``independent``), and the sentence names both.
The slowdown exists only in calibration mode: the worker sleeps after the steps of each timed span
(``harness.bench.worker``), and the records say so (``ab.calibration``, each repeat's ``calibration_idle``).
The summary (``records.BENCH_CALIBRATION``, ``calibration.json`` in the bench folder) states, per point
and part, the false-verdict rate, the power, the trials and the rounds.
"""

from __future__ import annotations

from typing import Any

from harness import records
from harness import statistics as st
from harness.bench import ab, verdicts

FILE = "calibration.json"


def _trials(a: dict[int, float], b: dict[int, float], block: int, design: st.Design,
            margin: float) -> list[str]:
    """The verdict of every disjoint block of ``block`` rounds both rows measured."""
    common = sorted(set(a) & set(b))
    out = []
    for start in range(0, len(common) - block + 1, block):
        rounds = common[start:start + block]
        found = st.decide([a[r] for r in rounds], [b[r] for r in rounds], design, margin)
        if found is not None:
            out.append(found.verdict)
    return out


def summarise(recs: list[dict[str, Any]], block: int, margin: float = st.MARGIN) -> dict[str, Any]:
    """The calibration of the bench's records: per point, part and backend, A/A false verdicts and the
    detections of the 10% and 5% slowdowns, with a sentence each."""
    design = st.sequential(st.MIN_ROUNDS, block) if block > st.MIN_ROUNDS else st.fixed(block)
    rows = {(r["point"]["id"], r["backend"]): r for r in recs if r.get("repeats")}
    bases = sorted({(pid, (r.get("ab") or {}).get("backend", r["backend"])) for (pid, _), r in rows.items()
                    if (r.get("ab") or {}).get("calibration")})
    results, sentences = [], []
    for pid, backend in bases:
        def series(suffix: str, part: str, pid: str = pid, backend: str = backend) -> dict[int, float]:
            rec = rows.get((pid, f"{backend}{suffix}"))
            return verdicts.by_round(rec, part) if rec else {}

        for part in verdicts.PARTS:
            def verdicts_of(pairs: Any, part: str = part) -> list[str]:
                return [v for x, y in pairs for v in _trials(series(x, part), series(y, part), block, design,
                                                             margin)]

            aa, disjoint = verdicts_of(ab.AA_PAIRS), verdicts_of(ab.AA_DISJOINT)
            false = sum(v in ("slower", "faster") for v in aa)
            entry: dict[str, Any] = {"point": pid, "backend": backend, "part": part, "block": block,
                                     "design": design.to_dict(), "margin": margin, "aa_trials": len(aa),
                                     "aa_false": false, "aa_false_rate": false / len(aa) if aa else None,
                                     "aa_disjoint": len(disjoint),
                                     "aa_disjoint_false": sum(v in ("slower", "faster") for v in disjoint),
                                     "power": {}}
            for slowdown, slowed in sorted(ab.POWER.items(), reverse=True):
                calls = verdicts_of([(slowed, plain) for plain in ab.PLAIN])
                hits = sum(v == "slower" for v in calls)
                entry["power"][f"{slowdown:.2f}"] = {"trials": len(calls), "detected": hits,
                                                     "rate": hits / len(calls) if calls else None,
                                                     "independent": len(calls) // len(ab.PLAIN)}
            results.append(entry)
            if part == "train" and aa:
                ten = entry["power"]["0.10"]
                five = entry["power"]["0.05"]
                sentences.append(
                    f"on this machine a 10% slowdown of {pid}/{backend} training is detected in "
                    f"{ten['rate']:.0%} of {ten['trials']} trials with {block} rounds (5%: "
                    f"{five['rate']:.0%} of {five['trials']}); A/A gave {entry['aa_false_rate']:.0%} false "
                    f"verdicts in {len(aa)} trials ({entry['aa_disjoint_false']} of the {len(disjoint)} "
                    f"disjoint ones)" if ten["trials"] else
                    f"{pid}/{backend}: too few rounds for a trial of {block}")
    return {"schema": records.BENCH_CALIBRATION, "bench_id": recs[0]["bench_id"] if recs else None,
            "block": block, "margin": margin, "results": results, "sentences": sentences}
