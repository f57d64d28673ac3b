"""The G test of a models-correct histogram: bins pooled by hand, values from scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2, power_divergence

from analysis.models.difficulty import independence_test


def g_by_scipy(obs, exp, dof):
    """G statistic and p-value of pooled bins (scipy's log-likelihood power divergence)."""
    res = power_divergence(np.asarray(obs, float), np.asarray(exp, float), lambda_="log-likelihood")
    return float(res.statistic), float(chi2.sf(res.statistic, dof))


def test_interior_bins_below_five_expected_are_pooled():
    """A bimodal null (trivial or impossible, like the real data): expected 45, 2, 6, 2, 45 of 100.
    Tails need no pooling; interior bin 1 (2 expected) joins bin 2 (-> 8), bin 3 (2) joins bin 4
    (-> 47): three bins, expected 45, 8, 47, one degree of freedom (bins - 2)."""
    pmf = np.array([0.45, 0.02, 0.06, 0.02, 0.45])
    counts = np.array([40, 5, 5, 5, 45])
    res = independence_test(counts, pmf)
    assert res.n_bins == 3 and res.dof == 1
    g, p = g_by_scipy([40, 10, 50], [45, 8, 47], 1)
    assert res.g == pytest.approx(g, rel=1e-12)
    assert res.p_value == pytest.approx(p, rel=1e-9)


def test_tails_are_pooled_inwards_then_the_interior():
    """Expected 1, 3, 40, 1, 40, 10, 5 of 100: the left tail 1 + 3 + 40 -> 44 (pooled inwards until
    >= 5), the right tail 5 is kept, interior 1 joins its right neighbour 40 -> 41."""
    pmf = np.array([0.01, 0.03, 0.40, 0.01, 0.40, 0.10, 0.05])
    counts = np.array([3, 2, 35, 4, 38, 12, 6])
    res = independence_test(counts, pmf)
    assert res.n_bins == 4 and res.dof == 2
    g, p = g_by_scipy([40, 42, 12, 6], [44, 41, 10, 5], 2)
    assert res.g == pytest.approx(g, rel=1e-12)
    assert res.p_value == pytest.approx(p, rel=1e-9)


def test_no_pooling_when_every_bin_has_enough():
    pmf = np.array([0.2, 0.3, 0.5])
    counts = np.array([25, 25, 50])
    res = independence_test(counts, pmf, min_expected=5.0)
    assert res.n_bins == 3
    assert res.g == pytest.approx(g_by_scipy(counts, pmf * 100, 1)[0], rel=1e-12)


def test_the_right_tail_is_pooled_inwards_too():
    """Expected 30, 50, 15, 3, 2 of 100: the right tail 2 joins 3 (-> 5, enough): four bins."""
    pmf = np.array([0.30, 0.50, 0.15, 0.03, 0.02])
    counts = np.array([28, 49, 17, 2, 4])
    res = independence_test(counts, pmf)
    assert res.n_bins == 4 and res.dof == 2
    g, p = g_by_scipy([28, 49, 17, 6], [30, 50, 15, 5], 2)
    assert res.g == pytest.approx(g, rel=1e-12)
    assert res.p_value == pytest.approx(p, rel=1e-9)


def test_binomial_null_uses_the_mean_accuracy_of_the_histogram():
    """Histogram of 4 images over 3 models: 0, 1, 1, 3 right -> mean accuracy 5 / 12; the binomial
    null's expected counts are 4 C(3, k) p^k (1 - p)^(3 - k) (scipy), and the Poisson-binomial
    with equal accuracies equals it."""
    from scipy.stats import binom

    from analysis.models.difficulty import null_histograms

    counts = np.array([1, 2, 0, 1])
    nulls = null_histograms(counts, accuracies=np.full(3, 5 / 12))
    expected = 4 * binom.pmf(np.arange(4), 3, 5 / 12)
    np.testing.assert_allclose(nulls["binomial"], expected, rtol=1e-12)
    np.testing.assert_allclose(nulls["poisson-binomial"], expected, rtol=1e-12)
    assert nulls["binomial"].sum() == pytest.approx(4.0)


def test_a_small_last_bin_joins_its_left_neighbour():
    """Expected 30, 50, 16, 4 of 100: only the right tail (4) needs pooling: three bins 30, 50, 20."""
    pmf = np.array([0.30, 0.50, 0.16, 0.04])
    counts = np.array([33, 45, 15, 7])
    res = independence_test(counts, pmf)
    assert res.n_bins == 3 and res.dof == 1
    assert res.g == pytest.approx(g_by_scipy([33, 45, 22], [30, 50, 20], 1)[0], rel=1e-12)
