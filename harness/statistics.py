"""The statistics of repeated measurements, in one place: the spread of repeats (median, min, max, n),
its relative width, ratios between figures, and the confidence intervals and verdicts of comparisons.
Every table, record and warning computes them here, so a figure reads the same wherever it is shown.

Comparisons (docs/bench.md, "Verdicts"):
- **paired** (``decide``): two rows measured round by round in one interleaved bench (backend vs
  backend, adapter vs reference, variant A vs B). The ratio is the geometric mean of the per-round
  ratios, its interval a t interval on the log ratios (quantile from ``scipy.stats.t``): pairing removes the
  drift both rows shared, which is what makes an interleaved bench tight.
- **sequential** (``Design``): an A/B bench looks at its rounds at a few fixed rounds (``looks``) and
  stops at the first that decides. Every look spends part of the error rate (a Kim-DeMets power
  function, alpha * t^rho of the rounds' fraction); an interval at a look has the confidence level
  1 - its share, so by the union bound all the looks' intervals hold together with probability
  >= 1 - alpha, whatever their correlation: stopping at any look keeps false verdicts <= alpha.
- **unpaired** (``unpaired``): two separate benches (a saved baseline and today's repeats): Welch's t
  interval on the log figures (``scipy.stats.ttest_ind``), and the smallest slowdown it could detect.

The spread helpers use the standard library only, so the training loop can use them in any backend's
environment; scipy is imported inside the functions that need it (the bench driver's and the report's
environment has it: it is a dependency of the harness core).
"""

from __future__ import annotations

import functools
import math
import statistics as _stats
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import UserError

Spread = dict[str, Any]  # {"median", "min", "max", "n"}: floats (None when there are no values) and a count

ALPHA = 0.05  # 95% intervals
MARGIN = 0.05  # default --margin: a ratio within 1 +- 5% is "the same"
MIN_ROUNDS = 6  # a paired comparison always has at least this many rounds
MAX_ROUNDS = 30  # default --max-rounds of a sequential A/B bench
RHO = 4.0  # the spending function's exponent: most of alpha is kept for the last looks (power at 30)
GROWTH = 1.35  # looks at rounds 6, 9, 13, 18, 25, 30: each about a third more rounds than the one before
VERDICTS = ("same", "slower", "faster", "inconclusive")
MOST_ROUNDS = 10_000  # "how many more rounds": beyond this, too many to say


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


# -- verdicts ---------------------------------------------------------------------------------------------
def check_margin(margin: float) -> float:
    """``--margin``: a fraction in (0, 0.5); anything else is a one-line error saying what works."""
    if not (isinstance(margin, (int, float)) and 0 < margin < 0.5):
        raise UserError(f"--margin {margin}: give a fraction between 0 and 0.5, exclusive (0.05: a ratio "
                        "within 1 +- 5% counts as the same speed)")
    return float(margin)


def verdict(low: float, high: float, margin: float = MARGIN) -> str:
    """The verdict of a ratio's interval ``[low, high]`` (A's throughput over B's): ``same`` when it lies
    inside 1 +- margin (a real but small difference is practically none), else ``slower`` (A) or
    ``faster`` when it excludes 1, else ``inconclusive``."""
    if 1 - margin <= low and high <= 1 + margin:
        return "same"
    if high < 1:
        return "slower"
    if low > 1:
        return "faster"
    return "inconclusive"


