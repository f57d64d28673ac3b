"""analysis.humans.raters against brute-force definitions (loops over pairs and units) and the edge
cases where a statistic is undefined (NaN) rather than a number."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from analysis.humans import raters as ar

NAN = np.nan


def _alpha_by_pairs(ratings: np.ndarray, metric: str) -> float:
    """Krippendorff's alpha from its definition: the coincidence matrix built pair by pair."""
    values = sorted({float(x) for x in ratings.ravel() if np.isfinite(x)})
    pos = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for unit in ratings:
        vals = [float(x) for x in unit if np.isfinite(x)]
        if len(vals) < 2:
            continue
        for i, a in enumerate(vals):
            for j, b in enumerate(vals):
                if i != j:
                    o[pos[a], pos[b]] += 1.0 / (len(vals) - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()

    def d(c: int, k: int) -> float:
        a, b = values[c], values[k]
        if metric == "nominal":
            return float(a != b)
        if metric == "interval":
            return (a - b) ** 2
        if metric == "ratio":
            return 0.0 if a + b == 0 else ((a - b) / (a + b)) ** 2
        lo, hi = min(c, k), max(c, k)  # ordinal
        return (sum(n_c[g] for g in range(lo, hi + 1)) - (n_c[c] + n_c[k]) / 2) ** 2

    size = range(len(values))
    d_o = sum(o[c, k] * d(c, k) for c in size for k in size) / n
    d_e = sum(n_c[c] * n_c[k] * d(c, k) for c in size for k in size) / (n * (n - 1))
    return 1 - d_o / d_e


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9), st.integers(2, 5), st.integers(0, 2**32 - 1), st.sampled_from([2, 3, 5]))
def test_alpha_equals_the_pairwise_definition_with_missing_values(n_items: int, n_raters: int, seed: int,
                                                                  n_values: int) -> None:
    rng = np.random.default_rng(seed)
    r = rng.integers(0, n_values, size=(n_items, n_raters)).astype(float)
    r[rng.random(r.shape) < 0.25] = NAN
    pairable = sum(int(np.isfinite(u).sum()) for u in r if np.isfinite(u).sum() >= 2)
    for metric in ("nominal", "interval", "ratio", "ordinal"):
        got = ar.krippendorff_alpha(r, metric)
        if pairable < 2 or len({x for u in r if np.isfinite(u).sum() >= 2 for x in u[np.isfinite(u)]}) < 2:
            assert math.isnan(got), metric  # nothing to pair, or one value throughout: undefined
            continue
        assert got == pytest.approx(_alpha_by_pairs(r, metric), abs=1e-9), metric


def test_alpha_of_units_with_exactly_two_ratings_and_of_a_lone_rating() -> None:
    r = np.array([[1, 1, NAN], [2, 3, NAN], [NAN, 3, 3], [4, NAN, NAN]])  # the last unit cannot be paired
    for metric in ("nominal", "interval", "ratio", "ordinal"):
        assert ar.krippendorff_alpha(r, metric) == pytest.approx(_alpha_by_pairs(r, metric), abs=1e-12)
    assert math.isnan(ar.krippendorff_alpha(np.array([[1.0, NAN], [2.0, NAN]]), "interval"))  # no pairable unit
    assert math.isnan(ar.krippendorff_alpha(np.full((4, 3), 2.0), "interval"))  # one value throughout
    assert math.isnan(ar.krippendorff_alpha(np.full((4, 3), 2.0), "nominal"))


def test_an_unknown_metric_is_named() -> None:
    with pytest.raises(ValueError) as err:
        ar.krippendorff_alpha(np.array([[1.0, 2.0], [2.0, 2.0]]), "cardinal")  # type: ignore[arg-type]
    assert str(err.value) == "unknown metric 'cardinal' (interval, ratio, ordinal or nominal)"
    with pytest.raises(ValueError) as err:
        ar.delta(np.array([1.0, 2.0]), "cardinal")
    assert str(err.value) == "unknown metric 'cardinal'"


