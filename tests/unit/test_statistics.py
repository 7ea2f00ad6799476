"""The verdict statistics on simulated rounds (fixed seeds): the paired interval against scipy's, the four
verdicts, the sequential design's calibration bars of issue 31 (A/A false verdicts <= 5%; a 10% slowdown
found >= 80% of the time within 30 rounds, in lognormal and in bimodal noise), and the unpaired test of
`compare`. No timing is measured: every figure is drawn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness import statistics as st
from harness.errors import UserError

TRIALS = 1000
BANDS = math.log(1664 / 1336)  # keras' two throughput bands (issue 31): a process lands in one or the other


def lognormal(rng: np.random.Generator, n: int, slowdown: float, sigma: float = 0.08):
    """Rows A (slowed by ``slowdown``) and B, each round's figure with ``sigma`` lognormal noise."""
    return (1 - slowdown) * np.exp(rng.normal(0, sigma, n)), np.exp(rng.normal(0, sigma, n))


def bimodal(rng: np.random.Generator, n: int, slowdown: float, sigma: float = 0.03):
    """As ``lognormal``, but every process in one of two bands 22% apart (plus 3% noise)."""
    def row():
        return np.exp(rng.choice([-BANDS / 2, BANDS / 2], n) + rng.normal(0, sigma, n))
    return (1 - slowdown) * row(), row()


