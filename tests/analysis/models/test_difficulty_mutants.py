"""Dichotomous data difficulty: the properties the mutation run of `analysis.models.difficulty`
found unpinned (docs/mutation/analysis.models.difficulty.md). Expected values by hand, from scipy,
or from closed forms of the chi-square tail."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special
from scipy.stats import binom, power_divergence

from analysis.models import difficulty as dif
from labutil.errors import UserError


def test_misuse_and_user_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"^expected \(n_models, n_images\), got shape \(3,\)$"):
        dif.models_correct(np.ones(3, bool))
    with pytest.raises(UserError, match=r"^no models to split images by$"):
        dif.difficulty(np.array([0]), 0, 0)
    with pytest.raises(UserError, match=r"^models-correct counts must lie in 0\.\.7, found 0\.\.8$"):
        dif.difficulty(np.array([0, 8, 3]), 7, 1)
    with pytest.raises(UserError, match=r"^models-correct counts must lie in 0\.\.7, found -1\.\.3$"):
        dif.difficulty(np.array([-1, 3]), 7, 1)
    with pytest.raises(UserError, match=r"^no images to split$"):
        dif.difficulty_shares(np.array([], int), 5, 1)
    with pytest.raises(ValueError, match=r"^counts and null pmf must both have n_models \+ 1 bins$"):
        dif.independence_test(np.array([1, 2, 3]), np.array([0.5, 0.5]))
    with pytest.raises(UserError, match=r"^no images to test$"):
        dif.independence_test(np.zeros(4), dif.binomial_pmf(3, 0.5))
    with pytest.raises(ValueError, match=r"^3 accuracies for 4 models$"):
        dif.null_histograms(np.array([1, 2, 3, 4, 5]), np.array([0.5, 0.6, 0.7]))


def test_one_model_and_the_edges_of_the_count_range():
    """A single model splits by k = 0: right -> trivial, wrong -> impossible; counts 0 and m are
    valid; an empty set of images gives an empty split."""
    assert dif.difficulty(np.array([1, 0, 1]), 1, 0).tolist() == ["trivial", "impossible", "trivial"]
    assert dif.difficulty(np.array([0, 5]), 5, 2).tolist() == ["impossible", "trivial"]
    empty = dif.difficulty(np.array([], int), 5, 1)
    assert empty.shape == (0,)


def test_histogram_has_one_bin_per_possible_count():
    assert dif.histogram(np.array([0, 1, 1]), 4).tolist() == [1, 2, 0, 0, 0]
    assert dif.histogram(np.array([], int), 2).tolist() == [0, 0, 0]
    assert dif.histogram(np.array([0.0, 2.0, 2.0]), 2).tolist() == [1, 0, 2]  # counts read as floats


def test_expected_counts_of_exactly_five_are_not_pooled():
    """The rule is 'every expected count >= 5': tails and interior bins of exactly 5 stay."""
    res = dif.independence_test(np.array([4, 11, 5]), np.array([0.25, 0.5, 0.25]))  # expected 5, 10, 5
    assert res.n_bins == 3 and res.dof == 1
    assert res.g == pytest.approx(power_divergence([4, 11, 5], [5, 10, 5], lambda_="log-likelihood")[0], rel=1e-12)
    res = dif.independence_test(np.array([9, 4, 7]), np.array([0.4, 0.25, 0.35]))  # expected 8, 5, 7
    assert res.n_bins == 3


def test_too_few_images_for_any_bin_leave_one_bin():
    """Expected 1, 1, 1: everything pools into one bin; G = 0 (the total is fixed), one degree of
    freedom (never fewer), p = 1."""
    res = dif.independence_test(np.array([2, 0, 1]), np.full(3, 1 / 3))
    assert (res.n_bins, res.dof, res.g, res.p_value, res.log10_p) == (1, 1, 0.0, 1.0, 0.0)
    two = dif.independence_test(np.array([3, 7]), np.array([0.5, 0.5]))  # two bins: dof floored at 1
    assert two.dof == 1 and two.n_bins == 2
    # expected 6, 2, 2: the right tail pools inwards until nothing is left but one bin
    assert dif.independence_test(np.array([5, 3, 2]), np.array([0.6, 0.2, 0.2])).n_bins == 1
    one = dif.independence_test(np.array([0, 1, 0]), np.array([0.25, 0.5, 0.25]))  # one image
    assert (one.n_bins, one.g, one.p_value) == (1, 0.0, 1.0)


def test_empty_observed_bins_contribute_nothing_to_g():
    """O ln(O / E) -> 0 as O -> 0 (scipy's xlogy): all images trivial or impossible, 4 models."""
    counts = np.array([40, 0, 0, 0, 60])
    pmf = dif.binomial_pmf(4, 0.6)  # expected 2.56, 15.36, 34.56, 34.56, 12.96: bin 0 joins bin 1
    res = dif.independence_test(counts, pmf, "binomial")
    exp = [2.56 + 15.36, 34.56, 34.56, 12.96]
    g = 2 * sum(special.xlogy(o, o / e) for o, e in zip([40, 0, 0, 60], exp))
    assert res.n_bins == 4 and res.g == pytest.approx(g, rel=1e-12)
    assert res.null == "binomial"
    # an observed count of 1 counts: 1 ln(1 / 30) is part of G
    res = dif.independence_test(np.array([1, 29, 70]), np.array([0.3, 0.3, 0.4]))
    assert res.g == pytest.approx(power_divergence([1, 29, 70], [30, 30, 40], lambda_="log-likelihood")[0], rel=1e-12)
    assert dif.independence_test(counts, pmf).null == "poisson-binomial"  # the default name


def test_a_histogram_equal_to_its_null_has_g_zero_never_below():
    """The binomial pmf and the Poisson-binomial of equal accuracies are one distribution; the
    expected histogram of one tested against the other gives G = 0 (rounding can make the raw
    sum -4e-15, but G >= 0 by Gibbs' inequality) and p = 1."""
    counts = dif.binomial_pmf(2, 0.1) * 1000
    res = dif.independence_test(counts, dif.poisson_binomial_pmf(np.full(2, 0.1)))
    assert res.g == 0.0 and res.p_value == 1.0


def test_dispersion_ratio_is_undefined_for_a_null_without_variance():
    """Two models that are always right: the null puts every image at 2 (variance 0)."""
    res = dif.independence_test(np.array([1, 2, 7]), dif.poisson_binomial_pmf(np.array([1.0, 1.0])))
    assert math.isnan(res.dispersion_ratio)


def test_dispersion_ratio_from_the_definition():
    """Var(observed count) / Var(null count), both population variances, by hand: counts 3, 1, 0,
    4 over 0..3 models (mean 1.625) against the binomial of p = 0.5 (variance 3/4)."""
    counts = np.array([3, 1, 0, 4])
    k = np.repeat(np.arange(4), counts)
    res = dif.independence_test(counts, dif.binomial_pmf(3, 0.5), "binomial", min_expected=0.0)
    assert res.dispersion_ratio == pytest.approx(np.var(k) / 0.75, rel=1e-12)


def log_sf_dof1(x: float) -> float:
    """ln P(chi2_1 > x) = ln(2 Phi(-sqrt x)), from scipy's log_ndtr (accurate in the far tail)."""
    return math.log(2) + float(special.log_ndtr(-math.sqrt(x)))


def log_sf_dof3(x: float) -> float:
    """ln P(chi2_3 > x) = ln(2 Phi(-sqrt x) + sqrt(2 x / pi) exp(-x / 2)), in log space."""
    return float(np.logaddexp(log_sf_dof1(x), 0.5 * math.log(2 * x / math.pi) - x / 2))


@pytest.mark.parametrize("x", [30.0, 1300.0, 1340.0, 1500.0, 5000.0, 1e5])
def test_chi2_log_sf_of_odd_degrees_of_freedom_against_closed_forms(x):
    """Odd dof (a = dof / 2 not an integer) on both sides of the switch to the asymptotic series
    (the survival function is ~1e-290 near x = 1330)."""
    assert dif.chi2_log_sf(x, 1) == pytest.approx(log_sf_dof1(x), rel=1e-12)
    assert dif.chi2_log_sf(x, 3) == pytest.approx(log_sf_dof3(x), rel=1e-12)


def test_log10_p_is_the_log_of_the_p_value():
    counts = np.array([30, 10, 12, 48])
    res = dif.independence_test(counts, dif.binomial_pmf(3, 0.6))
    assert res.log10_p == pytest.approx(math.log10(res.p_value), rel=1e-12)


def test_null_histograms_without_images_or_models():
    """No images: the mean accuracy is undefined, so is the binomial null; no Poisson-binomial
    without accuracies."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nulls = dif.null_histograms(np.zeros(4))
    assert list(nulls) == ["binomial"] and np.isnan(nulls["binomial"]).all()


def test_histogram_table_columns_from_the_definition():
    """Counts 1, 2, 0, 1 over 3 models (mean accuracy 5/12), label issues 0, 1, 0, 1, tolerance 1."""
    acc = np.array([0.2, 0.5, 0.6])
    t = dif.histogram_table(np.array([1, 2, 0, 1]), acc, np.array([0, 1, 0, 1]), tolerance=1)
    assert list(t.columns) == ["n_correct", "n_images", "n_label_issues", "expected_binomial",
                               "expected_poisson_binomial", "difficulty"]
    assert t["n_correct"].tolist() == [0, 1, 2, 3] and t["n_images"].tolist() == [1, 2, 0, 1]
    assert t["n_label_issues"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(t["expected_binomial"], 4 * binom.pmf(np.arange(4), 3, 5 / 12), rtol=1e-12)
    brute = np.zeros(4)
    for outcome in np.ndindex(2, 2, 2):
        brute[sum(outcome)] += np.prod([q if o else 1 - q for q, o in zip(acc, outcome)])
    np.testing.assert_allclose(t["expected_poisson_binomial"], 4 * brute, rtol=1e-12)
    assert t["difficulty"].tolist() == ["impossible", "impossible", "trivial", "trivial"]
    k0 = dif.histogram_table(np.array([1, 2, 0, 1]), tolerance=0)
    assert k0["difficulty"].tolist() == ["impossible", "in-between", "in-between", "trivial"]
    plain = dif.histogram_table(np.array([1, 2, 0, 1]))
    assert "n_label_issues" not in plain and "expected_poisson_binomial" not in plain


def test_split_table_with_and_without_flagged_images():
    """6 images over 4 models, counts 0 1 2 3 4 4, images 1 and 4 flagged; k = 0 and k = 1."""
    n = np.array([0, 1, 2, 3, 4, 4])
    flagged = np.array([0, 1, 0, 0, 1, 0], bool)
    t = dif.split_table(n, 4, [0, 1], flagged)
    assert list(t.columns) == ["tolerance", "label_issues", "n_images", "trivial", "in-between", "impossible"]
    assert t[["tolerance", "label_issues", "n_images"]].values.tolist() == [
        [0, "included", 6], [0, "excluded", 4], [1, "included", 6], [1, "excluded", 4]]
    # k = 0: trivial = 4 of 4 models (images 4, 5), impossible = 0 (image 0)
    assert t.iloc[0][["trivial", "in-between", "impossible"]].tolist() == pytest.approx([2 / 6, 3 / 6, 1 / 6])
    # without images 1 and 4: counts 0 2 3 4
    assert t.iloc[1][["trivial", "in-between", "impossible"]].tolist() == pytest.approx([1 / 4, 2 / 4, 1 / 4])
    # k = 1: trivial >= 3 right, impossible <= 1
    assert t.iloc[2][["trivial", "in-between", "impossible"]].tolist() == pytest.approx([3 / 6, 1 / 6, 2 / 6])
    assert t.iloc[3][["trivial", "in-between", "impossible"]].tolist() == pytest.approx([2 / 4, 1 / 4, 1 / 4])
    assert dif.split_table(n, 4, [1])["label_issues"].tolist() == ["included"]
    as_read = dif.split_table(n, 4, [0, 1], np.array([0, 1, 0, 0, 1, 0]))  # 0/1 flags of a CSV column
    assert as_read.equals(t)


def test_float32_histograms_and_pmfs_give_the_values_of_the_same_numbers():
    """Counts and null probabilities handed over as float32 (as a parquet column keeps them):
    G, its p and the dispersion ratio of those very numbers (float64 arithmetic, scipy), and the
    Poisson-binomial of float32 accuracies by brute force over the outcomes."""
    counts32 = np.array([11, 23, 41, 25], np.float32)
    pmf32 = np.array([0.1234567, 0.2345678, 0.3456789, 0.2962966], np.float32)
    counts, pmf = counts32.astype(np.float64), pmf32.astype(np.float64)
    res = dif.independence_test(counts32, pmf32)
    exp = pmf * counts.sum()
    g = 2 * np.sum(counts * np.log(counts / exp))
    assert res.g == pytest.approx(g, rel=1e-12)
    k = np.arange(4)
    mean_obs = np.sum(k * counts) / counts.sum()
    var_obs = np.sum((k - mean_obs) ** 2 * counts) / counts.sum()
    mean_null = np.sum(k * pmf)
    assert res.dispersion_ratio == pytest.approx(var_obs / np.sum((k - mean_null) ** 2 * pmf), rel=1e-12)
    p_mean = float(np.sum(k * counts) / (counts.sum() * 3))
    np.testing.assert_allclose(dif.null_histograms(counts32)["binomial"],
                               counts.sum() * binom.pmf(k, 3, p_mean), rtol=1e-12)
    acc32 = np.array([0.1234567, 0.3456789], np.float32)
    q = acc32.astype(np.float64)
    brute = [(1 - q[0]) * (1 - q[1]), q[0] * (1 - q[1]) + (1 - q[0]) * q[1], q[0] * q[1]]
    np.testing.assert_allclose(dif.poisson_binomial_pmf(acc32), brute, rtol=1e-14)
