"""True-positive agreement of a group of models (Pliushch et al., "When Deep Classifiers Agree").

For one epoch and m models with correctness X_j (n images):

    TPA = |{images all m models get right}| / |{images at least one model gets right}|

(NaN if no model gets any image right). Lower bound: with error rates e_j = 1 - accuracy_j, the
union bound gives share(all right) = 1 - share(some model wrong) >= 1 - sum_j e_j, and a share
is >= 0, so share(all right) >= 1 - min(sum_j e_j, 1). Because share(any right) <= 1,
TPA = share(all right) / share(any right) >= share(all right), hence

    TPA >= 1 - min(sum_j e_j, 1).

It is the agreement that the models' accuracies alone force; the gap above it is agreement that
the accuracies do not explain. Computed on validation decisions and, where a run stored them,
on the training decisions made during each epoch (on the samples every model saw that epoch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def true_positive_agreement(correct: np.ndarray) -> float:
    """TPA of a (n_models, n_images) bool array: all-right images / any-right images."""
    c = np.asarray(correct, dtype=bool)
    any_right = np.count_nonzero(c.any(axis=0))
    return float(np.count_nonzero(c.all(axis=0)) / any_right) if any_right else float("nan")


def tpa_from_counts(n_correct: np.ndarray, n_models: int) -> np.ndarray:
    """TPA per row of an (n_epochs, n_images) array of models-correct counts."""
    n = np.asarray(n_correct)
    all_right = np.count_nonzero(n == n_models, axis=-1)
    any_right = np.count_nonzero(n > 0, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(any_right > 0, all_right / np.maximum(any_right, 1), np.nan)


def tpa_lower_bound(accuracies: np.ndarray) -> np.ndarray:
    """1 - min(sum of error rates, 1) over the models (axis 0): (n_models,) or (n_models, n_epochs)."""
    errors = 1.0 - np.asarray(accuracies, dtype=np.float64)
    return 1.0 - np.minimum(errors.sum(axis=0), 1.0)


def agreement_table(epochs: np.ndarray, n_correct: np.ndarray, accuracies: np.ndarray, n_models: int) -> pd.DataFrame:
    """Per epoch: TPA, its lower bound, mean and SD (ddof=1) of the models' accuracies.

    `n_correct` is (n_epochs, n_images) models-correct counts; `accuracies` (n_models, n_epochs).
    """
    acc = np.asarray(accuracies, dtype=np.float64)
    n = np.asarray(n_correct)
    return pd.DataFrame(
        {
            "epoch": np.asarray(epochs),
            "tpa": tpa_from_counts(n, n_models),
            "tpa_lower_bound": tpa_lower_bound(acc),
            "mean_accuracy": acc.mean(axis=0),
            "sd_accuracy": acc.std(axis=0, ddof=1) if acc.shape[0] > 1 else np.zeros(acc.shape[1]),
            "n_all_right": np.count_nonzero(n == n_models, axis=-1),
            "n_any_right": np.count_nonzero(n > 0, axis=-1),
            "n_images": n.shape[-1],
        }
    )


def train_agreement(study: object, model_ids: Sequence[str]) -> pd.DataFrame | None:
    """Agreement per epoch on the training decisions, or None if not every model stored them.

    Per epoch, only the samples that every model saw are used (conditions such as half or
    disjoint data see different samples); a sample seen twice in an epoch counts with its last
    decision. Where the models share no sample at all (disjoint halves), only the models that
    trained on the most images take part; the `models` column names the models used.
    """
    tables = {}
    for m in model_ids:
        t = study.train_decisions_table(m)  # type: ignore[attr-defined]
        if t is None or t.empty:
            return None
        tables[m] = t.drop_duplicates(["epoch", "sample_index"], keep="last")
    rows = _train_agreement_rows(tables)
    if not rows:
        seen = {m: t["sample_index"].nunique() for m, t in tables.items()}
        most = {m: t for m, t in tables.items() if seen[m] == max(seen.values())}
        rows = _train_agreement_rows(most) if len(most) < len(tables) else []
    return pd.DataFrame(rows) if rows else None


def _train_agreement_rows(tables: dict[str, pd.DataFrame]) -> list[dict[str, object]]:
    """One row per epoch that every model trained, over the samples all of them saw in it."""
    epochs = sorted(set.intersection(*(set(t["epoch"].unique()) for t in tables.values())))
    rows = []
    for e in epochs:
        per_model = [t.loc[t["epoch"] == e, ["sample_index", "correct"]].set_index("sample_index")["correct"] for t in tables.values()]
        common = per_model[0].index
        for s in per_model[1:]:
            common = common.intersection(s.index)
        if len(common) == 0:
            continue
        c = np.vstack([s.loc[common].to_numpy(dtype=bool) for s in per_model])
        acc = c.mean(axis=1)
        rows.append(
            {
                "epoch": int(e),
                "tpa": true_positive_agreement(c),
                "tpa_lower_bound": float(tpa_lower_bound(acc)),
                "mean_accuracy": float(acc.mean()),
                "sd_accuracy": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "n_all_right": int(c.all(axis=0).sum()),
                "n_any_right": int(c.any(axis=0).sum()),
                "n_images": len(common),
                "models": " ".join(tables),
            }
        )
    return rows
