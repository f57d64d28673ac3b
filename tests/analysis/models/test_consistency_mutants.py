"""Error consistency: the properties the mutation run of `analysis.models.consistency` found
unpinned (docs/mutation/analysis.models.consistency.md). Expected values come from the definition
(exact fractions, full enumeration of the resampling distribution), not from the code's output."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import multinomial

from analysis.models.consistency import (
    bootstrap_ci,
    error_consistency,
    error_consistency_matrix,
    independence_test,
    kappa_bounds,
    kappa_from_counts,
)


def kappa_fraction(n11: int, r1: int, r2: int, n: int) -> float:
    """(c_obs - c_exp) / (1 - c_exp) in exact rational arithmetic."""
    c_obs = Fraction(n11 + (n - r1 - r2 + n11), n)
    p1, p2 = Fraction(r1, n), Fraction(r2, n)
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    return float((c_obs - c_exp) / (1 - c_exp))


def test_counts_of_32_bit_integers_do_not_overflow():
    """ImageNet-sized counts (50,000 trials) held as int32: n * n11 exceeds 2**31, the result must
    still be the exact kappa."""
    n, n11, r1, r2 = 50000, 45000, 46000, 47000
    expected = kappa_fraction(n11, r1, r2, n)
    got = kappa_from_counts(np.array([n11], np.int32), np.array([r1], np.int32), np.array([r2], np.int32), n)
    assert got[0] == pytest.approx(expected, abs=1e-15)


def test_undefined_kappa_is_nan_without_a_warning():
    """c_exp = 1 (both always right or both always wrong) is NaN by definition, not a 0/0 warning."""
    ones = np.ones(5, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(kappa_from_counts(0, 0, 0, 5))
        assert np.isnan(error_consistency(ones, ones))
        assert np.isnan(error_consistency_matrix(np.ones((2, 5), bool))[0, 1])
        kmin, kmax = kappa_bounds(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
        assert np.isnan(kmin).all() and np.isnan(kmax).all()


def test_matrix_is_exact_above_two_to_the_24_images():
    """Above 2**24 images a float32 count is no longer exact (16,777,217 is not a float32); the
    matrix must still equal the pairwise kappa of exact integer counts."""
    n = 2**24 + 400
    d = np.ones((2, n), bool)
    d[1, :101] = False
    d[0, 200:202] = False  # both right on 2**24 + 297 trials: odd, above 2**24
    m = error_consistency_matrix(d)
    n11 = int(np.count_nonzero(d[0] & d[1]))
    r1, r2 = int(np.count_nonzero(d[0])), int(np.count_nonzero(d[1]))
    assert n11 > 2**24 and n11 % 2 == 1
    assert m[0, 1] == pytest.approx(kappa_fraction(n11, r1, r2, n), abs=1e-12)
    assert m[1, 0] == m[0, 1]


def test_kappa_bounds_refuse_an_accuracy_outside_zero_one_on_either_side():
    for p1, p2 in ((0.5, 1.2), (0.5, -0.1), (1.5, 0.5), (-0.2, 0.5), (0.5, 1.5)):
        with pytest.raises(ValueError, match=r"^accuracies must lie in \[0, 1\]$"):
            kappa_bounds(p1, p2)
    assert kappa_bounds(0.0, 1.0) == (0.0, 0.0)  # the edges themselves are accuracies


def test_kappa_bounds_of_float32_accuracies_are_those_of_the_same_numbers():
    """Accuracies handed over as float32 (as a parquet column keeps them): the bounds of those
    very numbers, computed exactly (not rounded to float32 on the way)."""
    p1, p2 = np.float32(0.1), np.float32(0.2)
    q1, q2 = Fraction(float(p1)), Fraction(float(p2))
    c_exp = q1 * q2 + (1 - q1) * (1 - q2)
    obs_max = min(q1, q2) + min(1 - q1, 1 - q2)
    obs_min = 1 - (min(q1, 1 - q2) + min(1 - q1, q2))
    kmin, kmax = kappa_bounds(np.array([p1]), np.array([p2]))
    assert kmin[0] == pytest.approx(float((obs_min - c_exp) / (1 - c_exp)), abs=1e-15)
    assert kmax[0] == pytest.approx(float((obs_max - c_exp) / (1 - c_exp)), abs=1e-15)


def test_bootstrap_with_a_perfect_observer_is_zero():
    """a always right: every resample has kappa 0 (or undefined, when b is resampled all right)."""
    a = np.ones(12, bool)
    b = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1], bool)
    assert bootstrap_ci(a, b, n_boot=500, seed=3) == (0.0, 0.0)
    assert bootstrap_ci(~a, b, n_boot=500, seed=3) == (0.0, 0.0)  # always wrong: also 0


def test_bootstrap_of_observers_who_never_err_is_undefined():
    ones = np.ones(9, bool)
    lo, hi = bootstrap_ci(ones, ones, n_boot=200)
    assert math.isnan(lo) and math.isnan(hi)


def test_bootstrap_of_a_single_trial():
    """One trial, a right and b wrong: every resample is that table, kappa 0."""
    assert bootstrap_ci(np.array([True]), np.array([False]), n_boot=100) == (0.0, 0.0)


def resampling_distribution(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kappa of every 2x2 table a resample of the n trials can give, with its probability
    (multinomial over the observed cell shares), undefined tables left out and renormalised."""
    n = a.size
    shares = np.array([np.mean(a & b), np.mean(a & ~b), np.mean(~a & b), np.mean(~a & ~b)])
    tables = np.array([(c0, c1, c2, n - c0 - c1 - c2) for c0 in range(n + 1) for c1 in range(n + 1 - c0)
                       for c2 in range(n + 1 - c0 - c1)])
    w = multinomial.pmf(tables, n, shares)
    # undefined (c_exp = 1) where both are always right or both always wrong: r1 + r2 is 0 or 2n
    ks = np.array([kappa_fraction(t[0], t[0] + t[1], t[0] + t[2], n) if 0 < 2 * t[0] + t[1] + t[2] < 2 * n
                   else np.nan for t in tables])
    keep = np.isfinite(ks) & (w > 0)
    return ks[keep], w[keep] / w[keep].sum()


