"""Error consistency (Geirhos et al., 2020): Cohen's kappa on trial-by-trial correctness.

For two observers (models or humans) with boolean correctness vectors a, b over the same trials:

    c_obs = share of trials where both are right or both are wrong
    c_exp = p1 p2 + (1 - p1)(1 - p2)          (p = accuracy; agreement expected by chance)
    kappa = (c_obs - c_exp) / (1 - c_exp)

Degenerate case: c_exp = 1 happens only when both observers are always right or both are always
wrong (p1 = p2 = 1 or p1 = p2 = 0). Then there are no errors (or no successes) whose consistency
could be measured, and 0/0 has no meaningful value: kappa is NaN ("undefined"), exactly as in
scikit-learn's `cohen_kappa_score` and wichmann-lab/error_consistency. If only one observer is
perfect (or always wrong), c_obs = c_exp and kappa = 0. Aggregates over pairs use `np.nanmean`.

Uncertainty: percentile bootstrap intervals over trials (`bootstrap_ci`, seeded), the range of
kappa attainable at the observed accuracies (`kappa_bounds`), and a test against independent
observers with the same accuracies (`independence_test`; its log10 p stays finite where p
underflows, summed in log space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "error_consistency",
    "error_consistency_matrix",
    "kappa_from_counts",
    "kappa_bounds",
    "bootstrap_ci",
    "independence_test",
    "IndependenceTest",
]


def _as_bool_vector(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{name} must hold correct/incorrect (bool or 0/1) values")
        arr = arr.astype(bool)
    return arr


def kappa_from_counts(n_both_right: np.ndarray, n_right_a: np.ndarray, n_right_b: np.ndarray, n: int) -> np.ndarray:
    """Kappa from the 2x2 table's counts (broadcasts); NaN where c_exp = 1 (see module docstring).

    Multiplying numerator and denominator by n^2 gives the integer form
    kappa = 2 (n n11 - r1 r2) / (n (r1 + r2) - 2 r1 r2), with r = number right; both parts are
    exact integers in float64 (n < ~10^7), so the one division is correctly rounded and the
    textbook cases come out exact (kappa = 0 when one observer is perfect, +-1 for (anti)copies).
    """
    n11 = np.asarray(n_both_right, dtype=np.float64)
    r1 = np.asarray(n_right_a, dtype=np.float64)
    r2 = np.asarray(n_right_b, dtype=np.float64)
    num = 2.0 * (n * n11 - r1 * r2)
    den = n * (r1 + r2) - 2.0 * r1 * r2  # = n^2 (1 - c_exp); zero iff r1 = r2 = 0 or r1 = r2 = n
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = num / den
    return np.where(den == 0, np.nan, kappa)


def error_consistency(a: np.ndarray, b: np.ndarray) -> float:
    """Error consistency (kappa) of two correctness vectors over the same trials; NaN if c_exp = 1."""
    a = _as_bool_vector(a, "a")
    b = _as_bool_vector(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("error consistency needs at least one trial")
    n11 = int(np.count_nonzero(a & b))
    return float(kappa_from_counts(n11, int(a.sum()), int(b.sum()), a.size))


def error_consistency_matrix(decisions: np.ndarray) -> np.ndarray:
    """Kappa of every pair of rows of a (n_models, n_images) bool array, as (n_models, n_models).

    One matrix product gives all both-right counts; both-wrong counts follow from the row sums
    (n - r_i - r_j + both_right). The diagonal is 1 (NaN for an always-right/always-wrong model).
    Counts are exact integers in float64, so results equal the pairwise formula to rounding.
    """
    d = np.asarray(decisions)
    if d.ndim != 2:
        raise ValueError(f"decisions must be (n_models, n_images), got shape {d.shape}")
    if d.shape[1] == 0:
        raise ValueError("error consistency needs at least one image")
    # Every partial sum is an integer <= n_images; float32 holds integers exactly below 2**24,
    # so float32 BLAS (twice as fast) is exact there; larger inputs use float64.
    x = d.astype(np.float32 if d.shape[1] < 2**24 else np.float64)
    both = x @ x.T
    right = d.sum(axis=1, dtype=np.int64).astype(np.float64)
    return kappa_from_counts(both.astype(np.float64), right[:, None], right[None, :], d.shape[1])


def kappa_bounds(p1: float | np.ndarray, p2: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest kappa attainable by two observers with accuracies p1 and p2.

    The highest c_obs puts as many trials as possible on the diagonal (min(p1, p2) both right,
    min(1-p1, 1-p2) both wrong); the lowest puts as many as possible off it. Unequal accuracies
    therefore cap kappa below 1 (e.g. p1 = 0.9, p2 = 0.6 gives at most 2/7). NaN where
    c_exp = 1. Broadcasts over arrays; returns (kappa_min, kappa_max).
    """
    p1 = np.asarray(p1, dtype=np.float64)
    p2 = np.asarray(p2, dtype=np.float64)
    if np.any((p1 < 0) | (p1 > 1) | (p2 < 0) | (p2 > 1)):
        raise ValueError("accuracies must lie in [0, 1]")
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    obs_max = np.minimum(p1, p2) + np.minimum(1 - p1, 1 - p2)
    obs_min = 1 - (np.minimum(p1, 1 - p2) + np.minimum(1 - p1, p2))
    with np.errstate(invalid="ignore", divide="ignore"):
        kmin = (obs_min - c_exp) / (1 - c_exp)
        kmax = (obs_max - c_exp) / (1 - c_exp)
    degenerate = c_exp >= 1.0
    return np.where(degenerate, np.nan, kmin), np.where(degenerate, np.nan, kmax)


