"""DDD simulations against scipy's distributions, and the beta-binomial fit against known parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import betabinom, binom

from analysis.models import ddd_simulation as sim


def test_seeded_and_reproducible():
    sc = sim.Scenario("u", "beta", {"a": 0.5, "b": 0.5})
    assert np.array_equal(sim.simulate(sc, 11, 1000, seed=3), sim.simulate(sc, 11, 1000, seed=3))
    assert not np.array_equal(sim.simulate(sc, 11, 1000, seed=3), sim.simulate(sc, 11, 1000, seed=4))
    with pytest.raises(ValueError, match="unknown scenario kind"):
        sim.Scenario("x", "gamma")


@pytest.mark.parametrize("a,b", [(1.0, 0.32), (0.5, 0.5), (6.0, 3.0)])
def test_beta_scenario_is_the_beta_binomial(a, b):
    n = sim.simulate(sim.Scenario("b", "beta", {"a": a, "b": b}), 11, 50_000, seed=0)
    assert sim.histogram(n, 11) == pytest.approx(betabinom.pmf(np.arange(12), 11, a, b), abs=0.008)


def test_binomial_scenario_has_independent_models():
    n = sim.simulate(sim.Scenario("b", "binomial", {"p": 0.7}), 11, 50_000, seed=0)
    assert sim.histogram(n, 11) == pytest.approx(binom.pmf(np.arange(12), 11, 0.7), abs=0.008)
    assert sim.dispersion_ratio(n, 11) == pytest.approx(1.0, abs=0.03)


def test_logistic_density_sampler_has_the_density_s_mean():
    w = -6.85
    density = lambda p: 1 / (1 + np.exp(w * (p - 0.5)))
    mean = integrate.quad(lambda p: p * density(p), 0, 1)[0] / integrate.quad(density, 0, 1)[0]
    draws = sim.logistic_density_sample(w, 200_000, np.random.default_rng(0))
    assert draws.min() >= 0 and draws.max() <= 1 and draws.mean() == pytest.approx(mean, abs=0.003)
    # the share below 0.5 is the density's mass below 0.5
    below = integrate.quad(density, 0, 0.5)[0] / integrate.quad(density, 0, 1)[0]
    assert np.mean(draws < 0.5) == pytest.approx(below, abs=0.005)


def test_irt_probabilities_and_the_ddd_regime():
    similar = sim.simulate(sim.Scenario("s", "irt", {"ability_mean": 1.0, "ability_sd": 0.1, "difficulty_sd": 2.0,
                                                    "discrimination": 4.0}), 11, 20_000, seed=1)
    different = sim.simulate(sim.Scenario("d", "irt", {"ability_mean": 1.0, "ability_sd": 2.0, "difficulty_sd": 2.0,
                                                      "discrimination": 4.0}), 11, 20_000, seed=1)
    ext = lambda n: np.mean((n == 0) | (n == 11))
    assert ext(similar) > 0.6 > ext(different)


def test_irt_matches_its_probability_model():
    # every model of ability 0.3 on one image of difficulty ~0: P(right) = 1 / (1 + exp(-1.5 * 0.3))
    c = sim.irt_correct(20_000, 1, np.random.default_rng(7), ability_mean=0.3, ability_sd=0.0, difficulty_sd=1e-12,
                        discrimination=1.5)
    assert c.shape == (20_000, 1) and c.mean() == pytest.approx(1 / (1 + np.exp(-1.5 * 0.3)), abs=0.01)


def test_summary_split_uses_the_project_rule():
    table, hist = sim.summary(sim.DEFAULT_SCENARIOS[:3], n_models=11, n_images=5000, tolerance=1, seed=5)
    assert list(table["seed"]) == [5, 6, 7] and len(hist) == 3 * 12
    n = sim.simulate(sim.DEFAULT_SCENARIOS[1], 11, 5000, seed=6)
    row = table.iloc[1]
    assert row["trivial"] == pytest.approx(np.mean(n >= 10)) and row["impossible"] == pytest.approx(np.mean(n <= 1))
    assert row["trivial"] + row["in-between"] + row["impossible"] == pytest.approx(1.0)
    assert row["mean_accuracy"] == pytest.approx(n.mean() / 11)
    h = hist[hist.scenario == table.iloc[1]["scenario"]]
    assert h["share"].to_numpy() == pytest.approx(np.bincount(n, minlength=12) / 5000)


@pytest.mark.parametrize("a,b", [(0.4, 0.2), (0.75, 0.35), (3.0, 2.0)])
def test_beta_binomial_fit_recovers_the_parameters(a, b):
    n = sim.simulate(sim.Scenario("x", "beta", {"a": a, "b": b}), 11, 50_000, seed=11)
    fit = sim.fit_beta_binomial(n, 11)
    assert fit["a"] == pytest.approx(a, rel=0.08) and fit["b"] == pytest.approx(b, rel=0.08)
    counts = np.bincount(n, minlength=12)
    assert fit["log_likelihood"] == pytest.approx(counts @ betabinom.logpmf(np.arange(12), 11, fit["a"], fit["b"]))
    assert fit["binomial_log_likelihood"] == pytest.approx(counts @ binom.logpmf(np.arange(12), 11, n.mean() / 11))
    assert fit["log_likelihood"] >= fit["binomial_log_likelihood"]


def test_figure_with_an_observed_histogram():
    table, hist = sim.summary(sim.DEFAULT_SCENARIOS[:4], 11, 2000, 1, 0)
    fig = sim.scenarios_figure(hist, table, 1, "t", observed=np.full(12, 1 / 12), observed_label="obs")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
