"""The independence tests of error consistency against brute force: every arrangement of small
tables for the exact test, the full multinomial enumeration for the Monte-Carlo null."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multinomial
from sklearn.metrics import cohen_kappa_score

from analysis.models.consistency import (
    bootstrap_ci,
    error_consistency,
    independence_test,
)


def kappa_by_hand(a, b) -> float:
    """Cohen's kappa on correct/incorrect from the definition (c_obs - c_exp) / (1 - c_exp)."""
    n = len(a)
    p1, p2 = sum(a) / n, sum(b) / n
    c_obs = sum(x == y for x, y in zip(a, b)) / n
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    return (c_obs - c_exp) / (1 - c_exp)


def permutation_p(a, b, alternative: str) -> float:
    """Exact conditional p-value: every arrangement of b's correct trials over the n trials is
    equally likely under independence given both marginals; the share at least as extreme."""
    n, r2 = len(a), sum(b)
    k_obs = kappa_by_hand(a, b)
    hits = total = 0
    for right in itertools.combinations(range(n), r2):
        bb = [i in right for i in range(n)]
        k = kappa_by_hand(a, bb)
        total += 1
        if alternative == "greater":
            hits += k >= k_obs - 1e-12
        elif alternative == "less":
            hits += k <= k_obs + 1e-12
        else:
            hits += abs(k) >= abs(k_obs) - 1e-12
    return hits / total


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_exact_test_equals_the_permutation_distribution_of_small_tables(alternative):
    """Every b over 7 trials (marginals not degenerate) against a fixed a, including b = a (the
    table at the top of the support) and b = not a (the bottom)."""
    a = [True, True, True, True, False, True, False]
    for bits in itertools.product([False, True], repeat=7):
        b = list(bits)
        if 0 < sum(b) < 7:
            res = independence_test(np.array(a), np.array(b), alternative=alternative)
            assert res.p_value == pytest.approx(permutation_p(a, b, alternative), abs=1e-12), b


def test_identical_observers_sit_at_the_top_of_the_support():
    """b = a: the most extreme table; its one-sided p is 1 / C(n, r) (the one arrangement)."""
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    res = independence_test(a, a, alternative="greater")
    assert res.kappa == 1.0
    assert res.p_value == pytest.approx(1 / 56)  # C(8, 5): five right of eight
    assert res.log10_p == pytest.approx(np.log10(1 / 56))
    assert independence_test(a, a, alternative="less").p_value == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=40))
def test_exact_null_has_mean_zero_and_the_permutation_sd(pairs):
    """Given the marginals, both-right is hypergeometric with mean r1 r2 / n, and kappa is linear
    in it and 0 there: the null mean is 0. Its SD follows from the hypergeometric variance."""
    a = np.array([x for x, _ in pairs])
    b = np.array([y for _, y in pairs])
    n, r1, r2 = len(a), int(a.sum()), int(b.sum())
    res = independence_test(a, b)
    if not np.isfinite(res.kappa):
        return
    assert res.null_mean == pytest.approx(0.0, abs=1e-9)
    var_n11 = r1 * r2 * (n - r1) * (n - r2) / (n**2 * (n - 1)) if n > 1 else 0.0
    den = n * (r1 + r2) - 2 * r1 * r2  # kappa = 2 (n n11 - r1 r2) / den
    assert res.null_sd == pytest.approx(2 * n * np.sqrt(var_n11) / den, abs=1e-9)
    # both one-sided p-values cover the observed table twice: P(>=) + P(<=) = 1 + P(=)
    g = independence_test(a, b, alternative="greater").p_value
    le = independence_test(a, b, alternative="less").p_value
    assert g + le >= 1.0 - 1e-9 and g <= 1 + 1e-12 and le <= 1 + 1e-12


def unconditional_null(n: int, p1: float, p2: float) -> tuple[np.ndarray, np.ndarray]:
    """Every 2x2 table of n trials of two independent Bernoulli observers: kappas and probabilities
    (tables with undefined kappa left out, the rest renormalised)."""
    cells = [p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)]
    ks, ws = [], []
    for c0 in range(n + 1):
        for c1 in range(n + 1 - c0):
            for c2 in range(n + 1 - c0 - c1):
                r1, r2 = c0 + c1, c0 + c2
                den = n * (r1 + r2) - 2 * r1 * r2
                if den:
                    ks.append(2 * (n * c0 - r1 * r2) / den)
                    ws.append(multinomial.pmf([c0, c1, c2, n - c0 - c1 - c2], n, cells))
    w = np.array(ws)
    return np.array(ks), w / w.sum()


