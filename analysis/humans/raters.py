"""Agreement between human raters (the questionnaire's observers) on the same images.

Ratings come as an (n_items, n_raters) array, NaN where a rater did not rate an item.

- Fleiss' kappa (statsmodels) for categorical answers (Q2 main category, Q3 presentation);
  items not rated by every rater are left out.
- Krippendorff's alpha, interval metric, for the count answer (Q1, number of categories); it
  uses every item rated by at least two raters. Closed forms of the coincidence sums: for the
  interval metric the sum over ordered pairs of (a - b)^2 within a group of m values is
  2 (m * sum(v^2) - sum(v)^2); for the nominal metric the number of unequal ordered pairs is
  m^2 - sum_c(n_c^2).
- ICC(2,1) (Shrout & Fleiss: two-way random effects, absolute agreement, single rater) for Q1,
  from the two-way ANOVA mean squares of the items rated by every rater.
- Pairwise Cohen's kappa (scikit-learn, unweighted) between every two raters on the items both rated.
- Percentile bootstrap intervals over items (seeded) for any of these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd


def complete_items(ratings: np.ndarray) -> np.ndarray:
    """The rows (items) rated by every rater."""
    r = np.asarray(ratings, dtype=float)
    return r[np.all(np.isfinite(r), axis=1)]


def category_counts(ratings: np.ndarray) -> np.ndarray:
    """(n_items, n_categories) counts of raters per answer, for the items rated by every rater."""
    from statsmodels.stats.inter_rater import aggregate_raters

    r = complete_items(ratings)
    if r.shape[0] == 0:
        return np.zeros((0, 0), dtype=int)
    return aggregate_raters(r.astype(int))[0]


def fleiss_kappa_counts(table: np.ndarray) -> float:
    """Fleiss' kappa (statsmodels) from an (n_items, n_categories) table of rater counts."""
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    t = np.asarray(table)
    if t.shape[0] < 2 or t.shape[1] < 2 or np.count_nonzero(t.sum(axis=0)) < 2:
        return float("nan")  # one answer throughout: chance agreement is 1, kappa undefined
    return float(sm_fleiss(t, method="fleiss"))


def fleiss_kappa(ratings: np.ndarray) -> float:
    """Fleiss' kappa of categorical ratings (codes), over the items rated by every rater."""
    return fleiss_kappa_counts(category_counts(ratings))


def krippendorff_alpha(ratings: np.ndarray, metric: Literal["interval", "nominal"] = "interval") -> float:
    """Krippendorff's alpha = 1 - D_o / D_e over items with at least two ratings (NaN = missing)."""
    r = np.asarray(ratings, dtype=float)
    counts = np.isfinite(r).sum(axis=1)
    r = r[counts >= 2]
    m = counts[counts >= 2].astype(float)
    n = m.sum()
    if n < 2:
        return float("nan")
    values = r[np.isfinite(r)]
    if metric == "interval":
        v = np.where(np.isfinite(r), r, 0.0)
        within = 2 * (m * (v**2).sum(axis=1) - v.sum(axis=1) ** 2)
        total = 2 * (n * (values**2).sum() - values.sum() ** 2)
    elif metric == "nominal":
        cats = np.unique(values)
        per_item = np.stack([(r == c).sum(axis=1) for c in cats], axis=1).astype(float)
        within = m**2 - (per_item**2).sum(axis=1)
        total = n**2 - (per_item.sum(axis=0) ** 2).sum()
    else:
        raise ValueError(f"unknown metric {metric!r} (interval or nominal)")
    d_o = float(np.sum(within / (m - 1))) / n
    d_e = float(total) / (n * (n - 1))
    if d_e == 0:
        return float("nan")
    return 1.0 - d_o / d_e


def icc_2_1(ratings: np.ndarray) -> float:
    """ICC(2,1): two-way random effects, absolute agreement, single rater (items rated by all)."""
    r = complete_items(ratings)
    n, k = r.shape
    if n < 2 or k < 2:
        return float("nan")
    grand = r.mean()
    ss_rows = k * ((r.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((r.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((r - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom != 0 else float("nan")


def pairwise_cohen_kappa(ratings: np.ndarray, raters: list[str]) -> pd.DataFrame:
    """Unweighted Cohen's kappa of every pair of raters on the items both rated (long table)."""
    from sklearn.metrics import cohen_kappa_score

    r = np.asarray(ratings, dtype=float)
    rows = []
    for i in range(r.shape[1]):
        for j in range(i + 1, r.shape[1]):
            both = np.isfinite(r[:, i]) & np.isfinite(r[:, j])
            a, b = r[both, i].astype(int), r[both, j].astype(int)
            if both.sum() < 2 or (len(np.unique(a)) == 1 and len(np.unique(b)) == 1 and a[0] == b[0]):
                kappa = float("nan")  # both raters gave one and the same answer throughout: undefined
            else:
                kappa = float(cohen_kappa_score(a, b))
            rows.append({"rater_a": raters[i], "rater_b": raters[j], "n_items": int(both.sum()), "kappa": kappa})
    return pd.DataFrame(rows, columns=["rater_a", "rater_b", "n_items", "kappa"])


def bootstrap_items(
    stat: Callable[[np.ndarray], float],
    ratings: np.ndarray,
    seed: int,
    n_boot: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat(ratings)`, resampling items (rows) with replacement;
    `ratings` may be any per-item array, e.g. the counts table of `category_counts`."""
    r = np.asarray(ratings, dtype=float)
    if r.shape[0] < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = np.array([stat(r[rng.integers(0, r.shape[0], r.shape[0])]) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))