def _cell_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of (right, right), (right, wrong), (wrong, right), (wrong, wrong)."""
    code = (~a).astype(np.int64) * 2 + (~b).astype(np.int64)
    return np.bincount(code, minlength=4)


def _kappa_from_cells(cells: np.ndarray, n: int) -> np.ndarray:
    cells = np.asarray(cells)
    n11 = cells[..., 0]
    return kappa_from_counts(n11, n11 + cells[..., 1], n11 + cells[..., 2], n)


def bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the error consistency, resampling trials with replacement.

    Resampling n trials with replacement is the same as drawing the four cells of the 2x2 table
    from a multinomial with the observed cell shares, which is what is done (fast, exact in
    distribution). Resamples with undefined kappa (c_exp = 1) are dropped; (nan, nan) if all are.
    """
    a = _as_bool_vector(a, "a")
    b = _as_bool_vector(b, "b")
    if a.shape != b.shape or a.size == 0:
        raise ValueError("a and b must be non-empty and of the same length")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    n = a.size
    cells = _cell_counts(a, b)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, cells / n, size=n_boot)
    kappas = _kappa_from_cells(draws, n)
    kappas = kappas[np.isfinite(kappas)]
    if kappas.size == 0:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(kappas, [tail, 100 - tail])
    return (float(lo), float(hi))


def _hypergeom_logpmf(x: np.ndarray, n: int, r1: int, r2: int) -> np.ndarray:
    """ln P(both right = x) for independent observers with r1 and r2 right of n, via log-gamma.

    Vectorised over the whole support (scipy's hypergeom.pmf evaluates element by element and
    takes seconds for 50,000 trials).
    """
    from scipy.special import gammaln

    def log_choose(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        return gammaln(np.asarray(a, dtype=np.float64) + 1) - gammaln(np.asarray(b, dtype=np.float64) + 1) - gammaln(
            np.asarray(a, dtype=np.float64) - b + 1
        )

    x = np.asarray(x, dtype=np.int64)
    return log_choose(r1, x) + log_choose(n - r1, r2 - x) - log_choose(n, r2)


@dataclass(frozen=True)
class IndependenceTest:
    """Result of testing an observed kappa against independent observers of the same accuracies."""

    kappa: float
    p_value: float
    method: str
    null_mean: float
    null_sd: float
    log10_p: float = float("nan")  # finite where p_value underflows to 0 (exact method)


def independence_test(
    a: np.ndarray,
    b: np.ndarray,
    method: Literal["exact", "monte-carlo"] = "exact",
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    n_sim: int = 10000,
    seed: int = 0,
) -> IndependenceTest:
    """Is the error consistency larger (or different) than that of independent observers?

    H0: the two observers err independently, with the accuracies they showed.

    - "exact": conditional on both observers' numbers of correct trials, the number of trials both
      get right is hypergeometric under H0, and kappa is an increasing linear function of it.
      The p-value sums the hypergeometric probabilities of tables at least as extreme in kappa
      (|kappa| for two-sided). The one-sided "greater" version equals Fisher's exact test.
    - "monte-carlo": in the spirit of wichmann-lab/error_consistency (2025): simulate `n_sim`
      pairs of independent Bernoulli observers with accuracies p1, p2 over the same number of
      trials (seeded); p = (1 + #{null kappa at least as extreme}) / (1 + #{defined null kappas}).
    """
    if method not in ("exact", "monte-carlo"):
        raise ValueError(f"unknown method {method!r} (exact or monte-carlo)")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative {alternative!r} (two-sided, greater or less)")
    a = _as_bool_vector(a, "a")
    b = _as_bool_vector(b, "b")
    if a.shape != b.shape or a.size == 0:
        raise ValueError("a and b must be non-empty and of the same length")
    n = a.size
    r1, r2 = int(a.sum()), int(b.sum())
    n11 = int(np.count_nonzero(a & b))
    kappa = float(kappa_from_counts(n11, r1, r2, n))
    if not np.isfinite(kappa):
        return IndependenceTest(kappa, float("nan"), method, float("nan"), float("nan"))

    def extreme(k: np.ndarray) -> np.ndarray:
        tol = 1e-12
        if alternative == "greater":
            return k >= kappa - tol
        if alternative == "less":
            return k <= kappa + tol
        return np.abs(k) >= abs(kappa) - tol

    if method == "exact":
        support = np.arange(max(0, r1 + r2 - n), min(r1, r2) + 1)
        from scipy.special import logsumexp

        log_pmf = _hypergeom_logpmf(support, n, r1, r2)
        pmf = np.exp(log_pmf)
        k_null = kappa_from_counts(support, r1, r2, n)
        hit = extreme(k_null)
        p = float(np.clip(pmf[hit].sum(), 0.0, 1.0))
        log10_p = min(float(logsumexp(log_pmf[hit])) / np.log(10), 0.0) if hit.any() else float("-inf")
        mean = float(np.sum(pmf * k_null))
        sd = float(np.sqrt(max(np.sum(pmf * (k_null - mean) ** 2), 0.0)))
        return IndependenceTest(kappa, p, method, mean, sd, log10_p)
    rng = np.random.default_rng(seed)  # method is "monte-carlo" (checked above)
    p1, p2 = r1 / n, r2 / n
    probs = np.array([p1 * p2, p1 * (1 - p2), (1 - p1) * p2, (1 - p1) * (1 - p2)])
    draws = rng.multinomial(n, probs / probs.sum(), size=n_sim)
    k_null = _kappa_from_cells(draws, n)
    k_null = k_null[np.isfinite(k_null)]
    p = float((1 + np.count_nonzero(extreme(k_null))) / (1 + k_null.size))
    return IndependenceTest(kappa, p, method, float(k_null.mean()), float(k_null.std()), float(np.log10(p)))
