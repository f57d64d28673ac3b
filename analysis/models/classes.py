"""Class-wise accuracy (the paper's Fig. 6 and Table 1) and, for the Gaussian dataset, the KL
divergence between neighbouring classes against class accuracy (Fig. 18).

Gaussian dataset (model_runs `gaussian`): class i (label i - 1, i = 1..n) holds pixel-wise
independent N(128, i^2) noise. Between classes i and j the per-pixel divergence is analytic,
KL(N(mu, s_i^2) || N(mu, s_j^2)) = ln(s_j / s_i) + s_i^2 / (2 s_j^2) - 1/2; an image of P pixels
(x 3 channels) has P times that. The clipping to 0..255 that the generator applies (which matters
for SDs above ~40) is ignored: this is the divergence of the distributions before clipping.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def class_accuracy(correct: np.ndarray, labels: np.ndarray, class_names: np.ndarray | list[str]) -> pd.DataFrame:
    """Per class: images, accuracy over all models and images, SD / min / max over models.

    `correct` is (n_models, n_images) bool, `labels` (n_images,). Sorted by accuracy, descending
    (ties by label), with `rank` 1 = easiest.
    """
    c = np.asarray(correct, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    names = np.asarray(class_names)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    # per model and class: number right, via one bincount per model row
    right = np.stack([np.bincount(inverse, weights=row, minlength=len(classes)) for row in c]) if c.shape[0] else np.zeros((0, len(classes)))
    per_model = right / counts[None, :]
    first = np.array([np.flatnonzero(inverse == k)[0] for k in range(len(classes))])
    df = pd.DataFrame(
        {
            "label": classes,
            "class_name": names[first],
            "n_images": counts,
            "accuracy": right.sum(axis=0) / (counts * max(c.shape[0], 1)),
            "sd_over_models": per_model.std(axis=0, ddof=1) if c.shape[0] > 1 else np.zeros(len(classes)),
            "min_model_accuracy": per_model.min(axis=0),
            "max_model_accuracy": per_model.max(axis=0),
        }
    )
    df = df.sort_values(["accuracy", "label"], ascending=[False, True], kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def easiest_and_hardest(class_table: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The k easiest and k hardest classes (Table 1), with a `group` column."""
    k = min(k, len(class_table) // 2) if len(class_table) >= 2 else len(class_table)
    easy = class_table.head(k).assign(group="easiest")
    hard = class_table.tail(k).iloc[::-1].assign(group="hardest")
    return pd.concat([easy, hard], ignore_index=True)


def gaussian_kl(sd_p: np.ndarray | float, sd_q: np.ndarray | float) -> np.ndarray:
    """KL(N(mu, sd_p^2) || N(mu, sd_q^2)) per pixel, in nats (same mean)."""
    p = np.asarray(sd_p, dtype=np.float64)
    q = np.asarray(sd_q, dtype=np.float64)
    return np.log(q / p) + p**2 / (2 * q**2) - 0.5


def is_gaussian_dataset(dataset: dict[str, Any] | None) -> bool:
    """True for model_runs' synthetic `gaussian` dataset."""
    return bool(dataset) and str(dataset.get("name", "")).lower() == "gaussian"


def gaussian_class_sds(dataset: dict[str, Any], labels: np.ndarray) -> np.ndarray:
    """SD of each class label: an explicit `sds`/`stds` list in the dataset options, else label + 1."""
    for key in ("sds", "stds", "sigmas"):
        if key in dataset:
            sds = np.asarray(dataset[key], dtype=np.float64)
            return sds[np.asarray(labels, dtype=np.int64)]
    return np.asarray(labels, dtype=np.float64) + 1.0


def neighbour_kl_table(class_table: pd.DataFrame, sds: np.ndarray) -> pd.DataFrame:
    """Per class: its SD, KL to the classes with the next lower / higher SD, their minimum, accuracy.

    `sds` gives the SD of each row of `class_table` (same order). The smaller of the two
    divergences (`kl_min`) measures how confusable a class is with its closest neighbour.
    """
    df = class_table[["label", "class_name", "accuracy"]].copy()
    df["sd"] = np.asarray(sds, dtype=np.float64)
    df = df.sort_values("sd", kind="stable").reset_index(drop=True)
    s = df["sd"].to_numpy()
    lower = np.full(len(s), np.nan)
    upper = np.full(len(s), np.nan)
    lower[1:] = gaussian_kl(s[1:], s[:-1])
    upper[:-1] = gaussian_kl(s[:-1], s[1:])
    df["kl_to_lower"] = lower
    df["kl_to_higher"] = upper
    df["kl_min"] = np.fmin(lower, upper)
    return df
