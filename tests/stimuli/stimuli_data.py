"""Data for the stimuli tests: a tiny decisions store with chosen per-image counts and its pixels.

A module of its own (not conftest), so that test files import it by a unique name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model_runs.store import ModelWriter, Study, create_study

N_MODELS = 11
N_CLASSES = 6
CLASS_NAMES = [f"n0000000{c}" for c in range(N_CLASSES)]  # wnid-like


def counts_design() -> np.ndarray:
    """Models correct per image (11 models): 40 x 11, 10 x 10, 30 in-between (2..9), 10 x 1, 30 x 0."""
    return np.concatenate([
        np.full(40, 11), np.full(10, 10), np.resize(np.arange(2, 10), 30), np.full(10, 1), np.zeros(30, int)
    ])


def write_counts_study(
    path: Path,
    n_correct: np.ndarray,
    labels: np.ndarray,
    epoch0_correct: int = 0,
    images: pd.DataFrame | None = None,
    dataset: dict | None = None,
    probabilities: np.ndarray | None = None,
) -> Study:
    """A study of N_MODELS complete models where model m is right on image i iff m < n_correct[i].

    Epoch 0 has every model right on the first `epoch0_correct` images only; epoch 1 is final.
    `probabilities` (n_images, n_classes) is stored as every model's final-epoch probabilities.
    By default the images are synthetic (`val/NNNN`, labels cycling over N_CLASSES wnid-like names).
    """
    n = len(n_correct)
    if images is None:
        images = pd.DataFrame({
            "image_index": np.arange(n),
            "image_id": [f"val/{i:04d}" for i in range(n)],
            "label": labels,
            "class_name": [CLASS_NAMES[c] for c in labels],
        })
    labels = images["label"].to_numpy()
    study = create_study(path, {"name": path.name, "dataset": dataset or {"name": "synthetic"}}, images)
    wrong = (labels + 1) % (int(labels.max()) + 1)
    epoch0 = np.where(np.arange(n) < epoch0_correct, labels, wrong)
    for m in range(N_MODELS):
        w = ModelWriter(study, f"m{m:02d}")
        w.start({"condition": "base", "config": {"seed": m}})
        w.commit_epoch(0, epoch0, {})
        w.commit_epoch(1, np.where(m < n_correct, labels, wrong), {})
        if probabilities is not None:
            w.save_probabilities(probabilities)
        w.finish()
    return study


def synthetic_pixels(image_index: int) -> np.ndarray:
    """8x8 grey image determined by the index (stands in for a dataset's eval_pixels)."""
    return np.random.default_rng(1000 + int(image_index)).integers(0, 256, size=(8, 8), dtype=np.uint8)
