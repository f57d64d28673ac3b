"""Datasets by name: `open_dataset({"name": "digits", ...})` (the `[dataset]` table of a study).

A Dataset gives the validation image table (images.parquet of the store), class names and the
pixels a network sees at evaluation, without importing torch.
"""

from __future__ import annotations

from typing import Any

from labutil.errors import UserError
from model_runs.datasets.base import LOCATION_KEYS, ArrayDataset, Dataset, FileDataset, load_rgb, resize_center_crop
from model_runs.datasets.cifar import Cifar100Dataset
from model_runs.datasets.digits import DigitsDataset
from model_runs.datasets.folder import ImageFolderDataset, ImageNetDataset
from model_runs.datasets.gaussian import GaussianDataset

DATASETS: dict[str, type[Dataset]] = {
    cls.name: cls for cls in (DigitsDataset, GaussianDataset, ImageNetDataset, Cifar100Dataset, ImageFolderDataset)
}

__all__ = [
    "DATASETS",
    "LOCATION_KEYS",
    "ArrayDataset",
    "Dataset",
    "FileDataset",
    "load_rgb",
    "open_dataset",
    "resize_center_crop",
    "validate_dataset_config",
]


def validate_dataset_config(config: dict[str, Any], where: str = "[dataset]") -> dict[str, Any]:
    """Check a `[dataset]` table (name, known options, value types) and fill in defaults."""
    if not isinstance(config, dict) or "name" not in config:
        raise UserError(f"{where}: missing 'name' (one of {', '.join(DATASETS)})")
    name = config["name"]
    cls = DATASETS.get(name)
    if cls is None:
        raise UserError(f"{where}: unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "name":
            continue
        option = cls.options.get(key)
        if option is None:
            raise UserError(f"{where}: unknown key '{key}' for dataset '{name}' (known: {', '.join(cls.options)})")
        kinds = option.kind or type(option.default)
        if value is None and option.default is None:
            continue
        if isinstance(value, bool) and kinds is not bool or not isinstance(value, kinds):
            raise UserError(f"{where}: '{key}' = {value!r} has the wrong type for dataset '{name}'")
        out[key] = value
    for key, option in cls.options.items():
        out.setdefault(key, option.default)
    return {"name": name, **out}


def open_dataset(config: dict[str, Any]) -> Dataset:
    """The dataset described by a study's `[dataset]` table; unknown names/keys are one-line errors."""
    full = validate_dataset_config(config)
    cls = DATASETS[full.pop("name")]
    return cls(**full)
