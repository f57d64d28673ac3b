"""analysis.stats: the cases the first mutation run showed unpinned (docs/mutation/analysis.stats.md).

Expected values come from the definitions: binomial tails as exact sums of C(n, j) p^j (1 - p)^(n - j)
in fractions, Clopper-Pearson limits as beta quantiles, Holm's adjustment by its step-down formula
over the sorted p-values, chi-squared from expected = row sum * column sum / n.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy import stats as sst

from analysis.stats import (
    binomial_log10_p,
    binomial_test,
    chi2_cramers_v,
    clopper_pearson,
    format_p,
    holm,
    pearson,
    proportion,
    spearman,
    summarize,
)


def _pmf(j: int, n: int, p: Fraction) -> Fraction:
    return math.comb(n, j) * p**j * (1 - p) ** (n - j)


def _upper_tail(k: int, n: int, p: Fraction) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact."""
    return float(sum(_pmf(j, n, p) for j in range(k, n + 1)))


def _two_sided(k: int, n: int, p: Fraction) -> float:
    """The exact two-sided p-value: the probability of every outcome no more likely than k."""
    pk = _pmf(k, n, p)
    return float(sum(_pmf(j, n, p) for j in range(n + 1) if _pmf(j, n, p) <= pk))


def _all_nan(*values: float) -> bool:
    return all(isinstance(v, float) and math.isnan(v) for v in values)


# --- binomial: no trials, one trial, another null, other confidence levels


def test_no_trials_give_no_interval_no_test_and_no_proportion() -> None:
    assert _all_nan(*clopper_pearson(0, 0))
    assert _all_nan(binomial_test(0, 0), binomial_log10_p(0, 0))
    p = proportion(0, 0)
    assert (p.k, p.n) == (0, 0) and _all_nan(p.p, p.ci_low, p.ci_high, p.p_value)


def test_one_trial_is_a_real_test() -> None:
    """1 of 1 against 0.5: P(X >= 1) = 1/2, two-sided 1 (both outcomes equally likely)."""
    assert binomial_test(1, 1, alternative="greater") == pytest.approx(0.5, abs=1e-15)
    assert binomial_test(1, 1) == pytest.approx(1.0, abs=1e-15)
    assert binomial_log10_p(1, 1) == pytest.approx(math.log10(0.5), abs=1e-12)  # default: "greater"
    assert binomial_log10_p(9, 10) == pytest.approx(math.log10(11 / 1024), abs=1e-12)


def test_the_null_proportion_is_used() -> None:
    """5 of 8 against 1/4 (a four-way chance level): exact sums, not the 0.5 null."""
    q = Fraction(1, 4)
    assert binomial_test(5, 8, null=0.25) == pytest.approx(_two_sided(5, 8, q), rel=1e-9)
    assert binomial_test(5, 8, null=0.25, alternative="greater") == pytest.approx(_upper_tail(5, 8, q), rel=1e-9)
    prop = proportion(30, 40, null=0.25, alternative="greater")
    assert prop.null == 0.25 and prop.p_value == pytest.approx(_upper_tail(30, 40, q), rel=1e-9)
    assert proportion(30, 40, null=0.25).p_value == pytest.approx(_two_sided(30, 40, q), rel=1e-9)
    # the side asked for is used (at 0.5 the two-sided p is twice the one-sided: 22/1024 vs 11/1024)
    assert proportion(9, 10, alternative="greater").p_value == pytest.approx(11 / 1024, abs=1e-15)
    assert proportion(1, 10, alternative="less").p_value == pytest.approx(11 / 1024, abs=1e-15)
    assert proportion(9, 10, alternative="less").p_value == pytest.approx(1 - 1 / 1024, abs=1e-15)


@pytest.mark.parametrize("confidence", [0.9, 0.99])
def test_the_confidence_level_is_used(confidence: float) -> None:
    a = (1 - confidence) / 2
    exp = (sst.beta.ppf(a, 30, 11), sst.beta.ppf(1 - a, 31, 10))  # 30 of 40
    assert clopper_pearson(30, 40, confidence) == pytest.approx(exp, abs=1e-12)
    p = proportion(30, 40, confidence=confidence)
    assert (p.ci_low, p.ci_high) == pytest.approx(exp, abs=1e-12)


def test_two_sided_log10_p_is_capped_at_zero() -> None:
    """5 of 10: each tail is above 1/2, twice the smaller one above 1; p = 1, log10 p = 0."""
    assert binomial_log10_p(5, 10, alternative="two-sided") == 0.0
    assert binomial_log10_p(4, 10, alternative="two-sided") == pytest.approx(math.log10(772 / 1024), abs=1e-12)  # 2 * 386/1024


