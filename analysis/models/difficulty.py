"""Dichotomous data difficulty: models correct per image, the trivial / in-between / impossible
split, and how far the models-correct histogram is from independent models.

Split with tolerance k over m models: an image is *trivial* if at least m - k models get it right,
*impossible* if at most k do, *in-between* otherwise (k = 0: all right / all wrong; the paper's
ImageNet figures 46.0 % / 11.5 % / 42.5 % for 11 models use k = 1). k must satisfy 2k < m, so
that no image is both trivial and impossible.

Independence: if models erred independently, the number of models right on an image would follow
a Poisson-binomial distribution with the models' own accuracies p_j (a binomial with the mean
accuracy if all p_j were equal: the paper's green bars). `independence_test` compares the observed
histogram with either null by a likelihood-ratio (G) test: bins pooled from the tails inwards until
every expected count is >= 5, G = 2 sum O ln(O / E), referred to chi-square with (bins - 2) degrees
of freedom (one for the fixed total, one for the accuracy that both nulls take from the data; the
reference distribution is asymptotic). With tens of thousands of images the p-value underflows,
so its log10 is reported too. The effect size is the *dispersion ratio* Var(observed count) /
Var(null count): 1 under independence; since Var(sum X_j) = sum p_j (1 - p_j) + sum_{j != k}
Cov(X_j, X_k), the excess over 1 is the models' summed pairwise error covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labutil import difficulty as rule
from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import UserError

LEVELS: tuple[str, str, str] = ("trivial", "in-between", "impossible")


def models_correct(correct: np.ndarray) -> np.ndarray:
    """Number of models right on each image, from a (n_models, n_images) bool array."""
    c = np.asarray(correct)
    if c.ndim != 2:
        raise ValueError(f"expected (n_models, n_images), got shape {c.shape}")
    return c.sum(axis=0, dtype=np.int64)


def check_tolerance(n_models: int, tolerance: int) -> None:
    """Refuse a tolerance that makes trivial and impossible overlap (needs 0 <= k and 2k < m)."""
    if n_models < 1:
        raise UserError("no models to split images by")
    rule.check_tolerance(tolerance, n_models)


def difficulty(n_correct: np.ndarray, n_models: int, tolerance: int = DEFAULT_TOLERANCE) -> np.ndarray:
    """Per image 'trivial' / 'in-between' / 'impossible' (numpy str array) with tolerance k
    (the rule of `labutil.difficulty`, which stimuli uses too)."""
    check_tolerance(n_models, tolerance)
    n = np.asarray(n_correct)
    if n.size and (n.min() < 0 or n.max() > n_models):
        raise UserError(f"models-correct counts must lie in 0..{n_models}, found {n.min()}..{n.max()}")
    return rule.classify(n, n_models, tolerance).astype("<U10")


def difficulty_shares(n_correct: np.ndarray, n_models: int, tolerance: int = DEFAULT_TOLERANCE) -> dict[str, float]:
    """Share of images in each level, in LEVELS order."""
    d = difficulty(n_correct, n_models, tolerance)
    if d.size == 0:
        raise UserError("no images to split")
    return {level: float(np.mean(d == level)) for level in LEVELS}


def histogram(n_correct: np.ndarray, n_models: int) -> np.ndarray:
    """Number of images with 0..n_models models correct (length n_models + 1)."""
    return np.bincount(np.asarray(n_correct, dtype=np.int64), minlength=n_models + 1)[: n_models + 1]


def binomial_pmf(n_models: int, p: float) -> np.ndarray:
    """P(K = k), k = 0..m, for m independent models that are each right with probability p."""
    from math import comb

    k = np.arange(n_models + 1)
    coef = np.array([float(comb(n_models, int(i))) for i in k])
    return coef * np.power(float(p), k) * np.power(1.0 - float(p), n_models - k)


def poisson_binomial_pmf(accuracies: np.ndarray) -> np.ndarray:
    """P(K = k), k = 0..m, for independent models with their own accuracies (exact convolution)."""
    pmf = np.array([1.0])
    for p in np.asarray(accuracies, dtype=np.float64):
        pmf = np.convolve(pmf, [1.0 - p, p])
    return pmf


@dataclass(frozen=True)
class IndependenceResult:
    """How far a models-correct histogram is from a null of independent models."""

    null: str
    g: float
    dof: int
    p_value: float
    log10_p: float
    n_bins: int
    dispersion_ratio: float


def _pool_bins(observed: np.ndarray, expected: np.ndarray, min_expected: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge tail bins inwards until every expected count reaches min_expected (or one bin is left)."""
    obs, exp = list(map(float, observed)), list(map(float, expected))

    def merge(i: int, j: int) -> None:
        """Add bin i into its neighbour j, then drop bin i."""
        exp[j] += exp[i]
        obs[j] += obs[i]
        del exp[i], obs[i]

    while len(exp) > 1 and exp[0] < min_expected:
        merge(0, 1)
    while len(exp) > 1 and exp[-1] < min_expected:
        merge(len(exp) - 1, len(exp) - 2)
    # interior bins below the threshold (rare: bimodal nulls) are merged with their right neighbour
    i = 0
    while i < len(exp) - 1:
        if exp[i] < min_expected:
            merge(i, i + 1)
        else:
            i += 1
    return np.array(obs), np.array(exp)


