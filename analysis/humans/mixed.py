"""Population estimates of the 2AFC task from mixed models (statsmodels).

Correctness: a logistic mixed model with crossed random intercepts for observer and image pair
and a fixed effect of trial position (learning or fatigue),
    logit P(correct) = b0 + b1 * position_z + u_observer + v_pair,  u ~ N(0, s_o^2), v ~ N(0, s_p^2),
fitted by statsmodels' `BinomialBayesMixedGLM` (variational Bayes, `fit_vb`, with its default
weak priors: fixed effects N(0, 2^2), log-SDs of the random effects N(0, 1)). It is the one
model in statsmodels that takes crossed random effects for a binary outcome; a frequentist
GLMM (lme4's glmer) would need R, which the lab software does not depend on. The posterior of
(b0, log s_o, log s_p) is approximately normal; from draws of it we give
- `typical`: expit(b0), the accuracy of a typical observer (u = 0) on a typical pair (v = 0);
- `population`: E[expit(b0 + u + v)], the mean accuracy over observers and pairs of the
  population (what "humans are x % correct" claims), integrated by Gauss-Hermite quadrature;
each with its 95 % credible interval, and the posterior probability that b0 <= 0 (the typical
observer at or below chance) as the population test beside the per-observer binomial tests.

Mean-field variational Bayes treats b0 as independent of the random effects and so understates
its uncertainty: on 20 simulated observers it gave +-1.6 points where +-3.4 is right. The draws
of b0 therefore use the variance fe_sd^2 + s_o^2 / n_observers + s_p^2 / n_pairs: the VB
variance plus the uncertainty about where the population mean lies given that only these
observers and pairs were sampled (the terms the standard error of a grand mean carries in a
crossed random design). The simulation test checks the coverage this gives.

Reaction times: a linear mixed model (statsmodels `MixedLM`, REML) of log RT on correctness
and trial position with a random intercept per observer; exp(coefficient) is the ratio of RTs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.warning_notes import fitting

N_DRAWS = 4000


def prepare(trials: pd.DataFrame) -> pd.DataFrame:
    """Test trials with observer, pair, correctness, log RT and the trial's position in its session
    (0, 1, ... in order of onset, else file order), standardised over all trials as position_z."""
    t = trials.copy()
    t["observer"] = t["participant_id"].astype(str) + "/" + t["session"].astype(str)
    t["pair"] = t["pair_id"].astype(str)
    t["correct"] = t["correct"].astype(bool).astype(float)
    key = "onset" if "onset" in t and t["onset"].notna().all() else None
    t["_row"] = np.arange(len(t))
    order = t.sort_values(["observer", key, "_row"] if key else ["observer", "_row"], kind="stable")
    t.loc[order.index, "position"] = order.groupby("observer").cumcount().to_numpy()
    sd = float(t["position"].std(ddof=0))
    t["position_z"] = (t["position"] - t["position"].mean()) / (sd if sd > 0 else 1.0)
    rt = t["rt"].astype(float)
    t["log_rt"] = np.log(rt.where(rt > 0))
    return t.drop(columns="_row")


@dataclass
class CorrectnessModel:
    """What the logistic mixed model says about the population."""

    typical: float
    typical_ci: tuple[float, float]
    population: float
    population_ci: tuple[float, float]
    p_at_or_below_chance: float  # posterior probability that b0 <= 0
    position_odds_ratio_per_100: float
    position_ci: tuple[float, float]
    sd_observer: float  # posterior mean of the random-effect SDs (logit scale)
    sd_pair: float
    n_trials: int
    n_observers: int
    n_pairs: int

    def rows(self) -> list[dict[str, Any]]:
        """The table of the report."""
        return [
            {"quantity": "accuracy of the population (mean over observers and pairs)", "estimate": self.population,
             "ci_low": self.population_ci[0], "ci_high": self.population_ci[1]},
            {"quantity": "accuracy of a typical observer on a typical pair (expit b0)", "estimate": self.typical,
             "ci_low": self.typical_ci[0], "ci_high": self.typical_ci[1]},
            {"quantity": "odds ratio of a correct choice per 100 trials later", "estimate": self.position_odds_ratio_per_100,
             "ci_low": self.position_ci[0], "ci_high": self.position_ci[1]},
            {"quantity": "SD of observer effects (logit)", "estimate": self.sd_observer, "ci_low": np.nan, "ci_high": np.nan},
            {"quantity": "SD of pair effects (logit)", "estimate": self.sd_pair, "ci_low": np.nan, "ci_high": np.nan},
        ]


def _marginal_accuracy(b0: np.ndarray, sd: np.ndarray, n_nodes: int = 40) -> np.ndarray:
    """E[expit(b0 + e)], e ~ N(0, sd^2), for vectors of b0 and sd (Gauss-Hermite quadrature)."""
    from scipy.special import expit

    x, wts = np.polynomial.hermite_e.hermegauss(n_nodes)  # weight exp(-x^2 / 2)
    wts = wts / wts.sum()
    return expit(b0[:, None] + sd[:, None] * x[None, :]) @ wts


def fit_correctness(t: pd.DataFrame, seed: int = 0) -> CorrectnessModel | None:
    """Fit the logistic mixed model to `prepare`d trials; None with fewer than 2 observers or pairs,
    or when every choice was correct (or every one wrong): then there is nothing to model."""
    from scipy.special import expit
    from scipy.stats import norm
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    n_obs, n_pairs = t["observer"].nunique(), t["pair"].nunique()
    if n_obs < 2 or n_pairs < 2 or t["correct"].nunique() < 2:
        return None
    has_position = t["position_z"].std() > 0
    formula = "correct ~ 1 + position_z" if has_position else "correct ~ 1"
    model = BinomialBayesMixedGLM.from_formula(
        formula, {"observer": "0 + C(observer)", "pair": "0 + C(pair)"}, t[["correct", "position_z", "observer", "pair"]])
    with fitting("the 2AFC population model (BinomialBayesMixedGLM)"):
        fit = model.fit_vb(rng=np.random.default_rng(seed))  # its random start, seeded: the same numbers on every run
    names = list(model.vcp_names)
    rng = np.random.default_rng(seed)
    log_sd = {n: rng.normal(fit.vcp_mean[i], fit.vcp_sd[i], N_DRAWS) for i, n in enumerate(names)}
    s_o, s_p = np.exp(log_sd["observer"]), np.exp(log_sd["pair"])
    b0_sd = np.sqrt(fit.fe_sd[0] ** 2 + s_o**2 / n_obs + s_p**2 / n_pairs)  # see intercept_sd
    b0 = rng.normal(fit.fe_mean[0], b0_sd)
    total_sd = np.sqrt(s_o**2 + s_p**2)
    pop = _marginal_accuracy(b0, total_sd)
    typ = expit(b0)
    scale = 100.0 / float(t["position"].std(ddof=0)) if has_position else np.nan
    if has_position:
        b1, s1 = fit.fe_mean[1], fit.fe_sd[1]
        pos = (float(np.exp(b1 * scale)), (float(np.exp((b1 - 1.96 * s1) * scale)), float(np.exp((b1 + 1.96 * s1) * scale))))
    else:
        pos = (np.nan, (np.nan, np.nan))
    q = [0.025, 0.975]
    return CorrectnessModel(
        typical=float(expit(fit.fe_mean[0])), typical_ci=tuple(float(v) for v in np.quantile(typ, q)),
        population=float(np.mean(pop)), population_ci=tuple(float(v) for v in np.quantile(pop, q)),
        p_at_or_below_chance=float(np.mean(norm.cdf(-fit.fe_mean[0] / b0_sd))),
        position_odds_ratio_per_100=pos[0], position_ci=pos[1],
        sd_observer=float(np.exp(fit.vcp_mean[names.index("observer")])), sd_pair=float(np.exp(fit.vcp_mean[names.index("pair")])),
        n_trials=len(t), n_observers=n_obs, n_pairs=n_pairs)


def fit_rt(t: pd.DataFrame) -> pd.DataFrame:
    """log RT ~ correct + position_z with a random intercept per observer (MixedLM, REML): per fixed
    effect the coefficient, its 95 % CI, p, and exp(coefficient) as the ratio of RTs."""
    import statsmodels.formula.api as smf

    d = t[np.isfinite(t["log_rt"])]
    cols = ["term", "coefficient", "ci_low", "ci_high", "p_value", "rt_ratio", "rt_ratio_ci_low", "rt_ratio_ci_high"]
    if d["observer"].nunique() < 2 or d["correct"].nunique() < 2:
        return pd.DataFrame(columns=cols)
    formula = "log_rt ~ correct + position_z" if d["position_z"].std() > 0 else "log_rt ~ correct"
    with fitting("the log-RT mixed model (MixedLM)"):  # a sentence in the report, never raw on the terminal
        fit = smf.mixedlm(formula, d, groups=d["observer"]).fit(reml=True)
    ci = fit.conf_int()
    rows = []
    for term in fit.fe_params.index:
        b, lo, hi = float(fit.fe_params[term]), float(ci.loc[term, 0]), float(ci.loc[term, 1])
        rows.append({"term": term, "coefficient": b, "ci_low": lo, "ci_high": hi, "p_value": float(fit.pvalues[term]),
                     "rt_ratio": float(np.exp(b)), "rt_ratio_ci_low": float(np.exp(lo)), "rt_ratio_ci_high": float(np.exp(hi))})
    return pd.DataFrame(rows, columns=cols)