def test_binomial_log10_p_misuse_names_the_problem() -> None:
    with pytest.raises(ValueError, match=r"^two-sided log10 p is only defined here for null = 0\.5$"):
        binomial_log10_p(3, 10, null=0.25, alternative="two-sided")
    with pytest.raises(ValueError, match=r"^unknown alternative 'sideways'$"):
        binomial_log10_p(3, 10, alternative="sideways")


# --- Holm


def _holm_by_definition(p: list[float]) -> list[float]:
    """Sorted p_(1) <= ... <= p_(m): adjusted p_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, i in enumerate(order):
        out[i] = min(1.0, max((m - j) * p[order[j]] for j in range(rank + 1)))
    return out


@settings(max_examples=60, deadline=None)
@given(hst.lists(hst.one_of(hst.floats(0, 1), hst.just(float("nan"))), min_size=1, max_size=8))
def test_holm_is_the_step_down_formula(p: list[float]) -> None:
    got = holm(p)
    finite = [i for i, v in enumerate(p) if not math.isnan(v)]
    exp = _holm_by_definition([p[i] for i in finite])
    assert [i for i, v in enumerate(got) if not math.isnan(v)] == finite
    assert [got[i] for i in finite] == pytest.approx(exp, abs=1e-12)


def test_holm_small_cases_by_hand() -> None:
    assert list(holm([0.03])) == [0.03]  # one test: nothing to correct
    assert list(holm([0.6, 0.7])) == [1.0, 1.0]  # 2 * 0.6 capped at 1
    got = holm([0.01, None, 0.04])  # a missing p-value given as None is left out like NaN
    assert got[0] == pytest.approx(0.02) and math.isnan(got[1]) and got[2] == pytest.approx(0.04)


# --- format_p


@pytest.mark.parametrize("p,log10_p,text", [
    (0.5, None, "0.500"),  # three decimals from 0.001 up
    (0.1234, None, "0.123"),
    (0.001, None, "0.001"),
    (1e-300, None, "1e-300"),  # the floor itself is representable: not "< 1e-300"
    (2.345e-5, math.log10(2.345e-5), "2.3e-05"),  # log10 p shown only below 1e-10
    (1e-10, -10.0, "1e-10"),
    (1e-20, None, "1e-20"),
    (1e-20, -20.0, "1e-20 (log10 p = -20.0)"),
    (3.4e-150, math.log10(3.4e-150), "3.4e-150 (log10 p = -149.5)"),
])
def test_format_p_boundaries(p: float, log10_p: float | None, text: str) -> None:
    assert format_p(p, log10_p) == text


# --- summaries


def test_summarize_missing_values_and_small_sets() -> None:
    s = summarize([0.7, None, 0.9])  # None (a missing value) left out like NaN
    assert s.n == 2 and s.mean == pytest.approx(0.8) and s.sd == pytest.approx(math.sqrt(0.02))
    two = summarize([1.0, 3.0])  # sample SD of two values: |a - b| / sqrt(2)
    assert two.sd == pytest.approx(math.sqrt(2.0))
    empty = summarize([])
    assert empty.n == 0 and _all_nan(empty.mean, empty.sd, empty.min, empty.max, empty.median)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one value: the SD is undefined, said as NaN without a numpy warning
        one = summarize([2.5])
    assert one.n == 1 and math.isnan(one.sd) and (one.mean, one.min, one.max, one.median) == (2.5, 2.5, 2.5, 2.5)


def test_as_dict_holds_every_field() -> None:
    assert proportion(3, 4).as_dict() == {"k": 3, "n": 4, "p": 0.75, "ci_low": clopper_pearson(3, 4)[0],
                                          "ci_high": clopper_pearson(3, 4)[1], "p_value": binomial_test(3, 4),
                                          "null": 0.5}
    assert summarize([1.0, 2.0, 6.0]).as_dict() == pytest.approx(
        {"n": 3, "mean": 3.0, "sd": math.sqrt(7.0), "min": 1.0, "max": 6.0, "median": 2.0})
    c = pearson([1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 3.0])
    assert c.as_dict() == {"r": c.r, "ci_low": c.ci_low, "ci_high": c.ci_high, "p_value": c.p_value, "n": 4}
    a = chi2_cramers_v([[10, 20], [30, 40]])
    assert a.as_dict() == {"chi2": a.chi2, "dof": 1, "p_value": a.p_value, "cramers_v": a.cramers_v, "n": 100}


# --- correlations

X = [0.0, 0.5, 1.0, 0.2, 0.8, 0.3]  # range exactly 1
Y = [0.1, 0.4, 1.1, 0.3, 0.6, 0.5]  # range exactly 1


@pytest.mark.parametrize("fn,ref", [(pearson, sst.pearsonr), (spearman, sst.spearmanr)])
def test_a_range_of_one_is_not_constant(fn, ref) -> None:
    res = fn(X, Y)
    assert res.r == pytest.approx(float(ref(X, Y).statistic), abs=1e-12) and res.n == 6


@pytest.mark.parametrize("fn,ref", [(pearson, sst.pearsonr), (spearman, sst.spearmanr)])
def test_a_none_drops_its_pair_like_nan(fn, ref) -> None:
    x, y = list(X), list(Y)
    x[1], y[4] = None, None
    keep = [0, 2, 3, 5]
    res = fn(x, y)
    assert res.n == 4 and res.r == pytest.approx(float(ref([X[i] for i in keep], [Y[i] for i in keep]).statistic))


@pytest.mark.parametrize("fn", [pearson, spearman])
@pytest.mark.parametrize("constant", ["x", "y"])
def test_a_constant_side_gives_no_correlation_and_no_warning(fn, constant: str) -> None:
    x, y = ([2.0] * 6, Y) if constant == "x" else (X, [2.0] * 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # undefined, said as NaN (not a library warning in the report's output)
        res = fn(x, y)
    assert _all_nan(res.r, res.ci_low, res.ci_high, res.p_value) and res.n == 6


@pytest.mark.parametrize("fn,n", [(pearson, 2), (spearman, 3)])
def test_too_few_pairs_give_nan_in_every_field(fn, n: int) -> None:
    res = fn(X[:n], Y[:n])
    assert _all_nan(res.r, res.ci_low, res.ci_high, res.p_value) and res.n == n and isinstance(res.n, int)


@pytest.mark.parametrize("n", [6, 10])  # scipy's rho is exactly 1.0 for 6 points, 0.9999999999999999 for 10
@pytest.mark.parametrize("sign", [1, -1])
def test_a_perfect_rank_order_of_few_points_leaves_the_interval_open(n: int, sign: int) -> None:
    """rho = +-1 from a few points does not make rho certain: z = atanh(rho) is kept finite, so the
    interval's inner end is finite and short of +-1 (not the single point rho), its outer end +-1."""
    x = list(range(n))
    c = spearman(x, [sign * 2.0 * v for v in x])
    assert c.r == pytest.approx(sign, abs=1e-12)
    inner, outer = (c.ci_low, c.ci_high) if sign == 1 else (c.ci_high, c.ci_low)
    assert math.isfinite(inner) and 0.99 < abs(inner) < 1.0 and abs(inner) < abs(outer)
    assert outer == pytest.approx(sign, abs=1e-6)