@functools.lru_cache(maxsize=4096)
def _t_quantile(q: float, df: int) -> float:
    """``scipy.stats.t.ppf``, remembered: a sequential bench and its calibration ask the same few."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


def _t_interval(logs: Sequence[float], level: float) -> tuple[float, float, float]:
    """Mean and t interval at ``level`` of ``logs`` (mean +- t quantile x standard error, the quantile
    from ``scipy.stats.t``); with no spread, the mean twice."""
    n = len(logs)
    mean = math.fsum(logs) / n
    if n < 2 or max(logs) - min(logs) < 1e-12:
        return mean, mean, mean
    half = _t_quantile(0.5 + level / 2, n - 1) * _stats.stdev(logs) / math.sqrt(n)
    return mean, mean - half, mean + half


def rounds_to_decide(sd: float, mean: float, n: int, alpha: float, margin: float) -> int | None:
    """About how many rounds in all a paired comparison with log ratios of this ``mean`` and ``sd``
    would need for its interval (at ``alpha``) to decide: to exclude 1, or to fit inside the margin,
    whichever comes first. None when more than ``MOST_ROUNDS`` (noise far above the margin); a plug-in
    estimate, "likely", not a promise."""
    inside = min(math.log1p(margin) - mean, mean - math.log1p(-margin))
    target = max(abs(mean), inside)  # the half-width that would decide
    if sd <= 0:
        return n
    if target <= 0:
        return None
    # half-width t_{N-1} * sd / sqrt(N) shrinks with N: the smallest N that reaches the target
    lo, hi = max(n, 2), MOST_ROUNDS
    if _t_quantile(1 - alpha / 2, hi - 1) * sd / math.sqrt(hi) >= target:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if _t_quantile(1 - alpha / 2, mid - 1) * sd / math.sqrt(mid) < target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class Design:
    """When a comparison is looked at and how much error each look may spend: ``looks`` (rounds, rising)
    and ``alphas`` (one per look, summing to the overall alpha). One look: a fixed-size comparison."""

    looks: tuple[int, ...]
    alphas: tuple[float, ...]

    def __post_init__(self) -> None:
        rising = list(self.looks) == sorted(set(self.looks))
        if not self.looks or len(self.looks) != len(self.alphas) or not rising:
            raise ValueError(f"a design needs rising looks, one alpha each: {self}")

    @property
    def alpha(self) -> float:
        return float(sum(self.alphas))

    @property
    def max_rounds(self) -> int:
        return self.looks[-1]

    def is_look(self, n: int) -> bool:
        return n in self.looks

    def to_dict(self) -> dict[str, Any]:
        return {"looks": list(self.looks), "alphas": list(self.alphas), "alpha": self.alpha}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Design:
        return cls(tuple(int(n) for n in data["looks"]), tuple(float(a) for a in data["alphas"]))


def fixed(n: int, alpha: float = ALPHA) -> Design:
    """A comparison looked at once, after all ``n`` rounds (a bench with ``--repeats n``)."""
    return Design((n,), (alpha,))


def sequential(min_rounds: int = MIN_ROUNDS, max_rounds: int = MAX_ROUNDS, alpha: float = ALPHA,
               rho: float = RHO) -> Design:
    """Looks from ``min_rounds`` to ``max_rounds``, each about ``GROWTH`` times the rounds of the one
    before, spending ``alpha * (n / max_rounds) ** rho`` by round n (Kim & DeMets' power family; rho 4
    keeps most for the last looks, like O'Brien-Fleming's boundary: with the union bound's price paid
    for every look, the 30th round keeps the power to find a 10% slowdown in bimodal noise)."""
    if max_rounds < min_rounds:
        raise UserError(f"--max-rounds {max_rounds}: give at least {min_rounds} (a paired comparison needs "
                        f"{min_rounds} rounds or more)")
    looks = [min_rounds]
    while looks[-1] < max_rounds:
        looks.append(min(max_rounds, max(looks[-1] + 1, math.ceil(looks[-1] * GROWTH))))
    if len(looks) > 1 and looks[-1] - looks[-2] < 2:  # a last look one round after the previous: merge
        looks.pop(-2)
    spent = [alpha * (n / max_rounds) ** rho for n in looks]
    return Design(tuple(looks), tuple(b - a for a, b in zip([0.0, *spent], spent, strict=False)))


@dataclass(frozen=True)
class Paired:
    """A paired comparison of row A against row B: ``ratio`` (A/B throughput, geometric mean of the
    per-round ratios), its interval ``[low, high]`` at ``level``, the ``verdict``, the rounds it used
    (``n``, the look it stopped at) of the ``rounds`` measured, and for an inconclusive one about how many
    rounds in all would likely decide (``rounds_needed``; None: decided, or too many to say)."""

    ratio: float
    low: float
    high: float
    level: float
    verdict: str
    n: int
    rounds: int
    rounds_needed: int | None = None

    @property
    def more_rounds(self) -> int | None:
        """Rounds beyond those measured that would likely decide an inconclusive comparison."""
        return None if self.rounds_needed is None else max(1, self.rounds_needed - self.rounds)

    def to_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "low": self.low, "high": self.high, "level": self.level,
                "verdict": self.verdict, "n": self.n, "rounds": self.rounds,
                "rounds_needed": self.rounds_needed}

    def interval(self) -> str:
        """``0.91x [0.88-0.94]``: how every table shows a paired ratio."""
        return f"{self.ratio:.2f}x [{self.low:.2f}-{self.high:.2f}]"

    def note(self) -> str:
        """What an inconclusive verdict would need, in words ('' otherwise)."""
        if self.verdict != "inconclusive":
            return ""
        if self.more_rounds is None:
            return f"too noisy to decide in under {MOST_ROUNDS:,} rounds"
        return f"about {self.more_rounds} more rounds would likely decide"


def log_ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``log(a_i / b_i)`` of the rounds where both figures are positive."""
    return [math.log(x / y) for x, y in zip(a, b, strict=False) if x and y and x > 0 and y > 0]


