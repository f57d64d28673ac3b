"""Rater agreement against published worked examples and direct computations (statsmodels, sklearn)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from analysis.humans import raters as ar

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, missing data.
KRIPP = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]).T
# Fleiss (1971) as in the usual worked example: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS_TABLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])
# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(2,1) = 0.29.
SHROUT = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)


def test_krippendorff_alpha_published_values():
    assert ar.krippendorff_alpha(KRIPP, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert ar.krippendorff_alpha(KRIPP, "interval") == pytest.approx(0.849, abs=5e-4)


def test_krippendorff_interval_without_missing_matches_pairwise_definition():
    r = np.random.default_rng(1).integers(0, 6, size=(15, 4)).astype(float)
    vals = r.ravel()
    n = vals.size
    d_o = sum(sum((a - b) ** 2 for i, a in enumerate(u) for j, b in enumerate(u) if i != j) / (len(u) - 1) for u in r) / n
    d_e = sum((a - b) ** 2 for i, a in enumerate(vals) for j, b in enumerate(vals) if i != j) / (n * (n - 1))
    assert ar.krippendorff_alpha(r, "interval") == pytest.approx(1 - d_o / d_e, abs=1e-12)


def test_fleiss_kappa_worked_example_and_statsmodels():
    assert ar.fleiss_kappa_counts(FLEISS_TABLE) == pytest.approx(0.210, abs=5e-4)
    r = np.random.default_rng(2).integers(0, 3, size=(30, 5)).astype(float)
    table = aggregate_raters(r.astype(int))[0]
    assert ar.fleiss_kappa(r) == pytest.approx(sm_fleiss(table), abs=1e-12)
    # direct formula
    n = r.shape[1]
    p_j = table.sum(axis=0) / table.sum()
    p_i = ((table**2).sum(axis=1) - n) / (n * (n - 1))
    assert ar.fleiss_kappa(r) == pytest.approx((p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum()), abs=1e-12)


def test_fleiss_uses_only_items_rated_by_all_and_is_undefined_for_one_answer():
    r = np.array([[0, 0, 1], [1, 1, 1], [2, 2, NAN], [0, 1, 0]], dtype=float)
    assert ar.fleiss_kappa(r) == pytest.approx(ar.fleiss_kappa(r[[0, 1, 3]]))
    assert math.isnan(ar.fleiss_kappa(np.ones((5, 3))))


def test_icc_2_1_shrout_fleiss_and_anova():
    assert ar.icc_2_1(SHROUT) == pytest.approx(0.29, abs=5e-3)
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    n, k = SHROUT.shape
    df = pd.DataFrame({"y": SHROUT.ravel(), "item": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n)})
    aov = sm.stats.anova_lm(ols("y ~ C(item) + C(rater)", df).fit())
    ms = aov["sum_sq"] / aov["df"]
    msr, msc, mse = ms["C(item)"], ms["C(rater)"], ms["Residual"]
    assert ar.icc_2_1(SHROUT) == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n), abs=1e-12)


def test_pairwise_cohen_kappa_matches_sklearn_and_statsmodels():
    r = np.random.default_rng(4).integers(0, 3, size=(25, 3)).astype(float)
    r[0, 2] = NAN
    pk = ar.pairwise_cohen_kappa(r, ["a", "b", "c"])
    assert list(zip(pk["rater_a"], pk["rater_b"])) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert pk["kappa"].iloc[0] == pytest.approx(cohen_kappa_score(r[:, 0], r[:, 1]), abs=1e-12)
    ok = np.isfinite(r[:, 2])
    table = pd.crosstab(r[ok, 1], r[ok, 2]).to_numpy()
    assert pk["kappa"].iloc[2] == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)
    assert pk["n_items"].tolist() == [25, 24, 24]


def test_bootstrap_items_is_seeded():
    r = np.random.default_rng(5).integers(0, 3, size=(40, 4)).astype(float)
    a = ar.bootstrap_items(ar.fleiss_kappa, r, seed=1, n_boot=200)
    assert a == ar.bootstrap_items(ar.fleiss_kappa, r, seed=1, n_boot=200)
    table = ar.category_counts(r)
    assert a == pytest.approx(ar.bootstrap_items(ar.fleiss_kappa_counts, table, seed=1, n_boot=200))
    assert a[0] <= ar.fleiss_kappa(r) <= a[1]


def test_krippendorff_ordinal_and_ratio_published_values_and_the_krippendorff_package():
    import krippendorff

    # Krippendorff (2011), section C: ordinal 0.815, ratio 0.797 on the same data (interval 0.849, nominal 0.743)
    assert ar.krippendorff_alpha(KRIPP, "ordinal") == pytest.approx(0.815, abs=5e-4)
    assert ar.krippendorff_alpha(KRIPP, "ratio") == pytest.approx(0.797, abs=5e-4)
    rng = np.random.default_rng(4)
    r = np.clip(rng.integers(0, 5, 30)[:, None] + rng.integers(-1, 2, (30, 5)), 0, 6).astype(float)
    r[rng.random(r.shape) < 0.1] = np.nan
    for metric in ("nominal", "ordinal", "interval", "ratio"):
        expect = krippendorff.alpha(reliability_data=KRIPP.T, level_of_measurement=metric)
        assert ar.krippendorff_alpha(KRIPP, metric) == pytest.approx(expect, abs=1e-12)
        expect = krippendorff.alpha(reliability_data=r.T, level_of_measurement=metric, value_domain=np.unique(r[np.isfinite(r)]))
        assert ar.krippendorff_alpha(r, metric) == pytest.approx(expect, abs=1e-12)


def test_icc_f_interval_against_pingouin_and_shrout_fleiss():
    import pingouin as pg

    rng = np.random.default_rng(5)
    r = rng.integers(0, 4, 40)[:, None] + rng.normal(0, 1, (40, 6)) + rng.normal(0, 0.5, 6)[None, :]
    long = pd.DataFrame([(u, i, r[u, i]) for u in range(40) for i in range(6)], columns=["item", "rater", "score"])
    row = pg.intraclass_corr(long, "item", "rater", "score").set_index("Type").loc["ICC(A,1)"]
    assert ar.icc_2_1(r) == pytest.approx(row["ICC"], abs=1e-12)
    assert ar.icc_2_1_ci(r) == pytest.approx(tuple(row["CI95"]), abs=0.005)  # pingouin rounds to 2 decimals
    lo, hi = ar.icc_2_1_ci(SHROUT)
    assert lo < ar.icc_2_1(SHROUT) < hi and -0.2 < lo < 0.1 and 0.6 < hi < 0.9


def test_weighted_kappa_matches_sklearn_on_answer_positions():
    rng = np.random.default_rng(6)
    r = np.clip(rng.integers(1, 5, 50)[:, None] + rng.integers(-1, 2, (50, 4)), 0, 6).astype(float)
    labels = list(range(0, 7))
    coded = ar.Coded(r, [float(v) for v in labels])
    for w in (None, "linear", "quadratic"):
        m = coded.kappa_matrix(w)
        pk = ar.pairwise_cohen_kappa(r, [f"r{i}" for i in range(4)], weights=w, labels=labels)
        expect = [cohen_kappa_score(r[:, i], r[:, j], weights=w, labels=labels) for i in range(4) for j in range(i + 1, 4)]
        assert pk["kappa"].to_numpy() == pytest.approx(expect, abs=1e-12)
        assert m[np.triu_indices(4, 1)] == pytest.approx(expect, abs=1e-12)
        assert coded.mean_kappa(w) == pytest.approx(np.mean(expect), abs=1e-12)


def test_weighted_statistics_equal_the_plain_ones_and_never_pair_a_rater_with_its_copy():
    import krippendorff

    rng = np.random.default_rng(8)
    r = np.clip(rng.integers(0, 3, 25)[:, None] + rng.integers(-1, 2, (25, 5)), 0, 3).astype(float)
    coded = ar.Coded(r)
    assert coded.fleiss() == pytest.approx(sm_fleiss(aggregate_raters(r.astype(int))[0]), abs=1e-12)
    for metric in ("nominal", "ordinal", "interval", "ratio"):
        assert coded.alpha(metric) == pytest.approx(krippendorff.alpha(reliability_data=r.T, level_of_measurement=metric), abs=1e-12)
    # item weights are item repetitions: w = 2 on item 0 is the table with item 0 twice
    w = np.ones(25)
    w[0] = 2
    doubled = np.vstack([r, r[:1]])
    assert coded.alpha("interval", None, w) == pytest.approx(ar.Coded(doubled).alpha("interval"), abs=1e-12)
    assert coded.mean_kappa("quadratic", None, w) == pytest.approx(ar.Coded(doubled).mean_kappa("quadratic"), abs=1e-12)
    # a rater drawn twice: its copy is not a second rater; the pairs are those of the distinct raters,
    # counted with their multiplicities (r_i r_j)
    rr = np.array([2.0, 1.0, 0.0, 0.0, 0.0])
    k01 = cohen_kappa_score(r[:, 0], r[:, 1])
    assert coded.mean_kappa(None, rr) == pytest.approx(k01, abs=1e-12)
    assert math.isnan(coded.fleiss(np.array([3.0, 0, 0, 0, 0])))  # three copies of one rater: no agreement to measure
    assert math.isnan(coded.mean_kappa(None, np.array([5.0, 0, 0, 0, 0])))  # one rater: no pair at all


def test_bootstrap_form_of_a_table_with_no_complete_item_is_undefined_not_an_error():
    """Two observers who answered disjoint items: no item rated by both, so every agreement
    statistic is undefined (NaN), as the plain functions already say; a report must not crash."""
    r = np.array([[1, NAN], [NAN, 2], [0, NAN]], dtype=float)
    coded = ar.Coded(r, [0.0, 1.0, 2.0])
    assert (coded.n_items, coded.n_raters) == (0, 2)
    assert math.isnan(ar.fleiss_kappa(r)) and math.isnan(ar.krippendorff_alpha(r, "nominal"))
    with np.errstate(all="raise"):
        assert math.isnan(coded.fleiss())
        assert math.isnan(coded.alpha("nominal")) and math.isnan(coded.alpha("interval"))
        for weights in (None, "linear", "quadratic"):
            matrix = coded.kappa_matrix(weights)
            assert matrix.shape == (2, 2) and np.isnan(matrix).all()
            assert math.isnan(coded.mean_kappa(weights))
