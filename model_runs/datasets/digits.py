"""scikit-learn's bundled 8x8 handwritten digits with a fixed, seeded, stratified train/val split."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError
from model_runs.datasets.base import ArrayDataset, Option, Split


def load_digits_file() -> tuple[np.ndarray, np.ndarray]:
    """The data of sklearn.datasets.load_digits() (images 0..16 as float (1797, 8, 8), targets),
    read from scikit-learn's bundled digits.csv.gz without importing scikit-learn (seconds faster)."""
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the digits dataset needs scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",")
    except OSError as exc:
        raise UserError(f"{path}: cannot read scikit-learn's digits ({exc})") from None
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


class DigitsDataset(ArrayDataset):
    """1,797 real 8x8 grey images of the digits 0-9 (UCI), shipped inside scikit-learn."""

    name = "digits"
    description = "scikit-learn's bundled 8x8 digits (1,797 images, 10 classes); seeded stratified split"
    channels = 1
    mean = (0.30,)
    std = (0.375,)
    options = {
        "train_per_class": Option(100, "training images per class (the rest, up to val_per_class, validate)"),
        "val_per_class": Option(0, "validation images per class; 0 = all images not used for training"),
        "seed": Option(0, "seed of the split (and of the optional pixel noise)"),
        "noise_sd_max": Option(
            0.0,
            "harder variant: add fixed Gaussian pixel noise to every image, its SD drawn per image "
            "uniformly from 0..noise_sd_max (0-255 scale); 0 = the original images",
            (int, float),
        ),
    }

    @cached_property
    def _all(self) -> tuple[np.ndarray, np.ndarray]:
        images16, target = load_digits_file()
        raw = images16 * (255.0 / 16.0)  # 0..16 -> 0..255
        noise_max = float(self.config["noise_sd_max"])
        if noise_max > 0:
            rng = np.random.default_rng([int(self.config["seed"]), 1])
            sd = rng.uniform(0.0, noise_max, size=len(raw))
            raw = raw + rng.standard_normal(raw.shape) * sd[:, None, None]
        images = np.clip(np.rint(raw), 0, 255).astype(np.uint8)[..., None]
        return images, target

    @cached_property
    def _split(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices (into sklearn's order) of the training and validation images."""
        _, labels = self._all
        n_train = int(self.config["train_per_class"])
        n_val = int(self.config["val_per_class"])
        rng = np.random.default_rng(int(self.config["seed"]))
        train, val = [], []
        for c in range(10):
            idx = rng.permutation(np.flatnonzero(labels == c))
            need = n_train + max(n_val, 1)
            if need > len(idx):
                raise UserError(
                    f"digits: class {c} has {len(idx)} images, fewer than train_per_class + val_per_class = {need}"
                )
            train.append(idx[:n_train])
            rest = idx[n_train:]
            val.append(np.sort(rest[:n_val] if n_val > 0 else rest))
        return np.concatenate(train), np.concatenate(val)

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in range(10)]

    def arrays(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self._all
        idx = self._split[0] if split == "train" else self._split[1]
        return images[idx], labels[idx]

    def val_images(self) -> pd.DataFrame:
        idx = self._split[1]
        labels = self._all[1][idx]
        return self._images_frame([f"digits/{i:04d}" for i in idx], labels)
