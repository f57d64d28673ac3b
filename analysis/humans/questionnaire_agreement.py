"""Agreement between the questionnaire's observers at the level of the data (see
`analysis.humans.questionnaire`): which measures each question gets, and their intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.humans import bootstrap as boot
from analysis.humans import raters as ar
from analysis.humans.questions import CODE_COLUMNS


def ratings_matrix(r: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """(n_items, n_observers) matrix of one answer column (codes), NaN where not rated."""
    wide = r.pivot_table(index="stim_id", columns="participant_id", values=column, aggfunc="first")
    return wide.to_numpy(dtype=float), [str(c) for c in wide.columns]


AGREEMENT: dict[str, list[str]] = {
    "n_categories": ["weighted_kappa_quadratic", "krippendorff_alpha_interval", "krippendorff_alpha_ratio", "icc_2_1",
                     "fleiss_kappa", "cohen_kappa_pairwise_mean"],
    "main_category": ["krippendorff_alpha_ordinal", "weighted_kappa_linear", "weighted_kappa_quadratic",
                      "fleiss_kappa", "cohen_kappa_pairwise_mean"],
    "unusual": ["krippendorff_alpha_ordinal", "weighted_kappa_linear", "weighted_kappa_quadratic",
                "fleiss_kappa", "cohen_kappa_pairwise_mean"],
}
TWO_WAY = "bootstrap over observers and images"


def _agreement_stat(name: str, coded: ar.Coded):
    """The measure `name` as a function of bootstrap weights (r over observers, w over images)."""
    if name.startswith("krippendorff_alpha_"):
        metric = name.removeprefix("krippendorff_alpha_")
        return lambda r, w: coded.alpha(metric, r, w)
    if name == "fleiss_kappa":
        return lambda r, w: coded.fleiss(r, w)
    weights = {"weighted_kappa_linear": "linear", "weighted_kappa_quadratic": "quadratic", "cohen_kappa_pairwise_mean": None}[name]
    return lambda r, w: coded.mean_kappa(weights, r, w)


def _labels(m: np.ndarray, q: str) -> list[float]:
    """The answer values whose positions the weighted kappas use: every integer from the lowest to
    the highest count seen for Q1, the three codes for Q2/Q3."""
    seen = m[np.isfinite(m)]
    if q == "n_categories":
        return [float(v) for v in range(int(seen.min()), int(seen.max()) + 1)] if seen.size else []
    return [0.0, 1.0, 2.0]


def agreement(r: pd.DataFrame, seed: int, n_boot: int = 1000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Agreement per question (see the module docstring) and pairwise Cohen's kappa (unweighted,
    linear and quadratic weights) of every two observers."""
    rows, pairwise = [], []
    for q, names in AGREEMENT.items():
        m, raters = ratings_matrix(r, CODE_COLUMNS[q])
        labels = _labels(m, q)
        coded = ar.Coded(m, labels)
        n_items, n_raters = coded.n_items, coded.n_raters
        kappas = {w: ar.pairwise_cohen_kappa(m, raters, weights=w, labels=[int(v) for v in labels]) for w in (None, "linear", "quadratic")}
        for name in names:
            if name == "icc_2_1":
                value = ar.icc_2_1(m)
                lo, hi = ar.icc_2_1_ci(m)
                method = "F distribution (McGraw & Wong 1996, case 2A)"
                ilo, ihi = ar.bootstrap_items(ar.icc_2_1, m, seed=seed, n_boot=n_boot)
            else:
                stat = _agreement_stat(name, coded)
                value = (ar.krippendorff_alpha(m, name.removeprefix("krippendorff_alpha_")) if name.startswith("krippendorff")
                         else ar.fleiss_kappa(m) if name == "fleiss_kappa" else stat(np.ones(n_raters), np.ones(n_items)))
                lo, hi = boot.interval(stat, n_raters, n_items, seed=seed, n_boot=n_boot)
                ilo, ihi = boot.interval(stat, n_raters, n_items, seed=seed, n_boot=n_boot, resample="items")
                method = TWO_WAY
            row = {"question": q, "measure": name, "value": float(value), "ci_low": lo, "ci_high": hi, "ci_method": method,
                   "ci_low_items": ilo, "ci_high_items": ihi, "min": float("nan"), "max": float("nan"),
                   "n_items": n_items, "n_raters": n_raters}
            w = {"cohen_kappa_pairwise_mean": None, "weighted_kappa_linear": "linear", "weighted_kappa_quadratic": "quadratic"}
            if name in w:
                k = kappas[w[name]]["kappa"].dropna()
                row["min"], row["max"] = (float(k.min()), float(k.max())) if len(k) else (float("nan"), float("nan"))
            rows.append(row)
        pk = kappas[None].rename(columns={"kappa": "kappa"})
        pk["kappa_linear"] = kappas["linear"]["kappa"].to_numpy()
        pk["kappa_quadratic"] = kappas["quadratic"]["kappa"].to_numpy()
        pk.insert(0, "question", q)
        pairwise.append(pk)
    return pd.DataFrame(rows), pd.concat(pairwise, ignore_index=True)
