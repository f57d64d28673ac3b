"""Error consistency between study conditions and the base condition (the paper's Fig. 2 / 16).

Every model of every condition is compared with every model of the base condition (a base model
is not compared with itself): comparison "with base". A condition declared `compare =
"each-other"` in its study file (the disjoint halves: the paper compares the two half-data models
with each other) is also compared within itself: comparison "each other", every pair of its
models. Each pair gets its kappa, a bootstrap interval over images, the highest kappa its two
accuracies allow, and the exact test against independent observers (p and log10 p). A model's
value is the mean over its partners of one comparison; a condition's value is the mean over its
models (with equal partner counts, the mean over its pairs).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from analysis.models.consistency import bootstrap_ci, error_consistency_matrix, independence_test, kappa_bounds
from labutil.errors import UserError


def check_base(conditions: Sequence[str], base: str) -> None:
    """A one-line error naming the available conditions when `base` has no models."""
    if base not in conditions:
        have = ", ".join(dict.fromkeys(conditions))
        raise UserError(f"no models of base condition '{base}' (conditions: {have}); choose one with --base")


WITH_BASE, EACH_OTHER = "with base", "each other"


def pair_table(
    correct: np.ndarray,
    model_ids: Sequence[str],
    conditions: Sequence[str],
    base: str,
    n_boot: int = 1000,
    seed: int = 0,
    each_other: Collection[str] = (),
) -> pd.DataFrame:
    """One row per (model, partner) pair: comparison, kappa, bootstrap CI, kappa bounds, p under independence.

    Partners are the base models ("with base") and, for conditions in `each_other`, the other
    models of the same condition ("each other"); every pair appears once from each side.
    """
    check_base(conditions, base)
    c = np.asarray(correct, dtype=bool)
    kappa = error_consistency_matrix(c)
    acc = c.mean(axis=1)
    base_rows = [i for i, cond in enumerate(conditions) if cond == base]
    rows = []
    for i, (m, cond) in enumerate(zip(model_ids, conditions)):
        partners = [(j, WITH_BASE) for j in base_rows]
        if cond in each_other and cond != base:
            partners += [(j, EACH_OTHER) for j, other in enumerate(conditions) if other == cond]
        for j, comparison in partners:
            if i == j:
                continue
            lo, hi = bootstrap_ci(c[i], c[j], n_boot=n_boot, seed=seed)
            kmin, kmax = kappa_bounds(acc[i], acc[j])
            test = independence_test(c[i], c[j])
            rows.append(
                {
                    "model_id": m,
                    "condition": cond,
                    "comparison": comparison,
                    "partner_model_id": model_ids[j],
                    "kappa": kappa[i, j],
                    "ci_low": lo,
                    "ci_high": hi,
                    "kappa_min_possible": float(kmin),
                    "kappa_max_possible": float(kmax),
                    "p_independent": test.p_value,
                    "log10_p_independent": test.log10_p,
                    "accuracy": acc[i],
                    "partner_accuracy": acc[j],
                    "n_images": c.shape[1],
                }
            )
    return pd.DataFrame(rows)


def per_model(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean kappa of each model against its partners, per comparison (NaN pairs ignored)."""
    if pairs.empty:
        return pd.DataFrame(columns=["model_id", "condition", "comparison", "kappa", "kappa_max_possible", "accuracy", "n_pairs"])
    g = pairs.groupby(["model_id", "condition", "comparison"], sort=False)
    return g.agg(
        kappa=("kappa", "mean"),
        kappa_max_possible=("kappa_max_possible", "mean"),
        accuracy=("accuracy", "first"),
        n_pairs=("kappa", "count"),
    ).reset_index()


def per_condition(models: pd.DataFrame, order: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean, SD and count of the model values per condition and comparison (conditions in `order`,
    base first if given; "with base" before "each other")."""
    if models.empty:
        return pd.DataFrame(columns=["condition", "comparison", "kappa_mean", "kappa_sd", "kappa_max_possible",
                                     "accuracy_mean", "n_models"])
    g = models.groupby(["condition", "comparison"], sort=False)
    out = g.agg(
        kappa_mean=("kappa", "mean"),
        kappa_sd=("kappa", "std"),
        kappa_max_possible=("kappa_max_possible", "mean"),
        accuracy_mean=("accuracy", "mean"),
        n_models=("kappa", "count"),
    ).reset_index()
    rank = {c: i for i, c in enumerate(order or list(dict.fromkeys(out["condition"])))}
    key = out["condition"].map(rank) * 2 + (out["comparison"] == EACH_OTHER)
    return out.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k").reset_index(drop=True)


def condition_order(conditions: Sequence[str], base: str) -> list[str]:
    """Conditions in first-seen order, base first."""
    seen = list(dict.fromkeys(conditions))
    return [base] + [c for c in seen if c != base] if base in seen else seen
