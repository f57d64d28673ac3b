"""The paper's synthetic dataset: 100 classes of Gaussian pixel noise, class i with SD i.

Images are generated deterministically from the seed (one generator per split and class) and
cached as .npy files under the cache folder, so a study and its stimuli see the same pixels.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError
from labutil.io import atomic_write_text
from model_runs.datasets.base import ArrayDataset, Option, Split, cache_root

_SPLIT_ID = {"train": 0, "val": 1}


class GaussianDataset(ArrayDataset):
    """Pixel-wise independent Gaussian noise per RGB channel, mean 128, class i has SD i, clipped to 0..255."""

    name = "gaussian"
    description = "synthetic: class i (1..n_classes) = Gaussian pixel noise, mean 128, SD i, clipped 0-255"
    mean = (0.5, 0.5, 0.5)
    std = (0.2, 0.2, 0.2)
    options = {
        "image_size": Option(32, "image height and width in pixels (paper: 224)"),
        "train_per_class": Option(200, "training images per class (paper: 20,000)"),
        "val_per_class": Option(50, "validation images per class (paper: 50 or 500)"),
        "n_classes": Option(100, "number of classes; class i has SD i"),
        "seed": Option(0, "seed of the generator"),
        "cache_dir": Option(None, "cache folder (default $TRIVIAL_OR_IMPOSSIBLE_CACHE or ~/.cache/trivial-or-impossible)", str),
    }

    @property
    def class_names(self) -> list[str]:
        return [f"sd{i:03d}" for i in range(1, int(self.config["n_classes"]) + 1)]

    def _key(self) -> dict[str, int]:
        return {k: int(self.config[k]) for k in ("image_size", "train_per_class", "val_per_class", "n_classes", "seed")}

    @cached_property
    def cache_folder(self) -> Path:
        key = json.dumps(self._key(), sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        return cache_root(self.config.get("cache_dir")) / f"gaussian-{digest}"

    def _per_class(self, split: Split) -> int:
        return int(self.config["train_per_class" if split == "train" else "val_per_class"])

    def labels(self, split: Split) -> np.ndarray:
        return np.repeat(np.arange(int(self.config["n_classes"]), dtype=np.int64), self._per_class(split))

    def arrays(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        path = self.cache_folder / f"{split}.npy"
        if not path.is_file():
            self._generate(split, path)
        try:
            images = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: unreadable cache file ({exc}); delete it to regenerate") from None
        labels = self.labels(split)
        size = int(self.config["image_size"])
        if images.shape != (len(labels), size, size, 3) or images.dtype != np.uint8:
            raise UserError(f"{path}: cache file has shape {images.shape}, expected {(len(labels), size, size, 3)}; delete it")
        return images, labels

    def _generate(self, split: Split, path: Path) -> None:
        """Write the split's images to `path` (via a temporary file renamed into place)."""
        size = int(self.config["image_size"])
        per_class = self._per_class(split)
        n_classes = int(self.config["n_classes"])
        if min(size, per_class, n_classes) < 1:
            raise UserError("gaussian: image_size, images per class and n_classes must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n_classes * per_class, size, size, 3))
        try:
            for c in range(n_classes):
                rng = np.random.default_rng([int(self.config["seed"]), _SPLIT_ID[split], c])
                sd = float(c + 1)
                for start in range(0, per_class, 256):  # bounded memory for large images
                    n = min(256, per_class - start)
                    block = rng.normal(128.0, sd, size=(n, size, size, 3))
                    lo = c * per_class + start
                    out[lo : lo + n] = np.clip(np.rint(block), 0, 255).astype(np.uint8)
            out.flush()
            del out
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        atomic_write_text(path.parent / "params.json", json.dumps(self._key(), indent=2) + "\n")

    def train_labels(self) -> np.ndarray:
        return self.labels("train")

    def val_images(self) -> pd.DataFrame:
        labels = self.labels("val")
        return self._images_frame([f"val/{i}" for i in range(len(labels))], labels)
