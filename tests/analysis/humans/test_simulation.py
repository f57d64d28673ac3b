"""Simulated observers with known accuracies and side biases: do the population model, d' and c,
and the observer-level intervals recover what was put in?

20 observers see 150 pairs each (half with the impossible image on the left). Observer i has a
true accuracy a_i (spread around a known mean 0.80 with SD 0.07) and a criterion c_i (side bias,
-0.6 to 0.6); its d'_i is the value that gives accuracy a_i at criterion c_i under the equal-
variance Gaussian model, and each trial is drawn from that model. log RT = 0.3 + 0.2 * incorrect
+ an observer effect + noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from analysis.humans import mixed
from analysis.humans.sdt import population_bias, sdt_table
from analysis.humans.two_afc import accuracy_summary

N_OBS, N_PAIRS, MEAN_ACC = 20, 150, 0.80


def _spread(n: int) -> np.ndarray:
    """n standard-normal quantiles rescaled to mean 0 and SD 1 exactly."""
    z = norm.ppf((np.arange(n) + 0.5) / n)
    return (z - z.mean()) / z.std(ddof=0)


def _dprime_for(acc: float, c: float) -> float:
    """d' that gives proportion correct `acc` at criterion c (equal numbers of signal and noise trials)."""
    return brentq(lambda d: (norm.cdf(d / 2 - c) + norm.cdf(d / 2 + c)) / 2 - acc, 0.0, 12.0)


