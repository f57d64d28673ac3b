"""Render stimuli: the pixels a network was evaluated on, scaled for display, as lossless PNG.

The evaluation transform is model_runs.datasets' own (torchvision's `Resize(256)` +
`CenterCrop(224)` in plain PIL, no torch import), so a stimulus shows exactly what the network saw,
before normalisation. Small images (digits) are enlarged with nearest neighbour, so no pixel is invented.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labutil.errors import UserError
from stimuli.sets import png_bytes

if TYPE_CHECKING:
    from PIL import Image


def load_evaluated_file(path: Path, resize: int, crop: int, where: str = "") -> Image.Image:
    """Open an image file as RGB and apply the networks' evaluation transform (the same code as
    `model_runs.datasets`); a missing or bad file is a UserError naming it (and `where`)."""
    from model_runs.datasets.base import load_rgb, resize_center_crop

    try:
        return resize_center_crop(load_rgb(path), resize, crop)
    except UserError as exc:
        raise UserError(f"{where}: source {exc}" if where else str(exc)) from None


def display_scale(image: Image.Image, display_size: int) -> Image.Image:
    """Scale so the longer side is `display_size` with nearest neighbour (0 or equal size: unchanged)."""
    from PIL import Image

    if display_size <= 0 or max(image.size) == display_size:
        return image
    factor = display_size / max(image.size)
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.NEAREST)


def to_displayable(image: Any) -> Image.Image:
    """A PIL image in a PNG-friendly mode (L, RGB or RGBA); arrays are converted as uint8."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    return image


def render_pngs(
    stim_rows: list[tuple[str, int]],
    pixels: Callable[[int], Any],
    display_size: int,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """PNG bytes per stim_id from (stim_id, source row) pairs, and a summary of the sizes met."""
    from labutil.progress import progress

    out: dict[str, bytes] = {}
    native: set[tuple[int, int]] = set()
    shown: set[tuple[int, int]] = set()
    for stim_id, row in progress(stim_rows, desc="rendering", unit="image", leave=False):
        image = to_displayable(pixels(int(row)))
        native.add(image.size)
        image = display_scale(image, display_size)
        shown.add(image.size)
        out[stim_id] = png_bytes(image)
    summary = {
        "evaluated_sizes": sorted([list(s) for s in native]),
        "display_size": display_size,
        "display_scaling": (
            "none" if display_size <= 0 or all(max(s) == display_size for s in native)
            else "nearest neighbour, longer side to display_size"
        ),
        "shown_sizes": sorted([list(s) for s in shown]),
        "format": "PNG (lossless)",
    }
    return out, summary
