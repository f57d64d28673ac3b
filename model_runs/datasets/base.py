"""The dataset interface shared by every dataset: validation image table, class names, pixels.

Nothing here imports torch: stimuli and analysis use datasets to look at images. The torch
training/evaluation pipelines live in `model_runs.pipeline`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from PIL import Image

from labutil.errors import UserError

Split = Literal["train", "val"]

# Option keys that say where data lives rather than what it is; they do not define a study.
LOCATION_KEYS = ("root", "cache_dir")


@dataclass(frozen=True)
class Option:
    """One dataset option: its default and a one-line help text (shown by `list datasets`)."""

    default: Any
    help: str
    kind: type | tuple[type, ...] | None = None  # accepted types; None = type of default


class Dataset(ABC):
    """A labelled image dataset with a fixed training split and a fixed, ordered validation split."""

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[dict[str, Option]]
    kind: ClassVar[Literal["array", "files"]]
    channels: ClassVar[int] = 3
    # Per-channel normalisation applied after scaling pixels to 0..1 (what the network sees).
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    def __init__(self, **config: Any) -> None:
        self.config = config

    # -- identity ---------------------------------------------------------------------------
    def definition(self) -> dict[str, Any]:
        """The options that define this dataset (defaults filled in, locations left out), for study.toml."""
        out: dict[str, Any] = {"name": self.name}
        for key in self.options:
            value = self.config.get(key)
            if key not in LOCATION_KEYS and value is not None:
                out[key] = value
        return out

    def location(self) -> dict[str, Any]:
        """Where the data lives (root, cache folder): recorded with runs, not part of the definition."""
        return {k: str(self.config[k]) for k in LOCATION_KEYS if self.config.get(k) is not None}

    @property
    @abstractmethod
    def class_names(self) -> list[str]:
        """Human-readable class names in label order."""

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @abstractmethod
    def val_images(self) -> pd.DataFrame:
        """Validation images in their fixed order: image_index, image_id, label, class_name."""

    @abstractmethod
    def eval_pixels(self, image_index: int) -> Image.Image:
        """The pixels the network sees when evaluating this validation image, before normalisation."""

    @abstractmethod
    def train_labels(self) -> np.ndarray:
        """Labels of the training split (int64), in the split's fixed order."""

    def val_labels(self) -> np.ndarray:
        return self.val_images()["label"].to_numpy().astype(np.int64)

    def _images_frame(self, image_ids: list[str], labels: np.ndarray) -> pd.DataFrame:
        names = self.class_names
        labels = np.asarray(labels, dtype=np.int64)
        return pd.DataFrame(
            {
                "image_index": np.arange(len(labels), dtype=np.int32),
                "image_id": image_ids,
                "label": labels.astype(np.int32),
                "class_name": [names[i] for i in labels],
            }
        )


class ArrayDataset(Dataset):
    """A dataset small enough to hold as uint8 arrays (N, H, W, C): digits, gaussian, CIFAR-100."""

    kind = "array"

    @abstractmethod
    def arrays(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """(images uint8 (N, H, W, C), labels int64 (N,)) of a split, in its fixed order."""

    def train_labels(self) -> np.ndarray:
        return self.arrays("train")[1]

    def eval_pixels(self, image_index: int) -> Image.Image:
        images, _ = self.arrays("val")
        if not 0 <= image_index < len(images):
            raise UserError(f"{self.name}: image_index {image_index} outside 0..{len(images) - 1}")
        pixels = images[image_index]
        if pixels.shape[-1] == 1:
            return Image.fromarray(np.ascontiguousarray(pixels[..., 0]))  # 8-bit grey ("L")
        return Image.fromarray(np.ascontiguousarray(pixels))  # RGB


class FileDataset(Dataset):
    """A dataset of image files on disk (ImageNet, any ImageFolder tree)."""

    kind = "files"

    @abstractmethod
    def samples(self, split: Split) -> list[tuple[str, int]]:
        """(absolute file path, label) of every image of a split, in the split's fixed order."""

    @property
    @abstractmethod
    def eval_sizes(self) -> tuple[int, int]:
        """(resize of the shorter side, centre crop) used for evaluation."""

    def train_labels(self) -> np.ndarray:
        return np.array([label for _, label in self.samples("train")], dtype=np.int64)

    def eval_pixels(self, image_index: int, resize: int = 0, interpolation: str = "bilinear") -> Image.Image:
        """The image as evaluated: a model's `eval_resize` (0 = the dataset's) and `eval_interpolation`."""
        samples = self.samples("val")
        if not 0 <= image_index < len(samples):
            raise UserError(f"{self.name}: image_index {image_index} outside 0..{len(samples) - 1}")
        return resize_center_crop(load_rgb(samples[image_index][0]), resize or self.eval_sizes[0], self.eval_sizes[1], interpolation)


def load_rgb(path: str | Path) -> Image.Image:
    """Open an image file as RGB; an unreadable or corrupt file is a one-line UserError naming it."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"{path}: image file not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"{path}: unreadable or corrupt image ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def resize_center_crop(img: Image.Image, resize: int, crop: int, interpolation: str = "bilinear") -> Image.Image:
    """torchvision's Resize(resize, interpolation) (shorter side, antialiased) then CenterCrop(crop), in PIL."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = resize, int(resize * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), _RESAMPLE[interpolation])
    w, h = img.size
    if crop > w or crop > h:
        raise UserError(f"crop {crop} larger than the resized image {w}x{h}")
    top = int(round((h - crop) / 2.0))
    left = int(round((w - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def cache_root(config_value: str | None = None) -> Path:
    """Folder for generated datasets: option `cache_dir`, else $TRIVIAL_OR_IMPOSSIBLE_CACHE, else ~/.cache/..."""
    if config_value:
        return Path(config_value).expanduser()
    env = os.environ.get("TRIVIAL_OR_IMPOSSIBLE_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "trivial-or-impossible"


def root_from(config_value: str | None, env_var: str) -> Path | None:
    """A dataset root from the option `root`, else from an environment variable, else None."""
    value = config_value or os.environ.get(env_var)
    return Path(value).expanduser() if value else None
