"""An ImageNet-shaped rehearsal folder: the real 1,000 wnids, a few JPEGs per class at ImageNet sizes.

`ROOT/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG` (and optionally `ROOT/train/<wnid>/<wnid>_<n>.JPEG`),
made from seeded noise (smooth colour fields with a few ellipses), so that a lab can run the whole
pipeline - the zoo evaluated into a store, the DDD analysis, a stimulus set - before it has
ILSVRC-2012 on disk. Nothing is downloaded; the same arguments give byte-identical files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from labutil.errors import UserError
from labutil.io import atomic_write_bytes
from model_runs.datasets.folder import imagenet_classes

#: (width, height) of common ILSVRC-2012 validation images (most are 500 px on the longer side)
SIZES = ((500, 375), (375, 500), (500, 333), (333, 500), (500, 500), (640, 480), (500, 400), (400, 500))


def choose_wnids(n_classes: int = 1000, wnids: list[str] | None = None) -> list[str]:
    """`wnids` (checked against the shipped list), or `n_classes` spread evenly over the 1,000 classes."""
    known = [w for w, _ in imagenet_classes()]
    if wnids:
        unknown = [w for w in wnids if w not in known]
        if unknown:
            raise UserError(f"--wnid {unknown[0]}: not one of the 1,000 ILSVRC-2012 classes")
        return sorted(set(wnids))
    if not 1 <= n_classes <= 1000:
        raise UserError(f"--classes {n_classes}: choose 1..1000")
    return [known[i * 1000 // n_classes] for i in range(n_classes)]


def rehearsal_image(rng: np.random.Generator) -> Image.Image:
    """One RGB image at an ImageNet size: a smooth random colour field with a few random ellipses."""
    w, h = SIZES[int(rng.integers(len(SIZES)))]
    field = rng.integers(0, 256, size=(int(rng.integers(3, 9)), int(rng.integers(3, 9)), 3), dtype=np.uint8)
    img = Image.fromarray(field).resize((w, h), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 5))):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        x1, y1 = x0 + int(rng.integers(20, max(21, w - x0))), y0 + int(rng.integers(20, max(21, h - y0)))
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_rehearsal(root: Path, n_classes: int = 1000, per_class: int = 2, seed: int = 0, wnids: list[str] | None = None,
                   train_per_class: int = 0) -> dict[str, int]:
    """Write the rehearsal folder (refusing a non-empty ROOT); returns image counts per split."""
    if per_class < 1 or train_per_class < 0:
        raise UserError("--per-class must be at least 1 and --train-per-class not negative")
    classes = choose_wnids(n_classes, wnids)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserError(f"{root}: exists and is not an empty folder; choose a new folder")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1312]))
    number = 0
    for wnid in classes:
        paths = []
        for _ in range(per_class):
            number += 1
            paths.append(root / "val" / wnid / f"ILSVRC2012_val_{number:08d}.JPEG")
        paths += [root / "train" / wnid / f"{wnid}_{k + 1}.JPEG" for k in range(train_per_class)]
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, _jpeg(rehearsal_image(rng)), sync_dir=False)
    return {"classes": len(classes), "val": len(classes) * per_class, "train": len(classes) * train_per_class}
