"""Error consistency: pinned hand-computed values, agreement with sklearn and the scalar formula."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from analysis.models.consistency import (
    bootstrap_ci,
    error_consistency,
    error_consistency_matrix,
    independence_test,
    kappa_bounds,
)


def direct_kappa(a, b):
    """The formula of Geirhos et al. (2020), written out with plain Python arithmetic."""
    n = len(a)
    c_obs = sum(1 for x, y in zip(a, b) if bool(x) == bool(y)) / n
    p1, p2 = sum(map(bool, a)) / n, sum(map(bool, b)) / n
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    return (c_obs - c_exp) / (1 - c_exp)


def sk_kappa(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cohen_kappa_score(np.asarray(a, bool), np.asarray(b, bool))


def test_hand_computed_value():
    # both right 2, both wrong 1 of 5 -> c_obs 0.6; p1 = p2 = 0.6 -> c_exp 0.52; kappa 0.08 / 0.48
    a = [1, 1, 1, 0, 0]
    b = [1, 1, 0, 0, 1]
    assert error_consistency(np.array(a), np.array(b)) == pytest.approx(1 / 6, abs=1e-15)


def test_identical_and_opposite():
    a = np.array([True, False, True, True, False, False])
    assert error_consistency(a, a) == pytest.approx(1.0, abs=1e-15)
    assert error_consistency(a, ~a) == pytest.approx(-1.0, abs=1e-15)


def test_degenerate_cases():
    ones, zeros = np.ones(7, bool), np.zeros(7, bool)
    mixed = np.array([1, 0, 1, 1, 0, 0, 1], bool)
    # c_exp = 1: both always right, or both always wrong -> undefined (NaN), as sklearn
    assert np.isnan(error_consistency(ones, ones))
    assert np.isnan(error_consistency(zeros, zeros))
    assert np.isnan(sk_kappa(ones, ones))
    # one perfect observer: c_obs == c_exp -> 0
    assert error_consistency(ones, mixed) == 0.0
    assert error_consistency(zeros, mixed) == 0.0
    assert error_consistency(ones, zeros) == 0.0
    assert sk_kappa(ones, mixed) == pytest.approx(0.0, abs=1e-12)
    assert sk_kappa(ones, zeros) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_sklearn_and_formula(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    pa, pb = rng.uniform(0.05, 0.95, 2)
    a = rng.random(n) < pa
    b = np.where(rng.random(n) < 0.5, a, rng.random(n) < pb)
    if a.all() and b.all() or (~a).all() and (~b).all():
        pytest.skip("degenerate draw")
    k = error_consistency(a, b)
    assert k == pytest.approx(sk_kappa(a, b), abs=1e-12)
    assert k == pytest.approx(direct_kappa(a.tolist(), b.tolist()), abs=1e-12)


def test_edge_vectors_against_sklearn():
    cases = [
        ([1], [0]),
        ([1, 0], [1, 0]),
        ([1, 0], [0, 1]),
        ([1, 1, 1, 0], [1, 1, 1, 1]),
        ([0, 0, 0, 1], [0, 0, 0, 1]),
        ([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ([1] * 999 + [0], [1] * 998 + [0, 1]),
    ]
    for a, b in cases:
        a, b = np.array(a, bool), np.array(b, bool)
        assert error_consistency(a, b) == pytest.approx(sk_kappa(a, b), abs=1e-12), (a, b)


def test_matrix_equals_pairwise():
    rng = np.random.default_rng(1)
    base = rng.random(500) < 0.6
    d = np.array([np.where(rng.random(500) < q, base, rng.random(500) < 0.7) for q in np.linspace(0, 0.9, 8)])
    d[6] = True  # an always-right model
    d[7] = True  # and another one: their pair is undefined
    m = error_consistency_matrix(d)
    assert m.shape == (8, 8)
    for i in range(8):
        for j in range(8):
            expected = error_consistency(d[i], d[j])
            if np.isnan(expected):
                assert np.isnan(m[i, j])
            else:
                assert m[i, j] == pytest.approx(expected, abs=1e-12)
    np.testing.assert_allclose(m, m.T, atol=0, equal_nan=True)
    for i in range(6):
        assert m[i, i] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(m[6, 7]) and m[0, 6] == 0.0


def test_kappa_bounds_hand_computed():
    kmin, kmax = kappa_bounds(0.9, 0.6)
    # c_exp = 0.58; max c_obs = 0.6 + 0.1, min c_obs = 1 - (0.4 + 0.1)
    assert float(kmax) == pytest.approx(2 / 7, abs=1e-12)
    assert float(kmin) == pytest.approx(-4 / 21, abs=1e-12)
    kmin, kmax = kappa_bounds(0.5, 0.5)
    assert (float(kmin), float(kmax)) == pytest.approx((-1.0, 1.0))
    assert np.isnan(kappa_bounds(1.0, 1.0)[1])


def test_kappa_bounds_are_attained_and_hold():
    # the extreme tables at p1 = 0.9, p2 = 0.6 over 10 trials
    a = np.array([1] * 9 + [0], bool)
    b_max = np.array([1] * 6 + [0] * 4, bool)  # nested errors
    b_min = np.array([0] * 4 + [1] * 5 + [1], bool)  # errors of b where a is right, a's error where b is right
    kmin, kmax = kappa_bounds(0.9, 0.6)
    assert error_consistency(a, b_max) == pytest.approx(float(kmax), abs=1e-12)
    assert error_consistency(a, b_min) == pytest.approx(float(kmin), abs=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(50):
        b = rng.permutation(b_max)
        assert float(kmin) - 1e-12 <= error_consistency(a, b) <= float(kmax) + 1e-12


def test_bootstrap_ci_seeded_and_covering():
    rng = np.random.default_rng(5)
    a = rng.random(400) < 0.7
    b = np.where(rng.random(400) < 0.6, a, rng.random(400) < 0.7)
    lo, hi = bootstrap_ci(a, b, n_boot=1000, seed=11)
    assert (lo, hi) == bootstrap_ci(a, b, n_boot=1000, seed=11)
    k = error_consistency(a, b)
    assert lo < k < hi
    # the width agrees with Cohen's (1960) large-sample standard error, 2 * 1.96 * SE, within 10 %
    n, po = 400, np.mean(a == b)
    pe = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    se = np.sqrt(po * (1 - po) / (n * (1 - pe) ** 2))
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_bootstrap_equals_resampling_trials_in_distribution():
    # multinomial cell draws == resampling trials: compare the mean/SD of the two bootstrap distributions
    rng = np.random.default_rng(2)
    a = rng.random(200) < 0.6
    b = np.where(rng.random(200) < 0.5, a, rng.random(200) < 0.6)
    idx = np.random.default_rng(9).integers(0, 200, size=(3000, 200))
    naive = np.array([error_consistency(a[i], b[i]) for i in idx])
    lo, hi = bootstrap_ci(a, b, n_boot=3000, seed=4)
    nlo, nhi = np.percentile(naive, [2.5, 97.5])
    assert lo == pytest.approx(nlo, abs=0.03) and hi == pytest.approx(nhi, abs=0.03)


def test_independence_exact_matches_fisher():
    rng = np.random.default_rng(8)
    a = rng.random(120) < 0.6
    b = np.where(rng.random(120) < 0.3, a, rng.random(120) < 0.5)
    n11 = int(np.sum(a & b))
    table = [[n11, int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    res = independence_test(a, b, alternative="greater")
    assert res.p_value == pytest.approx(stats.fisher_exact(table, alternative="greater")[1], rel=1e-9)
    # two-sided by |kappa|, by brute-force enumeration of the hypergeometric support
    n, r1, r2 = 120, int(a.sum()), int(b.sum())
    p = 0.0
    for x in range(max(0, r1 + r2 - n), min(r1, r2) + 1):
        b2 = np.zeros(n, bool)
        # a table with x both-right trials: b right on x of a's right trials and r2 - x of a's wrong ones
        ia, iw = np.flatnonzero(a), np.flatnonzero(~a)
        b2[ia[:x]] = True
        b2[iw[: r2 - x]] = True
        if abs(error_consistency(a, b2)) >= abs(res.kappa) - 1e-12:
            p += stats.hypergeom.pmf(x, n, r1, r2)
    assert independence_test(a, b).p_value == pytest.approx(p, rel=1e-9)


def test_independence_null_and_alternative():
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.7
    indep = rng.random(300) < 0.7
    copy = np.where(rng.random(300) < 0.8, a, rng.random(300) < 0.7)
    assert independence_test(a, copy).p_value < 1e-10
    mc = independence_test(a, copy, method="monte-carlo", n_sim=2000, seed=1)
    assert mc.p_value == pytest.approx(1 / 2001)
    assert abs(mc.null_mean) < 0.01
    exact = independence_test(a, indep)
    assert exact.p_value > 0.05 and abs(exact.null_mean) < 0.01
    # independent draws: p-values roughly uniform -> about 5 % below 0.05
    ps = [independence_test(rng.random(200) < 0.6, rng.random(200) < 0.8).p_value for _ in range(400)]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.08


def test_bad_input():
    with pytest.raises(ValueError):
        error_consistency(np.array([1, 0]), np.array([1, 0, 1]))
    with pytest.raises(ValueError):
        error_consistency(np.array([1, 2]), np.array([1, 0]))
    with pytest.raises(ValueError):
        kappa_bounds(1.2, 0.5)


def test_log10_p_stays_finite_where_p_underflows():
    """One-sided exact test = hypergeometric upper tail; scipy's logsf is the independent reference."""
    from scipy.stats import hypergeom

    rng = np.random.default_rng(3)
    for n, copy_share in ((200, 0.3), (20000, 0.9)):
        a = rng.random(n) < 0.6
        b = np.where(rng.random(n) < copy_share, a, rng.random(n) < 0.6)
        t = independence_test(a, b, alternative="greater")
        n11, r1, r2 = int((a & b).sum()), int(a.sum()), int(b.sum())
        expected = hypergeom.logsf(n11 - 1, n, r1, r2) / np.log(10)
        assert t.log10_p == pytest.approx(expected, rel=1e-6)
        if n == 20000:
            assert t.p_value == 0.0 and t.log10_p < -300
        else:
            assert t.log10_p == pytest.approx(np.log10(t.p_value), rel=1e-9)