def independence_test(
    counts: np.ndarray,
    null_pmf: np.ndarray,
    null: str = "poisson-binomial",
    min_expected: float = 5.0,
) -> IndependenceResult:
    """G test of a models-correct histogram against a null pmf (see module docstring)."""
    counts = np.asarray(counts, dtype=np.float64)
    pmf = np.asarray(null_pmf, dtype=np.float64)
    if counts.shape != pmf.shape:
        raise ValueError("counts and null pmf must both have n_models + 1 bins")
    n = counts.sum()
    if n <= 0:
        raise UserError("no images to test")
    obs, exp = _pool_bins(counts, pmf * n, min_expected)
    nz = obs > 0
    g = max(float(2.0 * np.sum(obs[nz] * np.log(obs[nz] / exp[nz]))), 0.0)  # >= 0 (Gibbs); clip rounding
    dof = max(len(exp) - 2, 1)
    k = np.arange(len(counts))
    mean_obs = np.sum(k * counts) / n
    var_obs = np.sum((k - mean_obs) ** 2 * counts) / n
    mean_null = np.sum(k * pmf)
    var_null = np.sum((k - mean_null) ** 2 * pmf)
    ratio = float(var_obs / var_null) if var_null > 0 else float("nan")
    log_sf = chi2_log_sf(g, dof)
    return IndependenceResult(null, g, dof, float(np.exp(log_sf)), log_sf / np.log(10), len(exp), ratio)


def chi2_log_sf(x: float, dof: int) -> float:
    """Natural log of the chi-square survival function, finite even where the p-value underflows.

    The survival function (scipy.special.chdtrc) underflows beyond ~1e-300; there the asymptotic
    series of the upper incomplete gamma function, Gamma(a, z) ~ z^(a-1) e^(-z) sum_k
    (a-1)...(a-k) / z^k (a = dof/2, z = x/2), is used (accurate for z >> a, which underflow implies).
    """
    from scipy import special

    sf = float(special.chdtrc(dof, x))
    if sf > 1e-290:
        return float(np.log(sf))
    a, z = dof / 2.0, x / 2.0
    term, total = 1.0, 1.0
    for k in range(1, 30):
        term *= (a - k) / z
        total += term
        if abs(term) < 1e-17:
            break
    return float((a - 1) * np.log(z) - z + np.log(total) - special.gammaln(a))


def null_histograms(counts: np.ndarray, accuracies: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Expected models-correct histograms (counts) under the binomial and Poisson-binomial nulls.

    The binomial uses the mean accuracy implied by the histogram; the Poisson-binomial needs each
    model's accuracy on the same images and is left out when `accuracies` is None.
    """
    counts = np.asarray(counts, dtype=np.float64)
    m = len(counts) - 1
    n = counts.sum()
    p_mean = float(np.sum(np.arange(m + 1) * counts) / (n * m)) if n and m else float("nan")
    out = {"binomial": binomial_pmf(m, p_mean) * n}
    if accuracies is not None:
        if len(accuracies) != m:
            raise ValueError(f"{len(accuracies)} accuracies for {m} models")
        out["poisson-binomial"] = poisson_binomial_pmf(accuracies) * n
    return out


def histogram_table(
    counts: np.ndarray,
    accuracies: np.ndarray | None = None,
    label_issue_counts: np.ndarray | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
):
    """DataFrame per models-correct value: images, label issues, the nulls' expectations, level."""
    import pandas as pd

    counts = np.asarray(counts)
    m = len(counts) - 1
    nulls = null_histograms(counts, accuracies)
    df = pd.DataFrame({"n_correct": np.arange(m + 1), "n_images": counts})
    if label_issue_counts is not None:
        df["n_label_issues"] = np.asarray(label_issue_counts)
    for name, exp in nulls.items():
        df[f"expected_{name.replace('-', '_')}"] = exp
    df["difficulty"] = difficulty(np.arange(m + 1), m, tolerance)
    return df


def split_table(n_correct: np.ndarray, n_models: int, tolerances: list[int], label_issues: np.ndarray | None = None):
    """The split at each tolerance, on all images and (with a label-issue mask) without the flagged ones.

    Columns: tolerance, label_issues ("included" | "excluded"), n_images, trivial, in-between,
    impossible (shares).
    """
    import pandas as pd

    n = np.asarray(n_correct)
    subsets = [("included", np.ones(n.size, bool))]
    if label_issues is not None:
        subsets.append(("excluded", ~np.asarray(label_issues, dtype=bool)))
    rows = []
    for k in tolerances:
        for what, keep in subsets:
            rows.append({"tolerance": k, "label_issues": what, "n_images": int(keep.sum()),
                         **difficulty_shares(n[keep], n_models, k)})
    return pd.DataFrame(rows)