def test_delta_by_hand() -> None:
    v = np.array([0.0, 1.0, 3.0])
    assert ar.delta(v, "nominal").tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert ar.delta(v, "interval").tolist() == [[0, 1, 9], [1, 0, 4], [9, 4, 0]]
    # ratio ((a - b) / (a + b))^2, and 0 (not NaN) for 0 against 0
    assert ar.delta(v, "ratio") == pytest.approx(np.array([[0, 1, 1], [1, 0, 0.25], [1, 0.25, 0]]))
    assert ar.delta(np.array([0.0]), "ratio").tolist() == [[0.0]]
    # ordinal with marginal counts 2, 4, 6: d(0,1) = (2 + 4 - 3)^2, d(0,2) = (12 - 4)^2, d(1,2) = (10 - 5)^2
    assert ar.delta(v, "ordinal", np.array([2, 4, 6])).tolist() == [[0, 9, 64], [9, 0, 25], [64, 25, 0]]


def test_complete_items_and_counts_by_hand() -> None:
    r = np.array([[0, 1, 1], [2, NAN, 2], [2, 2, 0], [1, 1, 1]])
    assert ar.complete_items(r).tolist() == [[0, 1, 1], [2, 2, 0], [1, 1, 1]]
    assert ar.complete_items(np.array([[1, 2]], dtype=int)).dtype == float
    # answers 0, 1, 2 across the complete items: raters per answer
    assert ar.category_counts(r).tolist() == [[1, 2, 0], [1, 0, 2], [0, 3, 0]]
    assert ar.category_counts(np.array([[NAN, 1.0], [1.0, NAN]])).shape == (0, 0)
    assert math.isnan(ar.fleiss_kappa(np.array([[NAN, 1.0], [1.0, NAN]])))


def test_fleiss_kappa_of_the_smallest_defined_tables_by_hand() -> None:
    # 2 items, 3 raters: P_1 = (4 + 1 - 3) / 6, P_2 = 1; p = (1/3, 2/3), P_e = 5/9: kappa = (2/3 - 5/9) / (4/9)
    assert ar.fleiss_kappa_counts(np.array([[2, 1], [0, 3]])) == pytest.approx(0.25, abs=1e-12)
    assert ar.fleiss_kappa_counts(np.array([[2, 1, 0], [0, 3, 0]])) == pytest.approx(0.25, abs=1e-12)  # unused answer
    assert ar.fleiss_kappa(np.array([[0, 0, 1], [1, 1, 1]])) == pytest.approx(0.25, abs=1e-12)
    assert math.isnan(ar.fleiss_kappa_counts(np.array([[2, 1]])))  # one item
    assert math.isnan(ar.fleiss_kappa_counts(np.array([[3], [3]])))  # one answer column
    assert math.isnan(ar.fleiss_kappa_counts(np.array([[0, 3, 0], [0, 3, 0]])))  # one answer used


def _mean_squares_by_loops(r: np.ndarray) -> tuple[float, float, float]:
    n, k = r.shape
    grand = sum(sum(row) for row in r) / (n * k)
    rows = [sum(r[i]) / k for i in range(n)]
    cols = [sum(r[i, j] for i in range(n)) / n for j in range(k)]
    ss_r = k * sum((m - grand) ** 2 for m in rows)
    ss_c = n * sum((m - grand) ** 2 for m in cols)
    ss_e = sum((r[i, j] - rows[i] - cols[j] + grand) ** 2 for i in range(n) for j in range(k))
    return ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 7), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_icc_from_the_mean_squares_by_loops(n: int, k: int, seed: int) -> None:
    r = np.random.default_rng(seed).integers(0, 6, size=(n, k)).astype(float)
    msr, msc, mse = _mean_squares_by_loops(r)
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    got = ar.icc_2_1(r)
    if denom == 0:
        assert math.isnan(got)
    else:
        assert got == pytest.approx((msr - mse) / denom, abs=1e-9)


def test_icc_is_undefined_for_one_item_one_rater_or_constant_ratings() -> None:
    assert math.isnan(ar.icc_2_1(np.array([[1.0, 2.0, 3.0]])))
    assert math.isnan(ar.icc_2_1(np.array([[1.0], [2.0], [3.0]])))
    assert math.isnan(ar.icc_2_1(np.full((4, 3), 2.0)))
    assert ar.icc_2_1(np.array([[1.0, 2.0], [3.0, 4.0]])) == pytest.approx(
        (4 - 0) / (4 + 0 + 2 * (1 - 0) / 2))  # msr = 4, msc = 1, mse = 0 (by hand)
    assert ar.icc_2_1(np.array([[1.0, 2.0], [3.0, NAN], [3.0, 4.0]])) == pytest.approx(0.8)  # the complete items