def test_bootstrap_interval_is_the_percentile_interval_of_the_asked_level():
    """Level 0.5 over 30 trials: each end leaves a quarter of the (fully enumerated) resampling
    distribution outside, within Monte-Carlo error of 20,000 resamples."""
    a = np.array([1] * 18 + [0] * 12, bool)
    b = np.array([1] * 12 + [0] * 4 + [1] * 6 + [0] * 8, bool)
    ks, w = resampling_distribution(a, b)
    lo, hi = bootstrap_ci(a, b, n_boot=20000, level=0.5, seed=7)
    delta = 4 * math.sqrt(0.25 * 0.75 / 20000)
    assert w[ks < lo].sum() <= 0.25 + delta and w[ks <= lo].sum() >= 0.25 - delta
    assert w[ks > hi].sum() <= 0.25 + delta and w[ks >= hi].sum() >= 0.25 - delta


def test_bootstrap_interval_shrinks_to_the_median_and_widens_with_the_level():
    rng = np.random.default_rng(4)
    a = rng.random(400) < 0.7
    b = np.where(rng.random(400) < 0.5, a, rng.random(400) < 0.7)
    lo0, hi0 = bootstrap_ci(a, b, n_boot=2000, level=1e-6, seed=2)
    lo95, hi95 = bootstrap_ci(a, b, n_boot=2000, level=0.95, seed=2)
    lo99, hi99 = bootstrap_ci(a, b, n_boot=2000, level=0.99, seed=2)
    assert lo0 <= hi0 and hi0 - lo0 < 1e-3 * (hi95 - lo95)
    assert lo95 < lo0 < hi95
    assert lo99 <= lo95 < hi95 <= hi99


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_bootstrap_refuses_a_level_outside_the_open_unit_interval(level):
    a = np.array([1, 0, 1, 1], bool)
    with pytest.raises(ValueError, match=r"^level must lie in \(0, 1\)$"):
        bootstrap_ci(a, a, level=level)


