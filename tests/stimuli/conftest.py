"""Fixtures for the stimuli tests: a tiny decisions store with chosen per-image counts, its pixels,
and a tiny ImageFolder tree of JPEGs with a per-image table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


@pytest.fixture
def counts() -> np.ndarray:
    return counts_design()


@pytest.fixture
def labels(counts: np.ndarray) -> np.ndarray:
    return np.arange(len(counts)) % N_CLASSES


@pytest.fixture
def study(tmp_path: Path, counts: np.ndarray, labels: np.ndarray) -> Study:
    return write_counts_study(tmp_path / "runs" / "synthetic", counts, labels, epoch0_correct=60)


@pytest.fixture
def jpeg_table(tmp_path: Path) -> Path:
    """ImageFolder tree root/val/<wnid>/img_NNN.JPEG (varied sizes) and root/table.csv describing it.

    60 images, 3 classes; 20 trivial (11/11), 20 in-between (5/11), 20 impossible (0/11); every
    fifth image is flagged in `label_error`.
    """
    root = tmp_path / "imagenet"
    rng = np.random.default_rng(7)
    rows = []
    sizes = [(300, 260), (260, 300), (500, 375), (256, 256), (333, 500)]
    for i in range(60):
        cls = i % 3
        w, h = sizes[i % len(sizes)]
        rel = f"val/n0000000{cls}/img_{i:03d}.JPEG"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // w), (yy * 255 // h), rng.integers(0, 256, (h, w))], axis=-1).astype(np.uint8)
        from PIL import Image

        Image.fromarray(img).save(root / rel, quality=90)
        n_correct = 11 if i < 20 else (5 if i < 40 else 0)
        rows.append({"filepath": rel, "wnid": f"n0000000{cls}", "class_index": cls, "models_ok": n_correct,
                     "label_error": int(i % 5 == 0)})
    table = root / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return table
