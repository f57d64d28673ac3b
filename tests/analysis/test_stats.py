"""analysis.stats against direct computations with scipy / statsmodels and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st
from statsmodels.stats.proportion import proportion_confint

from analysis.stats import binomial_test, clopper_pearson, pearson, proportion, summarize


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