def decide(a: Sequence[float], b: Sequence[float], design: Design | None = None,
           margin: float = MARGIN) -> Paired | None:
    """Row A against row B from their per-round figures (``a[i]`` and ``b[i]`` measured in round i).

    With a sequential ``design``, the comparison stops at the first look whose interval (at that look's
    share of alpha) decides; rounds after it do not change the verdict. Without one, a single look at all
    rounds (alpha 0.05). None with fewer than two paired rounds."""
    logs = log_ratios(a, b)
    n = len(logs)
    if n < 2:
        return None
    design = design or fixed(n)
    looks = [(k, al) for k, al in zip(design.looks, design.alphas, strict=True) if k <= n]
    if len(design.looks) == 1:  # a fixed design: whatever rounds there are (an interrupted bench too)
        looks = [(n, design.alphas[0])]
    if not looks:  # fewer rounds than the first look: shown at the first look's level, undecided
        looks = [(n, design.alphas[0])]
    for i, (k, al) in enumerate(looks):
        mean, low, high = _t_interval(logs[:k], 1 - al)
        call = verdict(math.exp(low), math.exp(high), margin)
        last = i == len(looks) - 1
        if call != "inconclusive" or last:
            if call != "inconclusive" and k < design.looks[0]:
                call = "inconclusive"  # before the first look nothing is decided
            needed = None
            if call == "inconclusive":
                sd = _stats.stdev(logs[:k]) if k > 1 else 0.0
                needed = rounds_to_decide(sd, mean, k, al, margin)
            return Paired(math.exp(mean), math.exp(low), math.exp(high), 1 - al, call, k, n, needed)
    raise AssertionError("unreachable")


def undecided(comparisons: Sequence[Paired | None], design: Design) -> bool:
    """Whether a sequential bench must go on: a comparison is inconclusive and looks remain."""
    return any(c is None or c.verdict == "inconclusive" for c in comparisons) and any(
        c is None or c.rounds < design.max_rounds for c in comparisons)


# -- unpaired: separate benches ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Unpaired:
    """New figures against a baseline's, measured apart: ``ratio`` (new/base, of geometric means), its
    Welch t interval, the verdict, and ``detectable``: the smallest slowdown (a fraction) whose interval
    would exclude 1 with the spread and counts measured (None: too few repeats to say)."""

    ratio: float
    low: float | None
    high: float | None
    verdict: str
    detectable: float | None
    n_base: int
    n_new: int


def unpaired(base: Sequence[float], new: Sequence[float], margin: float = MARGIN,
             alpha: float = ALPHA) -> Unpaired | None:
    """Welch's t interval of log(new) - log(base) over separate repeats; ``detectable`` is the slowdown
    at which the interval's half-width equals the effect: ``1 - exp(-t * se)``. A side with one value
    gives a ratio and no interval (verdict ``inconclusive``). None when a side has no positive figure."""
    from scipy import stats

    lb = [math.log(v) for v in base if v and v > 0]
    ln = [math.log(v) for v in new if v and v > 0]
    if not lb or not ln:
        return None
    diff = sum(ln) / len(ln) - sum(lb) / len(lb)
    if len(lb) < 2 or len(ln) < 2:
        return Unpaired(math.exp(diff), None, None, "inconclusive", None, len(lb), len(ln))
    var_b, var_n = _stats.variance(lb), _stats.variance(ln)
    if var_b + var_n < 1e-24:
        low = high = diff
        detectable = 0.0
    else:
        ci = stats.ttest_ind(ln, lb, equal_var=False).confidence_interval(1 - alpha)
        low, high = float(ci.low), float(ci.high)
        detectable = 1 - math.exp(-(high - low) / 2)
    return Unpaired(math.exp(diff), math.exp(low), math.exp(high),
                    verdict(math.exp(low), math.exp(high), margin), detectable, len(lb), len(ln))
