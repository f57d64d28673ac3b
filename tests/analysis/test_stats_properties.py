"""Properties of the correlation wrappers: a pair with a NaN on either side is dropped, order does not matter."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst

from analysis.stats import pearson, spearman

X = [0.1, 0.4, 0.35, 0.8, 0.5, 0.9, 0.2, 0.65, 0.3, 0.7]
Y = [0.2, 0.5, 0.3, 0.7, 0.55, 0.8, 0.1, 0.6, 0.45, 0.9]


@pytest.mark.parametrize("fn,ref,min_n", [(pearson, sst.pearsonr, 3), (spearman, sst.spearmanr, 4)])
@pytest.mark.parametrize("side", ["x", "y", "both"])
def test_a_nan_on_either_side_drops_the_pair(fn, ref, min_n, side):
    """NaN in x at 2, in y at 5 (or both): the statistic is that of the 8 (9) complete pairs."""
    x, y = list(X), list(Y)
    drop = {"x": [2], "y": [5], "both": [2, 5]}[side]
    if side in ("x", "both"):
        x[2] = float("nan")
    if side in ("y", "both"):
        y[5] = float("nan")
    keep = [i for i in range(len(X)) if i not in drop]
    res = fn(x, y)
    expected = ref([X[i] for i in keep], [Y[i] for i in keep])
    assert res.n == len(keep)
    assert res.r == pytest.approx(float(expected.statistic), abs=1e-12)
    assert res.p_value == pytest.approx(float(expected.pvalue), rel=1e-9)
    assert math.isfinite(res.ci_low) and res.ci_low < res.r < res.ci_high


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10), st.booleans(), st.booleans()), min_size=6, max_size=30),
       st.randoms(use_true_random=False))
def test_pearson_ignores_the_order_of_pairs_and_their_nan_partners(rows, rnd):
    """Shuffling the pairs, or putting any value beside a NaN, changes nothing."""
    x = [np.nan if nx else a for a, _, nx, _ in rows]
    y = [np.nan if ny else b for _, b, _, ny in rows]
    base = pearson(x, y)
    idx = list(range(len(rows)))
    rnd.shuffle(idx)
    shuffled = pearson([x[i] for i in idx], [y[i] for i in idx])
    half = [np.isnan(x[i]) != np.isnan(y[i]) for i in range(len(x))]  # exactly one side missing
    other = pearson([123.0 if half[i] and np.isnan(y[i]) else x[i] for i in range(len(x))],
                    [-7.0 if half[i] and np.isnan(x[i]) else y[i] for i in range(len(y))])
    for res in (shuffled, other):
        assert res.n == base.n
        if math.isnan(base.r):
            assert math.isnan(res.r)
        else:
            assert res.r == pytest.approx(base.r, abs=1e-9)


def test_spearman_interval_uses_the_bonett_wright_standard_error():
    """z = atanh(rho) +- 1.96 sqrt((1 + rho^2 / 2) / (n - 3)), by hand (Bonett & Wright 2000)."""
    c = spearman(X, Y)
    rho, n = float(sst.spearmanr(X, Y).statistic), len(X)
    se = math.sqrt((1 + rho**2 / 2) / (n - 3))
    q = sst.norm.ppf(0.975)
    assert (c.ci_low, c.ci_high) == pytest.approx((math.tanh(math.atanh(rho) - q * se), math.tanh(math.atanh(rho) + q * se)),
                                                  abs=1e-12)
    wide = spearman(X, Y, confidence=0.99)
    assert wide.ci_low < c.ci_low and wide.ci_high > c.ci_high


def test_cramers_v_of_a_non_square_table_uses_its_shorter_side():
    """[[10, 0, 0], [0, 5, 5]]: the column fixes the row, so V = 1; chi2 = n (min(r, c) - 1) = 20."""
    from analysis.stats import chi2_cramers_v

    a = chi2_cramers_v([[10, 0, 0], [0, 5, 5]])
    assert a.chi2 == pytest.approx(20.0) and a.dof == 2 and a.n == 20
    assert a.cramers_v == pytest.approx(1.0)
    # an empty column is dropped first: the same table
    b = chi2_cramers_v([[10, 0, 0, 0], [0, 5, 0, 5]])
    assert (b.chi2, b.dof, b.cramers_v) == pytest.approx((a.chi2, a.dof, a.cramers_v))
    # a 3 x 2 table of partial association, V by hand from scipy's chi2
    t = np.array([[12, 3], [5, 9], [4, 11]])
    chi2 = float(sst.chi2_contingency(t, correction=False).statistic)
    assert chi2_cramers_v(t).cramers_v == pytest.approx(math.sqrt(chi2 / (t.sum() * 1)))


def test_too_few_complete_pairs_give_no_correlation():
    """Two points always lie on a line (r = +-1 says nothing): Pearson needs 3 complete pairs,
    Spearman (with its n - 3 in the interval) 4; NaN pairs do not count."""
    assert math.isnan(pearson([1.0, 2.0], [3.0, 1.0]).r)
    res = pearson([1.0, 2.0, np.nan, 4.0], [3.0, 1.0, 2.0, np.nan])
    assert math.isnan(res.r) and math.isnan(res.ci_low) and math.isnan(res.p_value) and res.n == 2
    assert math.isfinite(pearson([1.0, 2.0, 4.0], [3.0, 1.0, 2.0]).r)
    assert math.isnan(spearman([1.0, 2.0, 4.0], [3.0, 1.0, 2.0]).r)
    assert math.isfinite(spearman([1.0, 2.0, 4.0, 3.0], [3.0, 1.0, 2.0, 5.0]).r)
