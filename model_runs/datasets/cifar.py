"""CIFAR-100 from the local files of its python version (as torchvision leaves them)."""

from __future__ import annotations

import pickle
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labutil.errors import UserError
from model_runs.datasets.base import ArrayDataset, Option, Split, root_from

_FILES = {"train": "train", "val": "test"}
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, never arbitrary code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


class Cifar100Dataset(ArrayDataset):
    """CIFAR-100: 50,000 training and 10,000 test (= validation) images of 32x32 pixels, 100 classes."""

    name = "cifar100"
    description = "CIFAR-100 from local files: ROOT/cifar-100-python/{train,test,meta}; test is the validation split"
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    options = {
        "root": Option(None, "folder holding cifar-100-python/ (or set $CIFAR100_ROOT)", str),
    }

    @cached_property
    def folder(self) -> Path:
        root = root_from(self.config.get("root"), "CIFAR100_ROOT")
        hint = (
            "put the python version of CIFAR-100 (cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
            "extracted) there as ROOT/cifar-100-python/{train,test,meta}, then set [dataset] root, pass --data-root ROOT "
            "or set $CIFAR100_ROOT"
        )
        if root is None:
            raise UserError(f"CIFAR-100 has no root; {hint}")
        for candidate in (root / "cifar-100-python", root):
            if all((candidate / f).is_file() for f in ("train", "test", "meta")):
                return candidate
        raise UserError(f"CIFAR-100 not found at {root / 'cifar-100-python'}; {hint}")

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            with path.open("rb") as fh:
                return _SafeUnpickler(fh, encoding="latin1").load()
        except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise UserError(f"{path}: unreadable CIFAR-100 file ({exc})") from None

    @cached_property
    def class_names(self) -> list[str]:  # type: ignore[override]
        meta = self._load(self.folder / "meta")
        try:
            return [str(n) for n in meta["fine_label_names"]]
        except (KeyError, TypeError):
            raise UserError(f"{self.folder / 'meta'}: no fine_label_names") from None

    @cache
    def arrays(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        path = self.folder / _FILES[split]
        entry = self._load(path)
        try:
            data = np.asarray(entry["data"], dtype=np.uint8)
            labels = np.asarray(entry["fine_labels"], dtype=np.int64)
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: expected 'data' and 'fine_labels' entries") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise UserError(f"{path}: data has shape {data.shape}, expected (N, 3072) with N labels")
        bad = np.flatnonzero((labels < 0) | (labels >= len(self.class_names)))
        if len(bad):
            raise UserError(f"{path}: image {bad[0]} has label {labels[bad[0]]} outside the class range 0..{len(self.class_names) - 1}")
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels

    def val_images(self) -> pd.DataFrame:
        _, labels = self.arrays("val")
        return self._images_frame([f"test/{i}" for i in range(len(labels))], labels)