def simulate(seed: int, acc: np.ndarray, crit: np.ndarray, n_pairs: int = N_PAIRS) -> tuple[pd.DataFrame, np.ndarray]:
    """Trials of observers with accuracies `acc` and criteria `crit`; returns the trials and the true d'."""
    rng = np.random.default_rng(seed)
    dp = np.array([_dprime_for(a, c) for a, c in zip(acc, crit)])
    sides = np.array(["left", "right"] * (n_pairs // 2))
    rows = []
    for i in range(len(acc)):
        obs_rt = rng.normal(0, 0.1)
        for pos, p in enumerate(rng.permutation(n_pairs)):
            imp = sides[p]
            left = rng.normal(dp[i] / 2 if imp == "left" else -dp[i] / 2, 1.0) > crit[i]
            resp = "left" if left else "right"
            ok = resp == imp
            rows.append({"participant_id": f"sub-{i + 1:03d}", "session": 1, "pair_id": f"p{p:03d}",
                         "impossible_side": imp, "response_side": resp, "correct": ok, "onset": 2.0 * pos,
                         "rt": float(np.exp(0.3 + 0.2 * (not ok) + obs_rt + rng.normal(0, 0.3)))})
    return pd.DataFrame(rows), dp


@pytest.fixture(scope="module")
def population():
    acc = MEAN_ACC + 0.07 * _spread(N_OBS)
    crit = np.linspace(-0.6, 0.6, N_OBS)[np.random.default_rng(7).permutation(N_OBS)]
    trials, dp = simulate(11, acc, crit)
    return trials, acc, crit, dp


@pytest.mark.slow  # one variational-Bayes fit on 3,000 trials: 10-20 s
def test_mixed_model_population_accuracy_covers_the_true_mean(population):
    trials, acc, *_ = population
    assert acc.mean() == pytest.approx(MEAN_ACC)
    m = mixed.fit_correctness(mixed.prepare(trials), seed=0)
    lo, hi = m.population_ci
    assert lo < MEAN_ACC < hi
    # the interval carries the observers' spread (SE of a mean of 20 accuracies with SD 0.07 is
    # 0.016, so a 95 % interval is at least ~0.06 wide) but is not uninformative
    assert 0.05 < hi - lo < 0.12
    assert m.p_at_or_below_chance < 1e-6
    lo, hi = m.position_ci  # no learning or fatigue was simulated
    assert lo < 1.0 < hi
    rt = mixed.fit_rt(mixed.prepare(trials)).set_index("term")
    # simulated: incorrect choices take exp(0.2) times longer, so log RT ~ correct has slope -0.2
    assert rt.loc["correct", "ci_low"] < -0.2 < rt.loc["correct", "ci_high"]
    assert rt.loc["position_z", "ci_low"] < 0 < rt.loc["position_z", "ci_high"]


def test_dprime_and_criterion_recover_each_observer(population):
    trials, _, crit, dp = population
    t = sdt_table(trials).set_index("participant_id")
    ids = [f"sub-{i + 1:03d}" for i in range(N_OBS)]
    z_d = (t.loc[ids, "dprime"].to_numpy() - dp) / t.loc[ids, "dprime_se"].to_numpy()
    z_c = (t.loc[ids, "criterion"].to_numpy() - crit) / t.loc[ids, "criterion_se"].to_numpy()
    # each estimate within 3.5 of its standard errors (40 estimates: P(any beyond) ~ 2 % if the SEs
    # are right), and the standardised errors scatter as N(0, 1) would: the SEs are neither too
    # small nor too large
    assert np.abs(z_d).max() < 3.5 and np.abs(z_c).max() < 3.5
    assert 0.6 < np.std(z_d, ddof=1) < 1.5 and 0.6 < np.std(z_c, ddof=1) < 1.5
    assert abs(np.mean(z_d)) < 0.8 and abs(np.mean(z_c)) < 0.8
    # the side-bias test (Holm over 20 observers) finds the strongly biased observers, not the unbiased
    flagged = t.loc[ids, "p_side_bias_holm"].to_numpy() < 0.05
    assert flagged[np.abs(crit) >= 0.55].all()
    assert not flagged[np.abs(crit) < 0.1].any()
    # the population is unbiased on average (criteria symmetric around 0)
    assert population_bias(t.reset_index())["p_value"] > 0.05


def test_observer_level_interval_widens_when_observers_disagree_the_trial_level_one_does_not():
    crit = np.zeros(N_OBS)
    agree, _ = simulate(3, np.full(N_OBS, MEAN_ACC), crit)
    disagree, _ = simulate(3, MEAN_ACC + 0.09 * _spread(N_OBS), crit)  # 0.63 to 0.97
    a, d = accuracy_summary(agree, seed=0, n_boot=1000), accuracy_summary(disagree, seed=0, n_boot=1000)

    def width(s: dict, low: str, high: str) -> float:
        return s[high] - s[low]

    two_way = width(d, "mean_ci_low", "mean_ci_high") / width(a, "mean_ci_low", "mean_ci_high")
    pooled = width(d, "pooled_ci_low", "pooled_ci_high") / width(a, "pooled_ci_low", "pooled_ci_high")
    items = width(d, "mean_ci_low_items", "mean_ci_high_items") / width(a, "mean_ci_low_items", "mean_ci_high_items")
    assert two_way > 1.5  # the observers' spread is in the observer-level interval
    assert 0.85 < pooled < 1.15  # a trial-level interval cannot see it
    assert items < 1.25  # nor can resampling the pairs alone
    for s in (a, d):
        assert s["mean_ci_low"] < MEAN_ACC < s["mean_ci_high"]


def test_the_mixed_model_gives_the_same_numbers_on_every_run():
    """fit_vb starts from a random point drawn from fresh OS entropy unless given a generator: the
    report's population accuracy then changed in the 6th digit from run to run. With the report's
    seed the fit is repeated exactly."""
    rng = np.random.default_rng(3)
    trials = pd.DataFrame([{"participant_id": f"sub-{o:03d}", "session": 1, "pair_id": f"p{p}",
                            "correct": bool(rng.random() < 0.75), "onset": float(p), "rt": 0.5 + rng.random()}
                           for o in range(4) for p in range(24)])
    prepared = mixed.prepare(trials)
    fits = [mixed.fit_correctness(prepared, seed=0) for _ in range(3)]
    assert fits[0].rows() == fits[1].rows() == fits[2].rows()