def rates(noise, slowdown: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    design = st.sequential()
    calls = [st.decide(*noise(rng, st.MAX_ROUNDS, slowdown), design).verdict for _ in range(TRIALS)]
    return {v: calls.count(v) / TRIALS for v in st.VERDICTS}


def test_the_paired_ratio_is_the_geometric_mean_with_scipys_t_interval():
    rng = np.random.default_rng(0)
    b = rng.uniform(900, 1100, 9)
    a = b * np.exp(rng.normal(math.log(0.9), 0.03, 9))
    got = st.decide(a, b)
    logs = np.log(a / b)
    ci = stats.t.interval(0.95, 8, loc=logs.mean(), scale=stats.sem(logs))
    assert got.ratio == pytest.approx(math.exp(logs.mean()))
    assert (got.low, got.high) == pytest.approx((math.exp(ci[0]), math.exp(ci[1])))
    assert got.verdict == "slower" and got.n == got.rounds == 9 and got.level == pytest.approx(0.95)
    assert got.interval().startswith(f"{got.ratio:.2f}x [")
    assert st.decide([1.0], [1.0]) is None  # one round: no interval


def test_the_four_verdicts():
    assert st.verdict(0.97, 1.04) == "same"
    assert st.verdict(0.97, 0.99) == "same"  # a real difference inside the margin is none in practice
    assert st.verdict(0.85, 0.93) == "slower"
    assert st.verdict(1.07, 1.20) == "faster"
    assert st.verdict(0.90, 1.08) == "inconclusive"
    assert st.verdict(0.90, 1.08, margin=0.15) == "same"
    assert st.decide([2.0] * 6, [1.0] * 6).verdict == "faster"  # no spread: the ratio itself


@pytest.mark.parametrize("bad", [0, 0.5, -0.1, 0.7, float("nan")])
def test_a_margin_outside_0_and_half_is_refused(bad):
    with pytest.raises(UserError, match=r"--margin .*: give a fraction between 0 and 0.5"):
        st.check_margin(bad)
    assert st.check_margin(0.05) == 0.05


def test_an_inconclusive_comparison_says_how_many_more_rounds_would_likely_decide():
    rng = np.random.default_rng(3)
    a, b = lognormal(rng, 6, 0.06, sigma=0.05)
    got = st.decide(a, b)
    assert got.verdict == "inconclusive" and got.more_rounds is not None and got.more_rounds > 0
    assert f"about {got.more_rounds} more rounds would likely decide" == got.note()
    # drawing the estimated number of rounds from the same noise decides most of the time
    n = got.rounds + got.more_rounds
    calls = [st.decide(*lognormal(rng, n, 0.06, sigma=0.05)).verdict for _ in range(200)]
    assert calls.count("inconclusive") / 200 < 0.6
    # noise far above the margin: too many rounds to say, and it says so
    assert st.rounds_to_decide(5.0, 0.0, 10, 0.05, 0.05) is None
    assert "too noisy" not in got.note()


def test_the_sequential_design_spends_alpha_over_rising_looks():
    d = st.sequential()
    assert d.looks[0] == st.MIN_ROUNDS and d.looks[-1] == st.MAX_ROUNDS
    assert list(d.looks) == sorted(set(d.looks)) and d.alpha == pytest.approx(0.05)
    assert all(x > 0 for x in d.alphas) and d.alphas[-1] == max(d.alphas)  # most is kept for the end
    assert st.Design.from_dict(d.to_dict()) == d
    assert st.sequential(6, 6).looks == (6,)
    with pytest.raises(UserError, match="--max-rounds 4: give at least 6"):
        st.sequential(6, 4)


def test_a_sequential_comparison_stops_at_the_first_look_that_decides():
    rng = np.random.default_rng(5)
    a, b = lognormal(rng, 30, 0.30, sigma=0.02)  # a 30% slowdown in 2% noise: the first look decides
    got = st.decide(a, b, st.sequential())
    assert got.verdict == "slower" and got.n == 6 and got.rounds == 30
    assert got.level == pytest.approx(1 - st.sequential().alphas[0])
    # later rounds cannot undo it: the verdict of the first decisive look stands
    assert st.decide(a[:9], b[:9], st.sequential()).n == 6
    # fewer rounds than the first look: an interval, never a verdict
    assert st.decide(a[:4], b[:4], st.sequential()).verdict == "inconclusive"
    assert st.undecided([got], st.sequential()) is False
    assert st.undecided([st.decide(*lognormal(rng, 9, 0.0), st.sequential())], st.sequential()) is True


@pytest.mark.parametrize("noise", [lognormal, bimodal], ids=["lognormal-8%", "bimodal"])
def test_a_and_a_gives_at_most_five_percent_false_verdicts_under_repeated_looks(noise):
    got = rates(noise, 0.0, seed=11)
    assert got["slower"] + got["faster"] <= 0.05, got


@pytest.mark.parametrize("noise", [lognormal, bimodal], ids=["lognormal-8%", "bimodal"])
def test_a_ten_percent_slowdown_is_found_at_least_80_percent_of_the_time_within_30_rounds(noise):
    got = rates(noise, 0.10, seed=12)
    assert got["slower"] >= 0.80 and got["faster"] == 0 and got["same"] <= 0.01, got


def test_looking_every_round_at_95_percent_would_break_the_bar():
    """Why the design exists: the naive interval after every round from 6 to 30 finds a difference
    between identical rows far more often than 5%."""
    rng = np.random.default_rng(13)
    false = 0
    for _ in range(200):
        a, b = lognormal(rng, 30, 0.0)
        false += any(st.decide(a[:n], b[:n]).verdict in ("slower", "faster") for n in range(6, 31))
    assert false / 200 > 0.10


def test_unpaired_welch_interval_and_the_smallest_detectable_slowdown():
    rng = np.random.default_rng(17)
    base = 1000 * np.exp(rng.normal(0, 0.04, 9))
    new = 700 * np.exp(rng.normal(0, 0.04, 9))
    got = st.unpaired(base, new)
    ci = stats.ttest_ind(np.log(new), np.log(base), equal_var=False).confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((math.exp(ci.low), math.exp(ci.high)))
    assert got.verdict == "slower" and got.ratio == pytest.approx(0.7, rel=0.05)
    assert got.detectable == pytest.approx(1 - math.exp(-(ci.high - ci.low) / 2))
    assert 0.01 < got.detectable < 0.08  # 4% noise, 9 repeats a side: a few percent
    same = st.unpaired(base, base * 1.001)
    assert same.verdict == "same"
    single = st.unpaired([1000.0], [900.0])
    assert single.verdict == "inconclusive" and single.detectable is None and single.low is None
    assert st.unpaired([], [1.0]) is None
