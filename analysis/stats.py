"""Small statistics used by the human-data analyses: exact binomial intervals and tests (one- or
two-sided, with log10 p where p underflows), Holm's correction, summaries over observers,
Pearson and Spearman correlations, chi-squared with Cramér's V, and the p-value formatter
`format_p` every report section uses.

Thin, documented wrappers around scipy and statsmodels, so every number in the report has one
definition and the tests can compare against the libraries directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Proportion:
    """k successes out of n, with a Clopper-Pearson interval and an exact binomial test (either side or both)."""

    k: int
    n: int
    p: float  # k / n
    ci_low: float
    ci_high: float
    p_value: float  # exact binomial test against `null` (two-sided unless asked otherwise)
    null: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson, beta-quantile) interval for a binomial proportion k/n (scipy's
    `binomtest(...).proportion_ci(method="exact")`; equal to statsmodels' method="beta")."""
    from scipy.stats import binomtest

    if n <= 0:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def binomial_test(k: int, n: int, null: float = 0.5, alternative: str = "two-sided") -> float:
    """Exact binomial test p-value of k successes in n trials against `null` (scipy);
    `alternative` is "two-sided", "greater" (above `null`) or "less"."""
    from scipy.stats import binomtest

    if n <= 0:
        return float("nan")
    return float(binomtest(int(k), int(n), null, alternative=alternative).pvalue)


def binomial_log10_p(k: int, n: int, null: float = 0.5, alternative: str = "greater") -> float:
    """log10 of the exact binomial p-value, finite where the p-value itself underflows to 0.
    One-sided from the log survival / distribution function; two-sided (only for null = 0.5,
    where the distribution is symmetric) as log10(2) plus the smaller tail, capped at 0."""
    from scipy.special import logsumexp
    from scipy.stats import binom

    if n <= 0:
        return float("nan")
    logpmf = binom.logpmf(np.arange(n + 1), n, null)  # summed in log space: the tails never underflow
    greater = float(logsumexp(logpmf[int(k):]))  # log P(X >= k)
    less = float(logsumexp(logpmf[: int(k) + 1]))  # log P(X <= k)
    if alternative == "greater":
        ln = greater
    elif alternative == "less":
        ln = less
    elif alternative == "two-sided":
        if null != 0.5:
            raise ValueError("two-sided log10 p is only defined here for null = 0.5")
        ln = min(0.0, np.log(2.0) + min(greater, less))
    else:
        raise ValueError(f"unknown alternative {alternative!r}")
    return ln / np.log(10.0)


def holm(p_values: Any) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), NaNs left out and kept as NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * q[order])
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


P_FLOOR = 1e-300


def format_p(p: float | None, log10_p: float | None = None) -> str:
    """A p-value as text: `< 1e-300` (with `log10 p = ...` when known) below the floating-point
    range, otherwise three significant digits (`p < 0.001` shown as e.g. 2.3e-05); NaN as n/a."""
    if p is None or not np.isfinite(p):
        return "n/a"
    log_known = log10_p is not None and np.isfinite(log10_p)
    if p < P_FLOOR:
        return f"< 1e-300 (log10 p = {log10_p:.1f})" if log_known else "< 1e-300"
    if p < 1e-3:
        return f"{p:.2g}" + (f" (log10 p = {log10_p:.1f})" if log_known and p < 1e-10 else "")
    return f"{p:.3f}"


def proportion(k: int, n: int, null: float = 0.5, confidence: float = 0.95, alternative: str = "two-sided") -> Proportion:
    """k/n with its Clopper-Pearson interval and the exact binomial test against `null`."""
    low, high = clopper_pearson(k, n, confidence)
    return Proportion(int(k), int(n), k / n if n else float("nan"), low, high,
                      binomial_test(k, n, null, alternative), null)


@dataclass(frozen=True)
class Summary:
    """Mean, sample SD (ddof=1), range and count of a set of values (e.g. one per observer)."""

    n: int
    mean: float
    sd: float
    min: float
    max: float
    median: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(values: Any) -> Summary:
    """Summary of finite values; SD is the sample SD (ddof=1), NaN for fewer than two values."""
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, nan)
    sd = float(np.std(x, ddof=1)) if x.size > 1 else float("nan")
    return Summary(int(x.size), float(np.mean(x)), sd, float(np.min(x)), float(np.max(x)), float(np.median(x)))


@dataclass(frozen=True)
class Correlation:
    """Pearson r with its Fisher-z confidence interval and two-sided p-value (scipy)."""

    r: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pearson(x: Any, y: Any, confidence: float = 0.95) -> Correlation:
    """Pearson correlation of two equally long vectors (pairs with a NaN dropped)."""
    from scipy.stats import pearsonr

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    nan = float("nan")
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return Correlation(nan, nan, nan, nan, int(a.size))
    res = pearsonr(a, b)
    ci = res.confidence_interval(confidence)
    return Correlation(float(res.statistic), float(ci.low), float(ci.high), float(res.pvalue), int(a.size))


def spearman(x: Any, y: Any, confidence: float = 0.95) -> Correlation:
    """Spearman rank correlation (scipy; pairs with a NaN dropped), with a Fisher-z interval
    using the Bonett-Wright standard error sqrt((1 + rho^2 / 2) / (n - 3))."""
    from scipy.stats import norm, spearmanr

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    nan = float("nan")
    if a.size < 4 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return Correlation(nan, nan, nan, nan, int(a.size))
    res = spearmanr(a, b)
    rho = float(res.statistic)
    z, se = np.arctanh(np.clip(rho, -0.999999, 0.999999)), np.sqrt((1 + rho**2 / 2) / (a.size - 3))
    q = norm.ppf(0.5 + confidence / 2)
    return Correlation(rho, float(np.tanh(z - q * se)), float(np.tanh(z + q * se)), float(res.pvalue), int(a.size))


@dataclass(frozen=True)
class Association:
    """Pearson chi-squared test of independence of a contingency table, with Cramér's V."""

    chi2: float
    dof: int
    p_value: float
    cramers_v: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def chi2_cramers_v(table: Any) -> Association:
    """Chi-squared test (scipy, no continuity correction) and Cramér's V = sqrt(chi2 / (n (min(r, c) - 1)))
    of a contingency table; empty rows and columns are dropped first."""
    from scipy.stats import chi2_contingency

    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    nan = float("nan")
    if t.ndim != 2 or min(t.shape) < 2:
        return Association(nan, 0, nan, nan, int(t.sum()) if t.size else 0)
    res = chi2_contingency(t, correction=False)
    n = float(t.sum())
    v = float(np.sqrt(res.statistic / (n * (min(t.shape) - 1))))
    return Association(float(res.statistic), int(res.dof), float(res.pvalue), v, int(n))
