"""Fixtures for the stimuli tests: a tiny decisions store with chosen per-image counts, its pixels,
and a tiny ImageFolder tree of JPEGs with a per-image table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stimuli_data import CLASS_NAMES, N_CLASSES, N_MODELS, counts_design, synthetic_pixels, write_counts_study


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
