"""Representational similarity between conditions (the paper's appendix A.4): per model a
representational dissimilarity matrix (RDM) of the stored last-layer activations, 1 - Pearson r
between the activation vectors of every pair of images; two models compared by the Spearman
correlation of their RDMs' upper triangles (diagonal left out). Linear CKA (Kornblith et al. 2019)
on the centred activations is the option `method="cka"`.

Models are compared on the images that all of them stored activations for (a seeded subset of
the validation images, the same seed giving the same subset).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

METHODS = ("rdm", "cka")


def rdm(activations: np.ndarray) -> np.ndarray:
    """(k, k) matrix 1 - Pearson r between the rows (images) of (k, d) activations; a constant
    row has no correlation and gives NaN."""
    x = np.asarray(activations, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = x / norm[:, None]
    return 1.0 - x @ x.T


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """The entries above the diagonal, row by row."""
    m = np.asarray(matrix)
    return m[np.triu_indices(m.shape[0], k=1)]


def rdm_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman r between the upper triangles of two RDMs (NaN entries of either left out)."""
    from scipy.stats import spearmanr

    x, y = upper_triangle(a), upper_triangle(b)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two (k, d1), (k, d2) activation matrices: ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)
    on the column-centred matrices (1 = same representation up to rotation and scale)."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(np.linalg.norm(b.T @ a) ** 2 / den) if den > 0 else float("nan")


def common_images(indices: Mapping[str, np.ndarray]) -> np.ndarray:
    """The image indices every model stored activations for, ascending."""
    it = iter(indices.values())
    common = np.asarray(next(it))
    for idx in it:
        common = np.intersect1d(common, idx)
    return np.unique(common)


def _rows(indices: np.ndarray, common: np.ndarray) -> np.ndarray:
    order = np.argsort(indices)
    return order[np.searchsorted(indices[order], common)]


def similarity_table(activations: Mapping[str, tuple[np.ndarray, np.ndarray]], conditions: Mapping[str, str],
                     base: str, method: str = "rdm") -> pd.DataFrame:
    """Every model against every other base model: model_id, condition, base_model, similarity, n_images.

    `activations[m]` is (image indices (k,), activations (k, d)) as the store returns them.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    common = common_images({m: np.asarray(i) for m, (i, _) in activations.items()})
    acts = {m: np.asarray(a, dtype=np.float64)[_rows(np.asarray(i), common)] for m, (i, a) in activations.items()}
    rdms = {m: rdm(a) for m, a in acts.items()} if method == "rdm" else {}
    bases = [m for m in activations if conditions[m] == base]
    rows = []
    for m in activations:
        for bm in bases:
            if bm == m:
                continue
            sim = rdm_similarity(rdms[m], rdms[bm]) if method == "rdm" else linear_cka(acts[m], acts[bm])
            rows.append({"model_id": m, "condition": conditions[m], "base_model": bm, "similarity": sim,
                         "method": method, "n_images": int(common.size)})
    return pd.DataFrame(rows, columns=["model_id", "condition", "base_model", "similarity", "method", "n_images"])


def condition_table(pairs: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Per condition: mean, SD and range of the similarity with base over its model pairs."""
    g = pairs.groupby("condition")["similarity"]
    out = pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1), "min": g.min(), "max": g.max(), "n_pairs": g.size()})
    present = [c for c in order if c in out.index]
    return out.loc[present].rename_axis("condition").reset_index()
