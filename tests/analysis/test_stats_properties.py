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
