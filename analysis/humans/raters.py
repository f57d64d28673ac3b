"""Agreement between human raters (the questionnaire's observers) on the same images.

Ratings come as an (n_items, n_raters) array, NaN where a rater did not rate an item.

- Fleiss' kappa (statsmodels) for categorical answers (Q2 main category, Q3 presentation);
  items not rated by every rater are left out.
- Krippendorff's alpha at the level of the data: interval and ratio for the count answer (Q1),
  ordinal for Q2/Q3, nominal as reference; every item rated by at least two raters is used. Closed forms of the coincidence sums: for the
  interval metric the sum over ordered pairs of (a - b)^2 within a group of m values is
  2 (m * sum(v^2) - sum(v)^2); for the nominal metric the number of unequal ordered pairs is
  m^2 - sum_c(n_c^2).
- ICC(2,1) (Shrout & Fleiss: two-way random effects, absolute agreement, single rater) for Q1,
  from the two-way ANOVA mean squares of the items rated by every rater, with its exact
  F-distribution interval (McGraw & Wong 1996, case 2A; the interval accounts for raters and
  items as random samples).
- Pairwise Cohen's kappa (scikit-learn), unweighted or with linear / quadratic weights on the
  answers' positions, between every two raters on the items both rated.
- For the two-way bootstrap (`analysis.humans.bootstrap`), `Coded` holds the complete items as
  answer positions and computes Fleiss' kappa, Krippendorff's alpha and the mean pairwise
  (weighted) kappa under observer multiplicities r and item multiplicities w; at r = w = 1 they
  equal the plain definitions above.
- Percentile bootstrap intervals over items only (seeded) for any of these (`bootstrap_items`).
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


Metric = Literal["interval", "nominal", "ordinal", "ratio"]


def delta(values: np.ndarray, metric: str, counts: np.ndarray | None = None) -> np.ndarray:
    """Krippendorff's difference function between the answer values (squared for interval/ratio);
    ordinal needs the values' marginal counts n_g: (sum_{g=c..k} n_g - (n_c + n_k) / 2)^2."""
    v = np.asarray(values, dtype=float)
    if metric == "nominal":
        return (v[:, None] != v[None, :]).astype(float)
    if metric == "interval":
        return (v[:, None] - v[None, :]) ** 2
    if metric == "ratio":
        s = v[:, None] + v[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((v[:, None] - v[None, :]) / s) ** 2
        return np.where(s == 0, 0.0, d)
    if metric == "ordinal":
        n = np.asarray(counts, dtype=float)
        cum = np.concatenate([[0.0], np.cumsum(n)])
        lo, hi = np.minimum.outer(np.arange(v.size), np.arange(v.size)), np.maximum.outer(np.arange(v.size), np.arange(v.size))
        return (cum[hi + 1] - cum[lo] - (n[lo] + n[hi]) / 2) ** 2
    raise ValueError(f"unknown metric {metric!r}")


def _alpha_coincidence(r: np.ndarray, metric: str) -> float:
    """Alpha from the coincidence matrix o_ck = sum_u (pairs c-k in u) / (m_u - 1) (ordinal, ratio)."""
    values = np.unique(r[np.isfinite(r)])
    onehot = np.stack([(r == v).sum(axis=1) for v in values], axis=1).astype(float)  # items x values
    m = onehot.sum(axis=1)
    o = np.einsum("uc,uk,u->ck", onehot, onehot, 1.0 / (m - 1)) - np.diag((onehot / (m - 1)[:, None]).sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d = delta(values, metric, n_c)
    d_e = float(n_c @ d @ n_c) / (n * (n - 1))
    return 1.0 - (float((o * d).sum()) / n) / d_e if d_e > 0 else float("nan")


def krippendorff_alpha(ratings: np.ndarray, metric: Metric = "interval") -> float:
    """Krippendorff's alpha = 1 - D_o / D_e over items with at least two ratings (NaN = missing)."""
    r = np.asarray(ratings, dtype=float)
    counts = np.isfinite(r).sum(axis=1)
    r = r[counts >= 2]
    m = counts[counts >= 2].astype(float)
    n = m.sum()
    if n < 2:
        return float("nan")
    values = r[np.isfinite(r)]
    if metric in ("ordinal", "ratio"):
        return _alpha_coincidence(r, metric)
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
        raise ValueError(f"unknown metric {metric!r} (interval, ratio, ordinal or nominal)")
    d_o = float(np.sum(within / (m - 1))) / n
    d_e = float(total) / (n * (n - 1))
    if d_e == 0:
        return float("nan")
    return 1.0 - d_o / d_e


def _mean_squares(r: np.ndarray) -> tuple[float, float, float]:
    """Two-way ANOVA mean squares (rows = items, columns = raters, error) of a complete table."""
    n, k = r.shape
    grand = r.mean()
    ss_rows = k * ((r.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((r.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((r - grand) ** 2).sum() - ss_rows - ss_cols
    return ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))


def icc_2_1(ratings: np.ndarray) -> float:
    """ICC(2,1): two-way random effects, absolute agreement, single rater (items rated by all)."""
    r = complete_items(ratings)
    n, k = r.shape
    if n < 2 or k < 2:
        return float("nan")
    msr, msc, mse = _mean_squares(r)
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom != 0 else float("nan")


def icc_2_1_ci(ratings: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Exact F-distribution interval of ICC(2,1) (McGraw & Wong 1996, case 2A, with Satterthwaite's
    degrees of freedom v); the interval treats raters and items both as random samples."""
    from scipy.stats import f

    r = complete_items(ratings)
    n, k = r.shape
    icc = icc_2_1(r)
    if not np.isfinite(icc) or icc >= 1:
        return float("nan"), float("nan")
    msr, msc, mse = _mean_squares(r)
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    q = 1 - (1 - confidence) / 2
    f_hi, f_lo = f.ppf(q, n - 1, v), f.ppf(q, v, n - 1)
    low = n * (msr - f_hi * mse) / (f_hi * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_lo * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_lo * msr)
    return float(low), float(high)


def pairwise_cohen_kappa(ratings: np.ndarray, raters: list[str], weights: str | None = None,
                         labels: list[float] | None = None) -> pd.DataFrame:
    """Cohen's kappa (scikit-learn; unweighted, "linear" or "quadratic" weights on the positions
    of `labels`, by default the answers seen) of every pair of raters on the items both rated."""
    from sklearn.metrics import cohen_kappa_score

    r = np.asarray(ratings, dtype=float)
    if labels is None:
        labels = sorted(np.unique(r[np.isfinite(r)]).astype(int).tolist())
    rows = []
    for i in range(r.shape[1]):
        for j in range(i + 1, r.shape[1]):
            both = np.isfinite(r[:, i]) & np.isfinite(r[:, j])
            a, b = r[both, i].astype(int), r[both, j].astype(int)
            if both.sum() < 2 or (len(np.unique(a)) == 1 and len(np.unique(b)) == 1 and a[0] == b[0]):
                kappa = float("nan")  # both raters gave one and the same answer throughout: undefined
            else:
                kappa = float(cohen_kappa_score(a, b, weights=weights, labels=labels))
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


class Coded:
    """Complete items coded as answer positions (items x raters), for agreement under bootstrap
    weights: observer multiplicities r and item multiplicities w (see `analysis.humans.bootstrap`)."""

    def __init__(self, ratings: np.ndarray, values: list[float] | None = None) -> None:
        r = complete_items(ratings)
        self.values = np.asarray(sorted(np.unique(r).tolist()) if values is None else values, dtype=float)
        index = {v: i for i, v in enumerate(self.values)}
        self.codes = np.vectorize(lambda x: index[float(x)])(r).astype(int) if r.size else np.zeros(r.shape, int)
        self.n_items, self.n_raters = self.codes.shape
        self.onehot = (self.codes[:, :, None] == np.arange(self.values.size)).astype(float)  # u x i x c
        self._tensors: dict[str, np.ndarray] = {}  # per fixed difference function: u x (i * j) disagreements

    def _per_item(self, r: np.ndarray) -> np.ndarray:
        """g[u, c]: how many of the drawn raters (with multiplicities r) gave item u the answer c."""
        return np.tensordot(self.onehot, r, axes=([1], [0]))

    def _distinct_pair_disagreement(self, d: np.ndarray, g: np.ndarray, r: np.ndarray, w: np.ndarray) -> float:
        """Mean of d[x_ui, x_uj] over items (weights w) and distinct-source rater pairs (weights r_i r_j,
        i != j): sum_u w_u g_u' d g_u / (W ((sum r)^2 - sum r^2)), since d is 0 on the diagonal."""
        pairs = float(r.sum() ** 2 - (r**2).sum())
        if pairs <= 0:
            return float("nan")
        return float(w @ ((g @ d) * g).sum(axis=1)) / (float(w.sum()) * pairs)

    def _pair_disagreement(self, d: np.ndarray, w: np.ndarray, key: str | None = None) -> np.ndarray:
        """(raters x raters) item-weighted mean disagreement d[x_ui, x_uj]; `key` names a difference
        function that does not depend on the draw, so its u x i x j table is built once."""
        t = self._tensors.get(key) if key else None
        if t is None:
            t = d[self.codes[:, :, None], self.codes[:, None, :]].reshape(self.n_items, -1)
            if key:
                self._tensors[key] = t
        return (w @ t).reshape(self.n_raters, self.n_raters) / w.sum()

    def alpha(self, metric: str, r: np.ndarray | None = None, w: np.ndarray | None = None) -> float:
        """Krippendorff's alpha; D_o averages the distinct-source rater pairs of the draw (`_distinct_pair_disagreement`)."""
        r = np.ones(self.n_raters) if r is None else r
        w = np.ones(self.n_items) if w is None else w
        g = self._per_item(r)
        n_c = w @ g
        n = n_c.sum()
        d = delta(self.values, metric, n_c)
        d_e = float(n_c @ d @ n_c) / (n * (n - 1)) if n > 1 else 0.0
        if d_e <= 0:
            return float("nan")
        return 1.0 - self._distinct_pair_disagreement(d, g, r, w) / d_e

    def fleiss(self, r: np.ndarray | None = None, w: np.ndarray | None = None) -> float:
        """Fleiss' kappa: observed agreement of distinct-source pairs against sum_c p_c^2."""
        r = np.ones(self.n_raters) if r is None else r
        w = np.ones(self.n_items) if w is None else w
        g = self._per_item(r)
        p = w @ g
        if p.sum() <= 0:  # no complete item: undefined, as fleiss_kappa says
            return float("nan")
        p = p / p.sum()
        p_e = float((p**2).sum())
        if p_e >= 1:
            return float("nan")
        p_o = 1.0 - self._distinct_pair_disagreement(delta(self.values, "nominal"), g, r, w)
        return (p_o - p_e) / (1 - p_e)

    def kappa_matrix(self, weights: str | None, w: np.ndarray | None = None) -> np.ndarray:
        """Cohen's kappa of every two raters, weights None / "linear" / "quadratic" on answer positions."""
        w = np.ones(self.n_items) if w is None else w
        if self.n_items == 0:  # no complete item: every pair undefined
            return np.full((self.n_raters, self.n_raters), np.nan)
        pos = np.arange(self.values.size, dtype=float)
        d = {None: (pos[:, None] != pos[None, :]).astype(float), "linear": np.abs(pos[:, None] - pos[None, :]),
             "quadratic": (pos[:, None] - pos[None, :]) ** 2}[weights]
        observed = self._pair_disagreement(d, w, f"kappa-{weights}")
        f = np.tensordot(w, self.onehot, axes=1) / w.sum()  # raters x answers
        expected = f @ d @ f.T
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(expected > 0, 1.0 - observed / expected, np.nan)

    def mean_kappa(self, weights: str | None, r: np.ndarray | None = None, w: np.ndarray | None = None) -> float:
        """Mean pairwise Cohen's kappa over the distinct-source rater pairs of the draw."""
        from analysis.humans.bootstrap import pair_mean

        return pair_mean(self.kappa_matrix(weights, w), np.ones(self.n_raters) if r is None else r)