@pytest.mark.parametrize("f", [bootstrap_ci, independence_test])
def test_bootstrap_and_test_name_the_misused_argument(f):
    with pytest.raises(ValueError, match=r"^a must hold correct/incorrect"):
        f(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^b must hold correct/incorrect"):
        f(np.array([0, 1]), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"^a must be one-dimensional"):
        f(np.array([[0, 1]]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"^b must be one-dimensional"):
        f(np.array([0, 1]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match=r"^a and b must be non-empty and of the same length$"):
        f(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"^a and b must be non-empty and of the same length$"):
        f(np.array([], bool), np.array([], bool))


def test_independence_test_of_a_single_trial():
    """One trial: the only table there is, so p = 1 and the null is the point kappa 0."""
    res = independence_test(np.array([True]), np.array([False]))
    assert (res.kappa, res.p_value, res.null_mean, res.null_sd, res.log10_p) == (0.0, 1.0, 0.0, 0.0, 0.0)


def test_undefined_kappa_gives_an_undefined_test_of_the_asked_method():
    ones = np.ones(6, bool)
    for method in ("exact", "monte-carlo"):
        res = independence_test(ones, ones, method=method)
        assert res.method == method
        for value in (res.kappa, res.p_value, res.null_mean, res.null_sd, res.log10_p):
            assert math.isnan(value)


def test_p_value_is_at_most_one_where_every_table_is_as_extreme():
    """One right trial each of five, on different trials: kappa -1/4; the only other table
    (both right on the same trial) has kappa 1, so every table is at least as extreme and
    p = 1 exactly (the summed hypergeometric probabilities round to 1 + 4e-16)."""
    a = np.array([1, 0, 0, 0, 0], bool)
    b = np.array([0, 1, 0, 0, 0], bool)
    res = independence_test(a, b)
    assert res.kappa == -0.25
    assert res.p_value == 1.0 and res.log10_p == 0.0
    assert independence_test(a, b, alternative="greater").p_value == 1.0
    assert independence_test(a, b, alternative="greater").log10_p == 0.0


def test_results_say_their_method_and_the_monte_carlo_log10_p():
    rng = np.random.default_rng(6)
    a = rng.random(80) < 0.6
    b = np.where(rng.random(80) < 0.4, a, rng.random(80) < 0.6)
    assert independence_test(a, b).method == "exact"
    mc = independence_test(a, b, method="monte-carlo", n_sim=500, seed=3)
    assert mc.method == "monte-carlo"
    assert mc.log10_p == pytest.approx(math.log10(mc.p_value), rel=1e-12)


def test_monte_carlo_null_is_seeded():
    """The same seed gives the same null (a report can be rerun); another seed another draw."""
    rng = np.random.default_rng(6)
    a = rng.random(60) < 0.6
    b = np.where(rng.random(60) < 0.2, a, rng.random(60) < 0.6)
    one = independence_test(a, b, method="monte-carlo", n_sim=300, seed=11)
    assert one == independence_test(a, b, method="monte-carlo", n_sim=300, seed=11)
    other = independence_test(a, b, method="monte-carlo", n_sim=300, seed=12)
    assert (one.null_mean, one.null_sd) != (other.null_mean, other.null_sd)


def test_an_unknown_method_or_alternative_is_refused_by_name():
    """A misspelt alternative must not silently give the two-sided p (nor a method go unchecked
    where kappa is undefined)."""
    a = np.array([1, 0, 1, 1, 0, 1], bool)
    b = np.array([1, 1, 0, 1, 0, 1], bool)
    with pytest.raises(ValueError, match=r"^unknown alternative 'Greater' \(two-sided, greater or less\)$"):
        independence_test(a, b, alternative="Greater")
    with pytest.raises(ValueError, match=r"^unknown method 'fisher' \(exact or monte-carlo\)$"):
        independence_test(a, b, method="fisher")
    ones = np.ones(6, bool)
    with pytest.raises(ValueError, match=r"^unknown method 'fisher'"):
        independence_test(ones, ones, method="fisher")
    with pytest.raises(ValueError, match=r"^unknown alternative 'two_sided'"):
        independence_test(ones, ones, alternative="two_sided")


def test_kappa_bounds_stay_within_minus_one_one_where_c_exp_rounds_to_one():
    """Accuracies so small (or so close to 1) that c_exp rounds to 1 while the lowest c_obs does
    not (p1 = p2 = 3.2e-17: c_obs_min = 1 - 2p < 1): NaN, never -inf, and no division warning;
    elsewhere within [-1, 1]."""
    tiny = np.array([3.1622776601683796e-17, 1e-17, 1e-300, 0.0, 1.0, 1 - 1e-16, 0.3, 0.9])
    p1, p2 = np.meshgrid(tiny, tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kmin, kmax = kappa_bounds(p1, p2)
    for k in (kmin, kmax):
        assert not np.isinf(k).any()
        finite = k[np.isfinite(k)]
        assert ((finite >= -1) & (finite <= 1)).all()
    assert np.isnan(kappa_bounds(3.1622776601683796e-17, 3.1622776601683796e-17)[0])
