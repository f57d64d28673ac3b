"""Which distributions of image difficulty produce dichotomous data difficulty? (the authors'
notebook 98, Fig. 10, extended)

Every scenario draws, for each image, how likely models are to classify it correctly, and then
the number of models (of m) that do; the histogram of that number shows DDD when most images sit
at "all models right" or "none". Scenarios:

- `beta`: each image's probability of being classified correctly p_i ~ Beta(a, b), the same for
  every model; the count is Binomial(m, p_i) (a beta-binomial). The paper's "exponential decay" is
  Beta(1, 0.32). U-shaped Betas (a, b < 1) put the mass at 0 and 1 and give DDD; a Beta
  concentrated in the middle gives a binomial-like hump.
- `logistic-density`: p_i drawn from the density proportional to 1 / (1 + exp(w (p - 0.5))) on
  (0, 1) (the paper's "sigmoid decay", w = -6.85), by inverse transform on a fine grid.
- `irt`: a two-parameter logistic (IRT-like) model of models x images: model j has ability
  theta_j ~ N(mean, ability_sd), image i difficulty d_i ~ N(0, difficulty_sd), and
  P(model j right on image i) = 1 / (1 + exp(-discrimination (theta_j - d_i))). Models differing
  in ability (large ability_sd) spread images over the in-between counts; models of similar
  ability with a wide spread of image difficulty give DDD.
- `binomial`: every image equally hard (p_i = p): independent models, no DDD.

`simulate` is seeded and vectorised (50,000 images x 11 models in milliseconds). `summary` gives
each scenario's split at a tolerance, its mean accuracy and the dispersion ratio Var(count) /
(m p (1 - p)) (1 for independent models; m at most). `fit_beta_binomial` finds, by maximum
likelihood, the Beta(a, b) whose beta-binomial best matches an observed models-correct histogram.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labutil import difficulty as rule

KINDS = ("beta", "logistic-density", "irt", "binomial")


@dataclass(frozen=True)
class Scenario:
    """One simulated distribution of image difficulty: a kind and its parameters."""

    name: str
    kind: str
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown scenario kind {self.kind!r} (one of {', '.join(KINDS)})")


#: The paper's two scenarios, a sweep over Beta parameters and IRT models of varying ability spread.
DEFAULT_SCENARIOS: tuple[Scenario, ...] = (
    Scenario("Beta(1, 0.32): the paper's 'exponential decay'", "beta", {"a": 1.0, "b": 0.32}),
    Scenario("logistic density, w = -6.85: the paper's 'sigmoid decay'", "logistic-density", {"w": -6.85}),
    Scenario("Beta(0.2, 0.1): strongly U-shaped", "beta", {"a": 0.2, "b": 0.1}),
    Scenario("Beta(0.5, 0.5): U-shaped", "beta", {"a": 0.5, "b": 0.5}),
    Scenario("Beta(1, 1): uniform", "beta", {"a": 1.0, "b": 1.0}),
    Scenario("Beta(6, 3): unimodal", "beta", {"a": 6.0, "b": 3.0}),
    Scenario("IRT, ability SD 0.1 (similar models)", "irt",
             {"ability_mean": 1.0, "ability_sd": 0.1, "difficulty_sd": 2.0, "discrimination": 4.0}),
    Scenario("IRT, ability SD 0.5", "irt", {"ability_mean": 1.0, "ability_sd": 0.5, "difficulty_sd": 2.0, "discrimination": 4.0}),
    Scenario("IRT, ability SD 2 (very different models)", "irt",
             {"ability_mean": 1.0, "ability_sd": 2.0, "difficulty_sd": 2.0, "discrimination": 4.0}),
    Scenario("binomial, p = 0.7: every image equally hard", "binomial", {"p": 0.7}),
)


def logistic_density_sample(w: float, n: int, rng: np.random.Generator, grid: int = 100_001) -> np.ndarray:
    """n draws from the density proportional to 1 / (1 + exp(w (p - 0.5))) on (0, 1) (inverse CDF on a grid)."""
    p = np.linspace(0.0, 1.0, grid)
    pdf = 1.0 / (1.0 + np.exp(w * (p - 0.5)))
    cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2)])
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, p)


def irt_correct(n_models: int, n_images: int, rng: np.random.Generator, ability_mean: float = 0.0,
                ability_sd: float = 1.0, difficulty_sd: float = 1.0, discrimination: float = 1.0) -> np.ndarray:
    """(n_models, n_images) correctness of a 2PL model: P(right) = 1 / (1 + exp(-a (theta_j - d_i)))."""
    theta = rng.normal(ability_mean, ability_sd, n_models)
    d = rng.normal(0.0, difficulty_sd, n_images)
    p = 1.0 / (1.0 + np.exp(-discrimination * (theta[:, None] - d[None, :])))
    return rng.random((n_models, n_images)) < p


def simulate(scenario: Scenario, n_models: int = 11, n_images: int = 50_000, seed: int = 0) -> np.ndarray:
    """Number of models (of n_models) right on each of n_images simulated images (seeded)."""
    if n_models < 1 or n_images < 1:
        raise ValueError("need at least one model and one image")
    rng = np.random.default_rng(seed)
    prm = scenario.params
    if scenario.kind == "irt":
        keys = ("ability_mean", "ability_sd", "difficulty_sd", "discrimination")
        return irt_correct(n_models, n_images, rng, **{k: float(prm[k]) for k in keys if k in prm}).sum(axis=0)
    if scenario.kind == "beta":
        p = rng.beta(float(prm["a"]), float(prm["b"]), n_images)
    elif scenario.kind == "logistic-density":
        p = logistic_density_sample(float(prm["w"]), n_images, rng)
    else:
        p = np.full(n_images, float(prm["p"]))
    return rng.binomial(n_models, p)


def histogram(n_correct: np.ndarray, n_models: int) -> np.ndarray:
    """Share of images with 0..n_models models right."""
    counts = np.bincount(np.asarray(n_correct, dtype=np.int64), minlength=n_models + 1)
    return counts / counts.sum()


def split(n_correct: np.ndarray, n_models: int, tolerance: int) -> dict[str, float]:
    """Shares of trivial / in-between / impossible images (the project's rule, `labutil.difficulty`)."""
    levels = rule.classify(np.asarray(n_correct), n_models, tolerance)
    return {lvl: float(np.mean(levels == lvl)) for lvl in ("trivial", "in-between", "impossible")}


def dispersion_ratio(n_correct: np.ndarray, n_models: int) -> float:
    """Var(count) / (m p (1 - p)) with p the mean accuracy: 1 for independent, equal models."""
    n = np.asarray(n_correct, dtype=np.float64)
    p = n.mean() / n_models
    denominator = n_models * p * (1 - p)
    return float(n.var() / denominator) if denominator > 0 else float("nan")


def summary(scenarios: Sequence[Scenario], n_models: int = 11, n_images: int = 50_000, tolerance: int = 1,
            seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per scenario: split, mean accuracy, dispersion ratio; long histogram table), seeded.

    Scenario k uses seed + k, so adding a scenario at the end leaves the others' draws unchanged.
    """
    rule.check_tolerance(tolerance, n_models)
    rows, hist = [], []
    for k, sc in enumerate(scenarios):
        n = simulate(sc, n_models, n_images, seed + k)
        rows.append({"scenario": sc.name, "kind": sc.kind,
                     "parameters": ", ".join(f"{p} = {v:.4g}" for p, v in sc.params.items()),
                     "n_models": n_models, "n_images": n_images, "seed": seed + k,
                     "mean_accuracy": float(n.mean() / n_models), **split(n, n_models, tolerance),
                     "dispersion_ratio": dispersion_ratio(n, n_models)})
        hist.append(pd.DataFrame({"scenario": sc.name, "n_correct": np.arange(n_models + 1), "share": histogram(n, n_models)}))
    return pd.DataFrame(rows), pd.concat(hist, ignore_index=True)


def fit_beta_binomial(n_correct: np.ndarray, n_models: int) -> dict[str, Any]:
    """Maximum-likelihood Beta(a, b) of a beta-binomial fitted to models-correct counts (scipy).

    Returns a, b, the log-likelihood, and that of the best binomial (independent equal models)
    for comparison. Optimised over log a and log b from the method-of-moments start.
    """
    from scipy.optimize import minimize
    from scipy.special import betaln, gammaln
    from scipy.stats import binom

    counts = np.bincount(np.asarray(n_correct, dtype=np.int64), minlength=n_models + 1).astype(float)
    k = np.arange(n_models + 1)
    n = counts.sum()
    mean = (counts @ k) / n / n_models
    var = (counts @ (k - mean * n_models) ** 2) / n
    # moments: var = B (s + m) / (s + 1) with B = m p (1 - p) and s = a + b, so s = (B m - var) / (var - B)
    base = n_models * mean * (1 - mean)
    total = (n_models * base - var) / (var - base) if var > base > 0 else 1.0
    total = min(max(total, 1e-3), 1e6)
    start = np.log([max(mean, 1e-3) * total, max(1 - mean, 1e-3) * total])

    log_choose = gammaln(n_models + 1) - gammaln(k + 1) - gammaln(n_models - k + 1)

    def nll(x: np.ndarray) -> float:  # beta-binomial log pmf: ln C(m, k) + ln B(k + a, m - k + b) - ln B(a, b)
        a, b = np.exp(x)
        return -float(counts @ (log_choose + betaln(k + a, n_models - k + b) - betaln(a, b)))

    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-8, "maxiter": 4000})
    a, b = np.exp(res.x)
    return {"a": float(a), "b": float(b), "log_likelihood": -float(res.fun), "mean_accuracy": float(mean),
            "binomial_log_likelihood": float(counts @ binom.logpmf(k, n_models, mean)), "n_images": int(n),
            "n_models": n_models, "converged": bool(res.success)}


def scenarios_figure(hist: pd.DataFrame, table: pd.DataFrame, tolerance: int, title: str,
                     observed: np.ndarray | None = None, observed_label: str = "observed"):
    """One panel per scenario: share of images by number of models right, coloured by level at the
    tolerance; an observed histogram (shares 0..m), if given, drawn as a black outline in every panel."""
    from analysis.plotting import COLORS, new_figure

    names = list(dict.fromkeys(hist["scenario"]))
    ncols = 3 if len(names) > 4 else len(names)
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = new_figure(3.2 * ncols, 2.4 * nrows, nrows, ncols, squeeze=False, sharey=True)
    for ax, name in zip(axes.flat, names):
        h = hist[hist["scenario"] == name]
        m = int(h["n_correct"].max())
        levels = rule.classify(h["n_correct"].to_numpy(), m, tolerance)
        ax.bar(h["n_correct"], h["share"], color=[COLORS[str(lv)] for lv in levels], width=0.85)
        if observed is not None and len(observed) == m + 1:
            ax.step(np.arange(m + 1), observed, where="mid", color="black", lw=1.0, label=observed_label)
        row = table[table["scenario"] == name].iloc[0]
        ax.set_title(f"{name}\n{row['trivial']:.0%} / {row['in-between']:.0%} / {row['impossible']:.0%}", fontsize=7)
        ax.set_xticks([0, m // 2, m], ["none", str(m // 2), "all"])
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of images")
    for ax in axes[-1, :]:
        ax.set_xlabel("models right")
    if observed is not None:
        axes.flat[0].legend(frameon=False, fontsize=7, loc="upper center")
    fig.suptitle(title)
    return fig
