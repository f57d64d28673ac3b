"""IRT: recovery of simulated item difficulties (Spearman > 0.95), agreement with girth's marginal
ML where girth works (many respondents, few items), and 1PL's ordering by the sum score."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from analysis.dynamics.irt import fit_irt, simulate


@pytest.mark.parametrize("model", ["1pl", "2pl"])
def test_recovers_simulated_difficulty(model: str) -> None:
    correct, theta, b, a = simulate(100, 1000, seed=0)
    fit = fit_irt(correct, model)
    assert fit.converged
    assert stats.spearmanr(fit.difficulty, b).statistic > 0.95
    assert stats.spearmanr(fit.ability, theta).statistic > 0.99
    if model == "2pl":
        assert stats.spearmanr(fit.discrimination, a).statistic > 0.75
    else:
        np.testing.assert_array_equal(fit.discrimination, 1.0)


def test_1pl_orders_images_by_models_correct() -> None:
    correct, *_ = simulate(22, 300, seed=5)
    fit = fit_irt(correct, "1pl")
    count = correct.sum(axis=0)
    for k in np.unique(count):  # images with the same count get the same difficulty ...
        assert np.ptp(fit.difficulty[count == k]) < 1e-3
    means = [fit.difficulty[count == k].mean() for k in np.unique(count)]
    assert np.all(np.diff(means) < 0)  # ... and more models right means easier
    assert np.isfinite(fit.difficulty).all()  # images all / no models get right stay finite


def test_agrees_with_girth() -> None:
    girth = pytest.importorskip("girth")
    correct, *_ = simulate(1000, 15, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g1 = girth.rasch_mml(correct.T.astype(int))
        g2 = girth.twopl_mml(correct.T.astype(int))
    f1, f2 = fit_irt(correct, "1pl"), fit_irt(correct, "2pl")
    assert stats.pearsonr(f1.difficulty, g1["Difficulty"]).statistic > 0.999
    assert stats.spearmanr(f2.difficulty, g2["Difficulty"]).statistic > 0.98
    assert stats.spearmanr(f2.discrimination, g2["Discrimination"]).statistic > 0.9


def test_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        fit_irt(np.ones((1, 5), bool))
    with pytest.raises(ValueError):
        fit_irt(np.ones((3, 5), bool), "3pl")


def neg_log_posterior(y: np.ndarray, theta: np.ndarray, b: np.ndarray, a: np.ndarray, sd_theta: float, two_pl: bool) -> float:
    """The objective summed over every model and image, written out directly."""
    eta = a[None, :] * (theta[:, None] - b[None, :])
    p = 1.0 / (1.0 + np.exp(-eta))
    ll = np.sum(np.where(y, np.log(p), np.log1p(-p)))
    prior = np.sum(theta**2) / (2 * sd_theta**2) + np.sum(b**2) / (2 * 9.0) + (np.sum(np.log(a) ** 2) / 2 if two_pl else 0.0)
    return float(prior - ll)


@pytest.mark.parametrize("model", ["1pl", "2pl"])
def test_grouped_fit_is_the_per_image_optimum(model: str) -> None:
    """Fitting once per pattern (or count) is the fit of every image: the reported objective is the
    per-image objective at the estimates, and duplicating every image changes no estimate."""
    correct, *_ = simulate(15, 200, seed=9)
    correct[:, :40] = True  # trivial and impossible images share their patterns
    correct[:, 40:60] = False
    fit = fit_irt(correct, model)
    direct = neg_log_posterior(correct, fit.ability, fit.difficulty, fit.discrimination, 2.0 if model == "1pl" else 1.0,
                               model == "2pl")
    assert fit.neg_log_posterior == pytest.approx(direct, rel=1e-9)
    twice = fit_irt(np.hstack([correct, correct]), model)
    # the same images twice: the prior weighs half as much per image, so estimates move only a little and keep their order
    assert stats.spearmanr(twice.difficulty[:200], fit.difficulty).statistic > 0.99
    np.testing.assert_allclose(twice.difficulty[:200], twice.difficulty[200:], atol=1e-9)
