"""Error consistency condition x condition (the paper's Fig. 5 and its appendix matrices).

Cell (A, B) is the mean kappa (`analysis.models.consistency`) over every pair of one model of
condition A and one model of condition B, on the models' final-epoch decisions. On the diagonal a
model is never paired with itself (its kappa would be 1 by construction), so the diagonal is the
consistency *within* a condition; for a condition with one model it has no pair and is NaN (the
authors' notebook puts the model's kappa with itself, 1, there). The matrix is symmetric.

It is computed on all images and on the in-between images only (neither trivial nor impossible
at the analysis' tolerance; the notebook drops the two top and the two bottom models-correct
levels, which is tolerance 1): kappa is high on all images because every model agrees on the
trivial and impossible ones, and collapses on the in-between images, where the models differ.
Pairs whose kappa is undefined (both models always right or always wrong on the subset) are left
out of a cell's mean and counted in `n_undefined`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.models.consistency import error_consistency_matrix

SUBSETS: tuple[str, str] = ("all images", "in-between images")


@dataclass(frozen=True)
class ConditionMatrix:
    """Mean kappa between conditions on one subset of images (rows and columns in `conditions` order)."""

    subset: str
    conditions: list[str]
    kappa: np.ndarray  # (n_conditions, n_conditions) mean over pairs; NaN where no defined pair
    sd: np.ndarray  # SD (ddof=1) over the pairs; NaN with fewer than two
    n_pairs: np.ndarray  # int: pairs with a defined kappa
    n_undefined: np.ndarray  # int: pairs whose kappa is undefined
    n_images: int

    def frame(self) -> pd.DataFrame:
        """Long table: one row per (condition_a, condition_b)."""
        rows = []
        for i, a in enumerate(self.conditions):
            for j, b in enumerate(self.conditions):
                rows.append({"subset": self.subset, "condition_a": a, "condition_b": b, "kappa_mean": self.kappa[i, j],
                             "kappa_sd": self.sd[i, j], "n_pairs": int(self.n_pairs[i, j]),
                             "n_undefined": int(self.n_undefined[i, j]), "n_images": self.n_images})
        return pd.DataFrame(rows)

    def square(self) -> pd.DataFrame:
        """The matrix as a table: a `condition` column, then one column per condition."""
        return pd.DataFrame(self.kappa, index=self.conditions, columns=self.conditions).rename_axis("condition").reset_index()


def condition_matrix(correct: np.ndarray, conditions: Sequence[str], order: Sequence[str] | None = None,
                     subset: str = SUBSETS[0]) -> ConditionMatrix:
    """Mean kappa over model pairs for every pair of conditions, from (n_models, n_images) correctness."""
    c = np.asarray(correct, dtype=bool)
    conds = np.asarray(list(conditions))
    if c.ndim != 2 or c.shape[0] != len(conds):
        raise ValueError(f"correct must be (n_models, n_images) with one condition per model, got {c.shape} and {len(conds)}")
    names = list(order) if order is not None else list(dict.fromkeys(conds.tolist()))
    kappa = error_consistency_matrix(c)
    np.fill_diagonal(kappa, np.nan)  # a model is never its own partner
    eye = np.eye(len(conds), dtype=bool)
    k = len(names)
    mean, sd = np.full((k, k), np.nan), np.full((k, k), np.nan)
    n_pairs, n_undef = np.zeros((k, k), dtype=np.int64), np.zeros((k, k), dtype=np.int64)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            block = np.ix_(conds == a, conds == b)
            values = kappa[block][~eye[block]]
            ok = values[np.isfinite(values)]
            n_pairs[i, j], n_undef[i, j] = ok.size, values.size - ok.size
            if ok.size:
                mean[i, j] = ok.mean()
            if ok.size > 1:
                sd[i, j] = ok.std(ddof=1)
    return ConditionMatrix(subset, names, mean, sd, n_pairs, n_undef, int(c.shape[1]))


def condition_matrices(correct: np.ndarray, conditions: Sequence[str], levels: np.ndarray,
                       order: Sequence[str] | None = None) -> list[ConditionMatrix]:
    """The matrix on all images and, with at least two in-between images, on the in-between images only."""
    out = [condition_matrix(correct, conditions, order, SUBSETS[0])]
    between = np.asarray(levels) == "in-between"
    if between.sum() >= 2:
        out.append(condition_matrix(np.asarray(correct)[:, between], conditions, order, SUBSETS[1]))
    return out


def matrices_figure(matrices: Sequence[ConditionMatrix], title: str):
    """Heat maps side by side (all images, in-between images), each cell annotated with its mean kappa."""
    from analysis.plotting import new_figure

    k = len(matrices[0].conditions)
    size = max(3.2, 0.42 * k + 1.6)
    fig, axes = new_figure(size * len(matrices) + 0.8, size, 1, len(matrices), squeeze=False)
    values = np.concatenate([m.kappa[np.isfinite(m.kappa)] for m in matrices] + [np.zeros(1)])
    vmin = min(0.0, float(values.min()))
    image = None
    for ax, m in zip(axes[0], matrices):
        shown = np.ma.masked_invalid(m.kappa)
        image = ax.imshow(shown, cmap="Blues", vmin=vmin, vmax=1.0)
        ax.set_facecolor("#dddddd")  # NaN cells (no pair) are grey
        for i in range(k):
            for j in range(k):
                v = m.kappa[i, j]
                text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
                dark = np.isfinite(v) and v > vmin + 0.6 * (1.0 - vmin)
                ax.text(j, i, text, ha="center", va="center", fontsize=6 if k > 10 else 7,
                        color="white" if dark else "#222222")
        ax.set_xticks(range(k), m.conditions, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(k), m.conditions if ax is axes[0][0] else [""] * k, fontsize=7)
        ax.set_title(f"{m.subset} ({m.n_images:,})")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.7, label="mean error consistency (kappa)")
    fig.suptitle(title)
    return fig
