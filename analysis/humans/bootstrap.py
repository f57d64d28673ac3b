"""Two-way (observers x items) bootstrap: intervals for claims about observers *and* items.

A claim about human observers ("observers agree with kappa 0.59", "mean accuracy 81 %") must
carry the sampling of the observers as well as that of the images. Each bootstrap draw here
resamples observers with replacement and, independently, items with replacement (the
"two-way" or "crossed" bootstrap; Field & Welsh 2007, Owen 2007), as multiplicities:
`r[i]` copies of observer i and `w[u]` copies of item u. Statistics are written as functions of
these weights, so no data are copied per draw.

Statistics over *pairs* of observers (kappa, agreement) never pair an observer with its own
copy: a drawn observer and its duplicate would agree perfectly and inflate agreement. Their
pair averages use the weights r_i r_j over i != j (the distinct-source pairs of the draw).
Intervals are percentile intervals. `resample` can be "observers" or "items" alone, to show
what each source contributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Literal

import numpy as np

Resample = Literal["both", "observers", "items"]


def draws(n_observers: int, n_items: int, seed: int, n_boot: int,
          resample: Resample = "both") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Seeded bootstrap draws as multiplicities (r over observers, w over items)."""
    rng = np.random.default_rng(seed)
    ones_r, ones_w = np.ones(n_observers), np.ones(n_items)
    for _ in range(n_boot):
        r = np.bincount(rng.integers(0, n_observers, n_observers), minlength=n_observers).astype(float) \
            if resample in ("both", "observers") else ones_r
        w = np.bincount(rng.integers(0, n_items, n_items), minlength=n_items).astype(float) \
            if resample in ("both", "items") else ones_w
        yield r, w


@lru_cache(maxsize=16)
def _cached_draws(n_observers: int, n_items: int, seed: int, n_boot: int,
                  resample: Resample) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The draws of `draws`, made once for the several measures that share their seed and shape
    (read-only: a statistic cannot change the next measure's draws)."""
    out = []
    for r, w in draws(n_observers, n_items, seed, n_boot, resample):
        r.flags.writeable = w.flags.writeable = False
        out.append((r, w))
    return tuple(out)


def interval(stat: Callable[[np.ndarray, np.ndarray], float], n_observers: int, n_items: int, seed: int,
             n_boot: int = 1000, confidence: float = 0.95, resample: Resample = "both") -> tuple[float, float]:
    """Percentile interval of `stat(r, w)` over two-way bootstrap draws (NaN draws left out)."""
    if n_observers < 2 or n_items < 2:
        return float("nan"), float("nan")
    values = np.array([stat(r, w) for r, w in _cached_draws(n_observers, n_items, seed, n_boot, resample)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a))


def pair_mean(matrix: np.ndarray, r: np.ndarray) -> float:
    """Mean of a symmetric per-pair matrix over the distinct-source pairs of a draw (weights r_i r_j, i != j)."""
    wts = np.outer(r, r)
    np.fill_diagonal(wts, 0.0)
    ok = np.isfinite(matrix) & (wts > 0)
    total = wts[ok].sum()
    return float((wts[ok] * matrix[ok]).sum() / total) if total > 0 else float("nan")


def observer_mean(per_observer: np.ndarray, r: np.ndarray) -> float:
    """Mean over the drawn observers (weights r) of per-observer values, NaNs left out."""
    ok = np.isfinite(per_observer) & (r > 0)
    return float((r[ok] * per_observer[ok]).sum() / r[ok].sum()) if ok.any() else float("nan")


def mean_accuracy_stat(n_correct: np.ndarray, n_trials: np.ndarray) -> Callable[[np.ndarray, np.ndarray], float]:
    """The mean over observers of each observer's accuracy, as a function of (r, w); both arrays are
    (n_observers, n_items): correct choices and trials of each observer on each item (0 if unseen)."""
    k = np.asarray(n_correct, dtype=float)
    n = np.asarray(n_trials, dtype=float)

    def stat(r: np.ndarray, w: np.ndarray) -> float:
        den = n @ w
        with np.errstate(invalid="ignore", divide="ignore"):
            return observer_mean(np.where(den > 0, (k @ w) / den, np.nan), r)
    return stat