def _icc_ci_mcgraw_wong(r: np.ndarray, confidence: float) -> tuple[float, float]:
    """McGraw & Wong (1996), case 2A, ICC(A,1): written out from the paper's table 7."""
    from scipy.stats import f

    n, k = r.shape
    msr, msc, mse = _mean_squares_by_loops(r)
    p = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * p / (n * (1 - p))
    b = 1 + k * p * (n - 1) / (n * (1 - p))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    alpha = 1 - confidence
    fs = f.ppf(1 - alpha / 2, n - 1, v)  # F*(n-1, v)
    ft = f.ppf(1 - alpha / 2, v, n - 1)  # F*(v, n-1)
    lower = n * (msr - fs * mse) / (fs * (k * msc + (k * n - k - n) * mse) + n * msr)
    upper = n * (ft * msr - mse) / (k * msc + (k * n - k - n) * mse + n * ft * msr)
    return lower, upper


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.5])
def test_icc_interval_at_any_confidence(confidence: float) -> None:
    rng = np.random.default_rng(3)
    r = rng.integers(0, 4, 20)[:, None] + rng.normal(0, 1, (20, 4)) + rng.normal(0, 0.5, 4)[None, :]
    r[0, 1] = NAN  # left out with its item
    lo, hi = ar.icc_2_1_ci(r, confidence)
    assert (lo, hi) == pytest.approx(_icc_ci_mcgraw_wong(r[1:], confidence), abs=1e-9)
    assert lo < ar.icc_2_1(r) < hi


def test_icc_interval_is_undefined_at_perfect_or_undefined_agreement() -> None:
    perfect = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    assert ar.icc_2_1(perfect) == pytest.approx(1.0)
    assert all(math.isnan(x) for x in ar.icc_2_1_ci(perfect))
    assert all(math.isnan(x) for x in ar.icc_2_1_ci(np.full((3, 3), 2.0)))
    assert all(math.isnan(x) for x in ar.icc_2_1_ci(np.array([[1.0, 2.0]])))


def test_pairwise_kappa_undefined_only_for_too_few_items_or_one_shared_answer() -> None:
    r = np.array([[0, 0, 1, 0], [0, 0, 1, NAN], [0, 0, 1, NAN], [0, 0, 1, NAN]], dtype=float)
    pk = ar.pairwise_cohen_kappa(r, ["a", "b", "c", "d"])
    assert list(pk.columns) == ["rater_a", "rater_b", "n_items", "kappa"]
    by_pair = {(x, y): (n, k) for x, y, n, k in pk.itertuples(index=False)}
    assert math.isnan(by_pair[("a", "b")][1]) and by_pair[("a", "b")][0] == 4  # both always 0: undefined
    assert by_pair[("a", "c")] == (4, 0.0)  # always 0 against always 1: no agreement beyond chance, kappa 0
    assert by_pair[("a", "c")][1] == cohen_kappa_score([0] * 4, [1] * 4, labels=[0, 1])
    assert by_pair[("a", "d")][0] == 1 and math.isnan(by_pair[("a", "d")][1])  # one common item
    alone = ar.pairwise_cohen_kappa(r[:, :1], ["a"])  # one rater: no pair, but the table's columns
    assert alone.empty and list(alone.columns) == ["rater_a", "rater_b", "n_items", "kappa"]
    two = np.array([[0, 1], [1, 1]], dtype=float)  # two items: defined
    assert ar.pairwise_cohen_kappa(two, ["a", "b"])["kappa"].iloc[0] == pytest.approx(cohen_kappa_score([0, 1], [1, 1]))


