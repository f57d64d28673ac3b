"""The two-way bootstrap: seeded, resamples what it says, and equals the statistic at unit weights."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.humans import bootstrap as boot


def test_draws_are_seeded_multiplicities_of_the_right_kind():
    a = list(boot.draws(5, 7, seed=3, n_boot=4))
    b = list(boot.draws(5, 7, seed=3, n_boot=4))
    assert all((x[0] == y[0]).all() and (x[1] == y[1]).all() for x, y in zip(a, b))
    assert all(r.sum() == 5 and w.sum() == 7 for r, w in a)
    assert all((r == 1).all() for r, _ in boot.draws(5, 7, 0, 3, resample="items"))
    assert all((w == 1).all() for _, w in boot.draws(5, 7, 0, 3, resample="observers"))


def test_mean_accuracy_stat_at_unit_weights_and_with_unseen_items():
    k = np.array([[1, 0, 1], [1, 1, 0]], dtype=float)
    n = np.array([[1, 1, 1], [1, 1, 0]], dtype=float)  # observer 2 never saw item 3
    stat = boot.mean_accuracy_stat(k, n)
    assert stat(np.ones(2), np.ones(3)) == pytest.approx((2 / 3 + 1.0) / 2)
    assert stat(np.array([2.0, 0.0]), np.ones(3)) == pytest.approx(2 / 3)
    assert stat(np.ones(2), np.array([0.0, 0.0, 3.0])) == pytest.approx(1.0)  # only item 3: observer 2 drops out


def test_pair_mean_leaves_out_an_observer_paired_with_its_copy():
    m = np.array([[1.0, 0.2, 0.4], [0.2, 1.0, 0.6], [0.4, 0.6, 1.0]])
    assert boot.pair_mean(m, np.ones(3)) == pytest.approx(0.4)
    assert boot.pair_mean(m, np.array([2.0, 1.0, 0.0])) == pytest.approx(0.2)
    assert np.isnan(boot.pair_mean(m, np.array([3.0, 0.0, 0.0])))


def test_interval_is_the_percentiles_of_fresh_draws():
    """`interval` (draws made once per seed and shape, shared between measures) gives the percentile
    interval of the statistic over `draws`, computed here afresh, for two statistics in turn."""
    import numpy as np

    from analysis.humans import bootstrap as boot

    rng = np.random.default_rng(5)
    x = rng.integers(0, 5, size=(7, 30)).astype(float)  # whole numbers: sums exact in any order (BLAS)
    stats = [lambda r, w: float((r @ x @ w) / (r.sum() * w.sum())), lambda r, w: float(r @ x.max(axis=1) / r.sum())]
    for resample in ("both", "items", "observers"):
        for stat in stats:
            values = np.array([stat(r, w) for r, w in boot.draws(7, 30, 11, 300, resample)])
            expected = (np.quantile(values, 0.025), np.quantile(values, 0.975))
            assert boot.interval(stat, 7, 30, seed=11, n_boot=300, resample=resample) == expected


def test_shared_draws_cannot_be_changed_by_a_statistic():
    import numpy as np
    import pytest

    from analysis.humans import bootstrap as boot

    def mutating(r, w):
        r[0] = 100.0
        return 0.0

    with pytest.raises(ValueError):
        boot.interval(mutating, 4, 5, seed=3, n_boot=100)
    first = boot.interval(lambda r, w: float(r[0]), 4, 5, seed=3, n_boot=100)
    assert first == tuple(np.quantile([r[0] for r, _ in boot.draws(4, 5, 3, 100)], [0.025, 0.975]))