@pytest.mark.parametrize("r1,r2", [(10, 4), (3, 9)])
def test_monte_carlo_null_of_unequal_accuracies_against_full_enumeration(r1, r2):
    """Independent observers right on r1 and r2 of 12 trials: null SD and two-sided p as enumerated."""
    n, n_sim = 12, 4000
    a = np.array([True] * r1 + [False] * (n - r1))
    b = np.array([True] * r2 + [False] * (n - r2))[::-1]
    ks, w = unconditional_null(n, r1 / n, r2 / n)
    sd = float(np.sqrt(np.sum(w * ks**2)))  # mean 0
    res = independence_test(a, b, method="monte-carlo", n_sim=n_sim, seed=8)
    assert abs(res.null_mean) < 4 * sd / np.sqrt(n_sim)
    assert res.null_sd == pytest.approx(sd, rel=0.05)
    p_exact = float(np.sum(w[np.abs(ks) >= abs(res.kappa) - 1e-12]))
    assert res.p_value == pytest.approx(p_exact, abs=4 * np.sqrt(p_exact * (1 - p_exact) / n_sim) + 1e-3)


def test_monte_carlo_null_moments_and_p_against_full_enumeration():
    """n = 20, both 18 right: the null's mean (0) is far from its median (-1/14), so the summary
    must be the mean; SD and p agree with the enumerated distribution within Monte-Carlo error."""
    n, n_sim = 20, 4000
    a = np.array([True] * 18 + [False] * 2)
    b = np.array([False] + [True] * 18 + [False])
    ks, w = unconditional_null(n, 0.9, 0.9)
    mean = float(np.sum(w * ks))
    sd = float(np.sqrt(np.sum(w * (ks - mean) ** 2)))
    order = np.argsort(ks)
    median = ks[order][np.searchsorted(np.cumsum(w[order]), 0.5)]
    assert mean == pytest.approx(0.0, abs=1e-12) and median == pytest.approx(-1 / 14)
    res = independence_test(a, b, method="monte-carlo", n_sim=n_sim, seed=5)
    se = sd / np.sqrt(n_sim)
    assert abs(res.null_mean - mean) < 4 * se
    assert res.null_sd == pytest.approx(sd, rel=0.05)
    k_obs = error_consistency(a, b)
    p_exact = float(np.sum(w[np.abs(ks) >= abs(k_obs) - 1e-12]))
    assert res.p_value == pytest.approx(p_exact, abs=4 * np.sqrt(p_exact * (1 - p_exact) / n_sim))
    assert res.kappa == pytest.approx(cohen_kappa_score(a, b))


def test_bootstrap_interval_leaves_a_quarter_of_five_percent_in_each_tail():
    """Against naive trial resampling (another seed): about 2.5 % of resampled kappas fall below
    the 95 % interval and about 2.5 % above it (5 % would mean a 90 % interval)."""
    rng = np.random.default_rng(12)
    a = rng.random(120) < 0.7
    b = np.where(rng.random(120) < 0.5, a, rng.random(120) < 0.7)
    lo, hi = bootstrap_ci(a, b, n_boot=4000, seed=1)
    idx = np.random.default_rng(2).integers(0, 120, size=(4000, 120))
    naive = np.array([error_consistency(a[i], b[i]) for i in idx])
    assert 0.012 < np.mean(naive < lo) < 0.04
    assert 0.012 < np.mean(naive > hi) < 0.04


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 30).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(0, n))))
def test_kappa_bounds_are_the_extremes_over_every_table(nrr):
    """For r1 and r2 right of n, every attainable table has n11 in max(0, r1 + r2 - n)..min(r1, r2);
    the bounds are the lowest and highest kappa over them (by the definition, by hand)."""
    from analysis.models.consistency import kappa_bounds

    n, r1, r2 = nrr
    kmin, kmax = kappa_bounds(r1 / n, r2 / n)
    p1, p2 = r1 / n, r2 / n
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    if c_exp == 1:
        assert np.isnan(kmin) and np.isnan(kmax)
        return
    ks = [((n11 + (n - r1 - r2 + n11)) / n - c_exp) / (1 - c_exp) for n11 in range(max(0, r1 + r2 - n), min(r1, r2) + 1)]
    assert (float(kmin), float(kmax)) == pytest.approx((min(ks), max(ks)), abs=1e-9)


def test_misuse_is_named_in_the_message():
    """Programming errors say which argument is wrong and how (ValueError, not a user error)."""
    with pytest.raises(ValueError, match=r"^a must hold correct/incorrect"):
        error_consistency(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^b must be one-dimensional, got shape \(1, 2\)"):
        error_consistency(np.array([0, 1]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"^a and b must have the same length, got 2 and 3$"):
        error_consistency(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"^error consistency needs at least one trial$"):
        error_consistency(np.array([], bool), np.array([], bool))
    from analysis.models.consistency import error_consistency_matrix

    with pytest.raises(ValueError, match=r"^decisions must be \(n_models, n_images\), got shape \(3,\)$"):
        error_consistency_matrix(np.ones(3, bool))
    with pytest.raises(ValueError, match=r"^error consistency needs at least one image$"):
        error_consistency_matrix(np.ones((2, 0), bool))
    one = error_consistency_matrix(np.array([[True], [False]]))  # one image is enough (kappa 0 or undefined)
    assert one.shape == (2, 2) and one[0, 1] == 0.0
