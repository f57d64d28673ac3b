"""The item bootstrap of rater statistics: a percentile interval with half the rest in each tail."""

from __future__ import annotations

import numpy as np

from analysis.humans.raters import bootstrap_items


def test_item_bootstrap_interval_leaves_a_fortieth_in_each_tail():
    """Against naive resampling of items (another seed): about 2.5 % of resampled statistics fall
    below the 95 % interval and about 2.5 % above it."""
    ratings = np.random.default_rng(0).integers(1, 6, size=(60, 4)).astype(float)

    def stat(r: np.ndarray) -> float:
        return float(r.mean())

    lo, hi = bootstrap_items(stat, ratings, seed=1, n_boot=4000)
    rng = np.random.default_rng(2)
    naive = np.array([stat(ratings[rng.integers(0, 60, 60)]) for _ in range(4000)])
    assert 0.012 < np.mean(naive < lo) < 0.04
    assert 0.012 < np.mean(naive > hi) < 0.04
    lo80, hi80 = bootstrap_items(stat, ratings, seed=1, n_boot=4000, confidence=0.8)
    assert lo < lo80 < hi80 < hi
