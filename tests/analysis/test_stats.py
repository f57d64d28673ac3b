"""analysis.stats against direct computations with scipy / statsmodels and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.proportion import proportion_confint

from analysis.stats import (binomial_log10_p, binomial_test, chi2_cramers_v, clopper_pearson, format_p, holm, pearson,
                            proportion, spearman, summarize)


@pytest.mark.parametrize("k,n", [(120, 149), (0, 10), (10, 10), (7, 9), (1, 1)])
def test_clopper_pearson_is_the_beta_quantile_interval(k, n):
    low, high = clopper_pearson(k, n)
    exp_low = 0.0 if k == 0 else st.beta.ppf(0.025, k, n - k + 1)
    exp_high = 1.0 if k == n else st.beta.ppf(0.975, k + 1, n - k)
    assert low == pytest.approx(exp_low, abs=1e-12)
    assert high == pytest.approx(exp_high, abs=1e-12)
    assert (low, high) == pytest.approx(proportion_confint(k, n, alpha=0.05, method="beta"), abs=1e-12)


def test_binomial_test_hand_computed_and_scipy():
    # 9 of 10 against 0.5: P(X >= 9) = 11/1024, two-sided (symmetric) 22/1024
    assert binomial_test(9, 10) == pytest.approx(22 / 1024, abs=1e-15)
    assert binomial_test(121, 149) == pytest.approx(st.binomtest(121, 149, 0.5).pvalue, rel=1e-12)
    assert binomial_test(5, 10) == pytest.approx(1.0)


def test_proportion_bundles_the_three():
    p = proportion(30, 40)
    assert p.p == 0.75 and p.k == 30 and p.n == 40
    assert (p.ci_low, p.ci_high) == pytest.approx(clopper_pearson(30, 40))
    assert p.p_value == pytest.approx(st.binomtest(30, 40).pvalue)


def test_summarize_uses_sample_sd_and_ignores_nan():
    s = summarize([0.7, 0.8, 0.9, float("nan")])
    assert s.n == 3 and s.mean == pytest.approx(0.8) and s.sd == pytest.approx(0.1)
    assert (s.min, s.max, s.median) == pytest.approx((0.7, 0.9, 0.8))
    assert math.isnan(summarize([1.0]).sd)
    assert summarize([]).n == 0


def test_pearson_matches_scipy_and_fisher_z_interval():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = 0.5 * x + rng.normal(size=40)
    c = pearson(x, y)
    r, p = st.pearsonr(x, y)
    assert c.r == pytest.approx(r, abs=1e-12) and c.p_value == pytest.approx(p, rel=1e-9)
    z, se, q = math.atanh(r), 1 / math.sqrt(40 - 3), st.norm.ppf(0.975)
    assert c.ci_low == pytest.approx(math.tanh(z - q * se), abs=1e-9)
    assert c.ci_high == pytest.approx(math.tanh(z + q * se), abs=1e-9)
    assert c.n == 40


def test_pearson_undefined_for_constant_input():
    assert math.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4]).r)



def test_one_sided_binomial_and_log10_p():
    # 9 of 10 above 0.5: P(X >= 9) = 11/1024
    assert binomial_test(9, 10, alternative="greater") == pytest.approx(11 / 1024, abs=1e-15)
    assert binomial_log10_p(9, 10, alternative="greater") == pytest.approx(math.log10(11 / 1024), abs=1e-12)
    assert binomial_log10_p(9, 10, alternative="two-sided") == pytest.approx(math.log10(22 / 1024), abs=1e-12)
    assert binomial_log10_p(1, 10, alternative="less") == pytest.approx(math.log10(11 / 1024), abs=1e-12)
    # 2000 of 2000: p = 2^-2000 underflows to 0, its log10 does not
    assert binomial_test(2000, 2000, alternative="greater") == 0.0
    assert binomial_log10_p(2000, 2000, alternative="greater") == pytest.approx(-2000 * math.log10(2), rel=1e-9)


def test_holm_matches_statsmodels_multipletests():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, np.nan])
    exp = multipletests(p[:5], method="holm")[1]
    got = holm(p)
    assert got[:5] == pytest.approx(exp, abs=1e-15) and math.isnan(got[5])
    assert holm([0.01, 0.02]) == pytest.approx([0.02, 0.02])  # hand: 2 * 0.01, max(2 * 0.01, 1 * 0.02)


def test_format_p_below_the_range_and_ordinary():
    assert format_p(0.0) == "< 1e-300"
    assert format_p(0.0, -602.06) == "< 1e-300 (log10 p = -602.1)"
    assert format_p(0.0312) == "0.031"
    assert format_p(2.345e-5) == "2.3e-05"
    assert format_p(float("nan")) == "n/a" and format_p(None) == "n/a"


def test_spearman_matches_scipy_and_chi2_cramers_v_hand_computed():
    rng = np.random.default_rng(3)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    c = spearman(x, y)
    assert c.r == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-12)
    assert c.p_value == pytest.approx(st.spearmanr(x, y).pvalue, rel=1e-10)
    assert c.ci_low < c.r < c.ci_high
    # 2x2 table [[10, 20], [30, 40]]: chi2 by hand, V = sqrt(chi2 / n)
    t = np.array([[10, 20], [30, 40]])
    e = t.sum(1, keepdims=True) * t.sum(0, keepdims=True) / t.sum()
    chi2 = float(((t - e) ** 2 / e).sum())
    a = chi2_cramers_v(t)
    assert a.chi2 == pytest.approx(chi2) and a.dof == 1 and a.cramers_v == pytest.approx(math.sqrt(chi2 / 100))
    assert a.p_value == pytest.approx(st.chi2.sf(chi2, 1))
