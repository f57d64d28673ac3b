"""Small statistics used by the human-data analyses: exact binomial intervals and tests,
summaries over observers, and Pearson correlation with its interval.

Thin, documented wrappers around scipy and statsmodels, so every number in the report has one
definition and the tests can compare against the libraries directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Proportion:
    """k successes out of n, with a two-sided Clopper-Pearson interval and an exact binomial test."""

    k: int
    n: int
    p: float  # k / n
    ci_low: float
    ci_high: float
    p_value: float  # exact two-sided binomial test against `null`
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


def binomial_test(k: int, n: int, null: float = 0.5) -> float:
    """Two-sided exact binomial test p-value of k successes in n trials against `null` (scipy)."""
    from scipy.stats import binomtest

    if n <= 0:
        return float("nan")
    return float(binomtest(int(k), int(n), null, alternative="two-sided").pvalue)


def proportion(k: int, n: int, null: float = 0.5, confidence: float = 0.95) -> Proportion:
    """k/n with its Clopper-Pearson interval and the exact binomial test against `null`."""
    low, high = clopper_pearson(k, n, confidence)
    return Proportion(int(k), int(n), k / n if n else float("nan"), low, high, binomial_test(k, n, null), null)


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
