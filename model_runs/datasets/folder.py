"""Image files in torchvision ImageFolder layout: `imagefolder` (any tree) and `imagenet` (ILSVRC-2012).

Order is ImageFolder's: class folders sorted by name give labels 0..n-1; within a class, files in
sorted directory walk order. For ImageNet validation this is the order of the published
per-image tables (`val_index`), e.g. ../shared/reference/imagenet_val_sota11_per_image.csv.
"""

from __future__ import annotations

import csv
import os
from functools import cache, cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError
from model_runs.datasets.base import FileDataset, Option, Split, root_from

# torchvision.datasets.folder.IMG_EXTENSIONS
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


CLASSES_FILE = Path(__file__).parent / "data" / "imagenet_classes.tsv"


@cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
    """The 1,000 ILSVRC-2012 classes in label order as (wnid, CLIP class name), from the shipped list."""
    lines = [line for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    assert [int(r["class_index"]) for r in rows] == list(range(1000)), CLASSES_FILE
    return tuple((r["wnid"], r["clip_name"]) for r in rows)


def find_classes(directory: Path) -> list[str]:
    """Class folder names, sorted (torchvision's find_classes)."""
    return sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())


def scan_split(directory: Path, classes: list[str]) -> list[tuple[str, int]]:
    """(path, label) of every image below `directory`, in ImageFolder order (torchvision's make_dataset)."""
    index = {name: i for i, name in enumerate(classes)}
    present = find_classes(directory)
    unknown = [c for c in present if c not in index]
    if unknown:
        raise UserError(f"{directory / unknown[0]}: class folder not in the dataset's {len(classes)} classes (label outside the class range)")
    samples: list[tuple[str, int]] = []
    for name in sorted(present, key=lambda c: index[c]):
        for root, _, fnames in sorted(os.walk(directory / name, followlinks=True)):
            for fname in sorted(fnames):
                if fname.lower().endswith(IMG_EXTENSIONS):
                    samples.append((os.path.join(root, fname), index[name]))
    return samples


class ImageFolderDataset(FileDataset):
    """Any tree `root/train/<class>/<images>` and `root/val/<class>/<images>`."""

    name = "imagefolder"
    description = "any ImageFolder tree: ROOT/train/<class>/*.jpg and ROOT/val/<class>/*.jpg"
    env_var = "IMAGEFOLDER_ROOT"
    options = {
        "root": Option(None, "dataset root holding train/ and val/ (or set $IMAGEFOLDER_ROOT)", str),
        "train_dir": Option("train", "training split folder, relative to root"),
        "val_dir": Option("val", "validation split folder, relative to root"),
        "classes_file": Option(None, "optional text file listing class folder names in label order, one per line", str),
        "resize": Option(256, "evaluation: resize the shorter side to this many pixels"),
        "crop": Option(224, "evaluation: centre crop (and training: random-resized-crop) size"),
    }

    def _missing_message(self, what: str) -> str:
        return (
            f"{self.name} dataset {what}; put the images in ImageFolder layout at ROOT/{self.config['train_dir']}/<class>/*.jpg "
            f"and ROOT/{self.config['val_dir']}/<class>/*.jpg, then set [dataset] root, pass --data-root ROOT or set ${self.env_var}"
        )

    @cached_property
    def root(self) -> Path:
        root = root_from(self.config.get("root"), self.env_var)
        if root is None:
            raise UserError(self._missing_message("has no root"))
        if not root.is_dir():
            raise UserError(self._missing_message(f"not found at {root}"))
        return root

    def split_dir(self, split: Split) -> Path:
        folder = self.root / str(self.config["train_dir" if split == "train" else "val_dir"])
        if not folder.is_dir():
            raise UserError(self._missing_message(f"has no {split} split: {folder} is missing"))
        return folder

    @cached_property
    def class_folders(self) -> list[str]:
        listed = self.config.get("classes_file")
        if listed:
            path = Path(listed).expanduser()
            try:
                names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            except OSError as exc:
                raise UserError(f"{path}: cannot read classes_file ({exc.strerror})") from None
            if len(set(names)) != len(names) or not names:
                raise UserError(f"{path}: classes_file must list distinct class names, one per line")
            return names
        train = self.root / str(self.config["train_dir"])
        classes = find_classes(train if train.is_dir() else self.split_dir("val"))
        if not classes:
            raise UserError(self._missing_message(f"has no class folders in {train}"))
        return classes

    @property
    def class_names(self) -> list[str]:
        return self.class_folders

    @property
    def eval_sizes(self) -> tuple[int, int]:
        return int(self.config["resize"]), int(self.config["crop"])

    @cache
    def samples(self, split: Split) -> list[tuple[str, int]]:
        folder = self.split_dir(split)
        samples = scan_split(folder, self.class_folders)
        if not samples:
            raise UserError(f"{folder}: no images ({', '.join(IMG_EXTENSIONS)})")
        return samples

    def val_images(self) -> pd.DataFrame:
        samples = self.samples("val")
        ids = [Path(os.path.relpath(path, self.root)).as_posix() for path, _ in samples]
        return self._images_frame(ids, np.array([label for _, label in samples]))


class ImageNetDataset(ImageFolderDataset):
    """ILSVRC-2012 in ImageFolder layout (wnid folders); class names are the wnids.

    Labels are the standard class ids 0..999 of the shipped wnid list (sorted wnids), also when only
    some class folders are present (a rehearsal subset) or there is no train/ split.
    """

    name = "imagenet"
    description = "ILSVRC-2012 from a local root: ROOT/train/<wnid>/*.JPEG, ROOT/val/<wnid>/*.JPEG"
    env_var = "IMAGENET_ROOT"
    options = {
        **ImageFolderDataset.options,
        "root": Option(None, "ILSVRC-2012 root holding train/ and val/ (or set $IMAGENET_ROOT)", str),
        "classes_file": Option(None, "optional text file of wnids in label order (default: the shipped 1,000 ILSVRC-2012 wnids)", str),
    }

    @cached_property
    def class_folders(self) -> list[str]:
        if self.config.get("classes_file"):
            return super().class_folders
        return [wnid for wnid, _ in imagenet_classes()]

    def _missing_message(self, what: str) -> str:
        return (
            f"ImageNet (ILSVRC-2012) {what}; extract it in ImageFolder layout as ROOT/train/<wnid>/*.JPEG and "
            f"ROOT/val/<wnid>/*.JPEG (e.g. with the valprep.sh script), then set [dataset] root, pass --data-root ROOT "
            f"or set $IMAGENET_ROOT"
        )