def test_pairwise_weighted_kappa_uses_the_positions_of_every_answer_seen() -> None:
    """Default labels: every answer any rater gave, so a pair's weights count the answers between."""
    rng = np.random.default_rng(9)
    a = rng.choice([0, 1, 3], 30)
    b = np.clip(a + rng.integers(-1, 2, 30), 0, 3)
    b[b == 2] = 3
    c = np.full(30, 2)
    r = np.stack([a, b, c], axis=1).astype(float)
    pk = ar.pairwise_cohen_kappa(r, ["a", "b", "c"], weights="quadratic")
    assert pk["kappa"].iloc[0] == pytest.approx(cohen_kappa_score(a, b, weights="quadratic", labels=[0, 1, 2, 3]))
    assert pk["kappa"].iloc[0] != pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))


def test_item_bootstrap_edge_cases() -> None:
    assert all(math.isnan(x) for x in ar.bootstrap_items(np.mean, np.array([[1.0, 2.0]]), seed=0))
    assert all(math.isnan(x) for x in ar.bootstrap_items(lambda r: float("nan"), np.ones((5, 2)), seed=0))
    # a statistic undefined on some draws: the interval comes from the defined ones
    r = np.array([[0.0], [1.0], [2.0]])
    lo, hi = ar.bootstrap_items(lambda x: float(x.mean()) if x.max() < 2 else float("nan"), r, seed=0, n_boot=400)
    assert 0.0 <= lo <= hi <= 1.0
    lo, hi = ar.bootstrap_items(lambda x: float(x.mean()), np.arange(30.0)[:, None], seed=3, n_boot=300, confidence=0.5)
    lo9, hi9 = ar.bootstrap_items(lambda x: float(x.mean()), np.arange(30.0)[:, None], seed=3, n_boot=300, confidence=0.99)
    assert lo9 < lo < 14.5 < hi < hi9


def test_bootstrap_draws_are_the_mean_of_resampled_items() -> None:
    """n_boot draws, each a resample of all items with replacement: their percentiles are those of
    the resampled means (independent resampling with numpy's generator of the same seed)."""
    x = np.random.default_rng(0).normal(size=(25, 1))
    lo, hi = ar.bootstrap_items(lambda r: float(r.mean()), x, seed=11, n_boot=500, confidence=0.9)
    rng = np.random.default_rng(11)
    means = [x[rng.integers(0, 25, 25)].mean() for _ in range(500)]
    assert (lo, hi) == pytest.approx((np.quantile(means, 0.05), np.quantile(means, 0.95)), abs=1e-12)