# --- chi-squared and Cramér's V


def _chi2_by_hand(t: np.ndarray) -> float:
    e = t.sum(1, keepdims=True) * t.sum(0, keepdims=True) / t.sum()
    return float(((t - e) ** 2 / e).sum())


def test_an_empty_row_is_dropped_and_rows_and_columns_of_one_are_kept() -> None:
    a = chi2_cramers_v([[10, 20], [0, 0], [30, 40]])
    chi2 = _chi2_by_hand(np.array([[10.0, 20], [30, 40]]))
    assert (a.chi2, a.dof, a.n) == (pytest.approx(chi2), 1, 100)
    t = np.array([[1.0, 0, 0], [0, 4, 2], [0, 3, 5], [0, 3, 1]])  # a row and a column summing to 1
    b = chi2_cramers_v(t)
    assert t[0].sum() == 1 and t[:, 0].sum() == 1
    assert (b.chi2, b.dof, b.n) == (pytest.approx(_chi2_by_hand(t)), 6, int(t.sum()))


def test_cramers_v_of_a_three_by_three_table() -> None:
    """A diagonal 3 x 3 table: every column fixes the row, V = 1 and chi2 = n (3 - 1) = 32."""
    a = chi2_cramers_v([[5, 0, 0], [0, 7, 0], [0, 0, 4]])
    assert a.chi2 == pytest.approx(32.0) and a.dof == 4 and a.cramers_v == pytest.approx(1.0)
    t = np.array([[8.0, 2, 3], [1, 9, 4], [2, 3, 7]])
    assert chi2_cramers_v(t).cramers_v == pytest.approx(math.sqrt(_chi2_by_hand(t) / (t.sum() * 2)))


@pytest.mark.parametrize("table,n", [([], 0), ([[3, 5]], 8), ([[3], [5]], 8), ([[3, 0], [5, 0]], 8)])
def test_a_table_without_two_rows_and_two_columns_has_no_test(table: list, n: int) -> None:
    """One row or one (non-empty) column: independence cannot be tested; all NaN, dof 0, n counted."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = chi2_cramers_v(table)
    assert _all_nan(a.chi2, a.p_value, a.cramers_v) and a.dof == 0 and a.n == n