def test_coded_with_given_values_and_undefined_cases() -> None:
    r = np.array([[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [NAN, 1.0]])
    coded = ar.Coded(r, [1.0, 2.0, 3.0])
    assert coded.values.tolist() == [1, 2, 3] and coded.codes.tolist() == [[0, 0], [2, 0], [2, 2]]
    assert (coded.n_items, coded.n_raters) == (3, 2)
    # answer 2 never given: positions 0 and 2, quadratic weights 4, kappa as sklearn with labels 1..3
    k = cohen_kappa_score([1, 3, 3], [1, 1, 3], weights="quadratic", labels=[1, 2, 3])
    assert coded.kappa_matrix("quadratic")[0, 1] == pytest.approx(k)
    assert ar.Coded(r).values.tolist() == [1, 3]
    empty = ar.Coded(np.array([[NAN, 1.0]]))
    assert (empty.n_items, empty.n_raters) == (0, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        assert math.isnan(empty.alpha("nominal"))  # no complete item: undefined
    same = ar.Coded(np.full((3, 2), 2.0))
    assert math.isnan(same.alpha("interval")) and math.isnan(same.fleiss())
    assert math.isnan(same.kappa_matrix(None)[0, 1])
    one_item = ar.Coded(np.array([[1.0, 2.0]]))
    assert one_item.alpha("nominal") == pytest.approx(ar.krippendorff_alpha(np.array([[1.0, 2.0]]), "nominal"))


def test_coded_alpha_and_fleiss_equal_the_definitions_on_random_tables() -> None:
    rng = np.random.default_rng(12)
    r = rng.integers(0, 4, size=(12, 4)).astype(float)
    coded = ar.Coded(r)
    for metric in ("nominal", "interval", "ratio", "ordinal"):
        assert coded.alpha(metric) == pytest.approx(_alpha_by_pairs(r, metric), abs=1e-9)
    assert coded.fleiss() == pytest.approx(ar.fleiss_kappa(r), abs=1e-12)
    kappas = [cohen_kappa_score(r[:, i], r[:, j], weights="linear") for i in range(4) for j in range(i + 1, 4)]
    assert coded.mean_kappa("linear") == pytest.approx(np.mean(kappas), abs=1e-12)
    frame = pd.DataFrame(coded.kappa_matrix("linear"))
    assert np.allclose(frame.to_numpy(), frame.to_numpy().T, equal_nan=True)


def test_alpha_defaults_to_interval_and_is_defined_for_a_single_pair() -> None:
    r = np.random.default_rng(13).integers(0, 5, size=(10, 3)).astype(float)
    assert ar.krippendorff_alpha(r) == ar.krippendorff_alpha(r, "interval")
    # one unit rated twice, with two different values: D_o = D_e, alpha = 0 (not undefined)
    pair = np.array([[1.0, 2.0], [3.0, NAN]])
    for metric in ("nominal", "interval", "ratio", "ordinal"):
        assert ar.krippendorff_alpha(pair, metric) == pytest.approx(0.0, abs=1e-12), metric
        assert ar.Coded(np.array([[1.0, 2.0]])).alpha(metric) == pytest.approx(0.0, abs=1e-12), metric
    for metric in ("ratio", "ordinal"):  # one value throughout: undefined for every metric
        assert math.isnan(ar.krippendorff_alpha(np.full((4, 3), 2.0), metric))
        assert math.isnan(ar.Coded(np.full((4, 3), 2.0)).alpha(metric))


def _weighted_alpha_by_loops(codes: np.ndarray, values: np.ndarray, metric: str, r: np.ndarray, w: np.ndarray) -> float:
    """Alpha of the draw with rater multiplicities r and item multiplicities w, by its definition:
    D_o averages d over items (weight w_u) and ordered pairs of distinct raters (weight r_i r_j);
    D_e over every two of the n = sum_u w_u sum_i r_i drawn ratings."""
    n_items, n_raters = codes.shape
    k = values.size
    n_c = np.zeros(k)
    for u in range(n_items):
        for i in range(n_raters):
            n_c[codes[u, i]] += w[u] * r[i]
    n = n_c.sum()
    d = ar.delta(values, metric, n_c)
    num = sum(w[u] * r[i] * r[j] * d[codes[u, i], codes[u, j]]
              for u in range(n_items) for i in range(n_raters) for j in range(n_raters) if i != j)
    pairs = sum(r[i] * r[j] for i in range(n_raters) for j in range(n_raters) if i != j)
    d_o = num / (w.sum() * pairs)
    d_e = sum(n_c[c] * n_c[e] * d[c, e] for c in range(k) for e in range(k)) / (n * (n - 1))
    return 1 - d_o / d_e


def test_coded_alpha_and_fleiss_under_rater_and_item_multiplicities() -> None:
    rng = np.random.default_rng(14)
    ratings = rng.integers(0, 4, size=(9, 4)).astype(float)
    coded = ar.Coded(ratings)
    r = np.array([2.0, 0.0, 1.0, 3.0])
    w = np.array([1.0, 0.0, 2.0, 1.0, 1.0, 3.0, 0.0, 1.0, 2.0])
    for metric in ("nominal", "interval", "ratio", "ordinal"):
        expect = _weighted_alpha_by_loops(coded.codes, coded.values, metric, r, w)
        assert coded.alpha(metric, r, w) == pytest.approx(expect, abs=1e-12), metric
        assert coded.alpha(metric, r) == pytest.approx(
            _weighted_alpha_by_loops(coded.codes, coded.values, metric, r, np.ones(9)), abs=1e-12), metric
    # Fleiss: observed agreement of distinct-source pairs against the squared shares of the draw
    p = np.zeros(coded.values.size)
    for u in range(9):
        for i in range(4):
            p[coded.codes[u, i]] += w[u] * r[i]
    p /= p.sum()
    p_e = float((p**2).sum())
    agree = sum(w[u] * r[i] * r[j] * (coded.codes[u, i] == coded.codes[u, j])
                for u in range(9) for i in range(4) for j in range(4) if i != j)
    p_o = agree / (w.sum() * sum(r[i] * r[j] for i in range(4) for j in range(4) if i != j))
    assert coded.fleiss(r, w) == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-12)
    # item weights alone: item u counted w_u times
    doubled = np.repeat(ratings, w.astype(int), axis=0)
    assert coded.fleiss(None, w) == pytest.approx(ar.fleiss_kappa(doubled), abs=1e-12)


def test_ratio_delta_of_zero_sums_is_zero_without_a_warning() -> None:
    """0 against 0 (and a value against its negative) has no ratio difference: 0, silently (a
    RuntimeWarning on every bootstrap draw would flood the report's log)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = ar.delta(np.array([-1.0, 0.0, 1.0]), "ratio")
    assert d[1, 1] == 0.0 and d[0, 2] == 0.0 and d[2, 0] == 0.0
    assert d[1, 2] == pytest.approx(1.0) and d[0, 0] == 0.0


def test_undefined_statistics_are_nan_without_a_warning() -> None:
    """One answer throughout, constant ratings: NaN by the module's own checks, not by a 0/0
    that prints a RuntimeWarning (once per bootstrap draw in a report)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(ar.fleiss_kappa_counts(np.array([[0, 3, 0], [0, 3, 0], [0, 3, 0]])))
        assert math.isnan(ar.icc_2_1(np.full((4, 3), 2.0)))
        same = ar.Coded(np.full((3, 2), 2.0))
        assert math.isnan(same.kappa_matrix(None)[0, 1]) and math.isnan(same.kappa_matrix("quadratic")[0, 1])


def test_counts_of_a_single_complete_item_and_of_none() -> None:
    assert ar.category_counts(np.array([[0.0, 2.0, 2.0], [1.0, NAN, 0.0]])).tolist() == [[1, 2]]
    empty = ar.category_counts(np.array([[NAN, 1.0, 2.0]]))
    assert empty.shape == (0, 0) and empty.dtype.kind == "i"


def test_item_bootstrap_defaults_and_its_smallest_sample() -> None:
    r = np.random.default_rng(15).integers(0, 3, size=(12, 3)).astype(float)
    assert ar.bootstrap_items(ar.fleiss_kappa, r, seed=2) == ar.bootstrap_items(ar.fleiss_kappa, r, seed=2, n_boot=1000,
                                                                                confidence=0.95)
    lo, hi = ar.bootstrap_items(lambda x: float(x.mean()), np.array([[0.0], [1.0]]), seed=0, n_boot=200)
    assert (lo, hi) == (0.0, 1.0)  # two items: means 0, 0.5 and 1 are all drawn


def test_more_undefined_cases_are_nan_without_a_warning() -> None:
    """The module's own checks give NaN before any 0/0 (and its RuntimeWarning) can happen."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in ("ordinal", "ratio"):  # one value throughout
            assert math.isnan(ar.krippendorff_alpha(np.full((4, 3), 2.0), metric))
        assert math.isnan(ar.icc_2_1(np.array([[1.0, 2.0, 3.0]])))  # one item
        assert math.isnan(ar.icc_2_1(np.array([[1.0], [2.0], [4.0]])))  # one rater
        assert math.isnan(ar.Coded(np.array([[1.0]])).alpha("nominal"))  # one rating
        same = ar.pairwise_cohen_kappa(np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]), ["a", "b"])
    kappa = same["kappa"].iloc[0]
    assert isinstance(kappa, float) and math.isnan(kappa)  # a float NaN, also when it is the only pair


def test_pairwise_kappa_of_one_or_no_common_item_is_undefined() -> None:
    r = np.array([[0.0, 1.0, NAN], [1.0, NAN, 0.0], [NAN, 0.0, 1.0]])  # each pair shares one item
    pk = ar.pairwise_cohen_kappa(r, ["a", "b", "c"])
    assert pk["n_items"].tolist() == [1, 1, 1] and pk["kappa"].isna().all()  # the answers differ: still undefined
    none = ar.pairwise_cohen_kappa(np.array([[0.0, NAN], [NAN, 1.0], [1.0, NAN]]), ["a", "b"])
    assert none["n_items"].tolist() == [0] and math.isnan(none["kappa"].iloc[0])
