"""Every `augment` value does what it says for array datasets (vectorised on the batch) and for
image-file datasets (per image in the loader): random-resized crops, random shifts, flips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def test_resized_crop_batch_equals_interpolate_of_the_crop() -> None:
    import torch

    from model_runs.pipeline import resized_crop_batch

    x = torch.randint(0, 256, (4, 3, 8, 10), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    boxes = torch.tensor([[0, 0, 8, 10], [1, 2, 3, 5], [4, 0, 4, 10], [2, 7, 6, 3]])
    out = resized_crop_batch(x, boxes)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(out[0], x[0])  # the whole image: unchanged
    for i, (t, l, h, w) in enumerate(boxes.tolist()):
        crop = x[i : i + 1, :, t : t + h, l : l + w].float()
        expected = torch.nn.functional.interpolate(crop, size=(8, 10), mode="bilinear", align_corners=False)[0]
        assert (out[i].float() - expected).abs().max() <= 0.5 + 1e-4, i  # rounded to the nearest integer


def test_random_resized_crop_flip_on_arrays_crops_and_is_seeded() -> None:
    import torch

    from model_runs.pipeline import augment_batch, random_resized_crop_boxes

    x = torch.randint(0, 256, (64, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    out = augment_batch(x, "random_resized_crop_flip", 4, torch.Generator().manual_seed(2))
    assert torch.equal(out, augment_batch(x, "random_resized_crop_flip", 4, torch.Generator().manual_seed(2)))
    only_flipped = [torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1)) for i in range(64)]
    assert sum(only_flipped) < 16  # most images are cropped (a crop of the whole image is possible)
    boxes = random_resized_crop_boxes(2000, 8, 8, torch.Generator().manual_seed(3))
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 8).all() and (left + w <= 8).all() and (h > 0).all() and (w > 0).all()
    share = (h * w).double() / 64
    assert share.min() < 0.2 and share.max() == 1.0 and 0.4 < share.mean() < 0.7  # scale (0.08, 1): mean near 0.54


def _file_images(tmp_path: Path, augment: str, pad: int) -> tuple[object, list[np.ndarray]]:
    from model_runs.datasets import resize_center_crop
    from model_runs.pipeline import _file_dataset_class

    rng = np.random.default_rng(0)
    samples, centres = [], []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (12, 14 + i, 3), dtype=np.uint8)).save(path)
        samples.append((str(path), 0))
        centres.append(np.asarray(resize_center_crop(Image.open(path).convert("RGB"), 10, 8)))
    return _file_dataset_class()(samples, True, 10, 8, 5, augment, pad), centres


def _shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[i, j] = img[i + dy, j + dx], zero outside: written out with np.pad."""
    p = 3
    padded = np.pad(img, ((p, p), (p, p), (0, 0)))
    return padded[p + dy : p + dy + img.shape[0], p + dx : p + dx + img.shape[1]]


@pytest.mark.parametrize("augment", ["shift", "shift_flip"])
def test_shift_on_image_files_moves_the_centre_crop(tmp_path: Path, augment: str) -> None:
    data, centres = _file_images(tmp_path, augment, pad=2)
    moved, flipped = 0, 0
    for epoch in range(3):
        for i, centre in enumerate(centres):
            got = data[(epoch, i)][0].permute(1, 2, 0).numpy()
            assert np.array_equal(got, data[(epoch, i)][0].permute(1, 2, 0).numpy())  # seeded per (seed, epoch, image)
            options = {(dy, dx, f): _shifted(centre[:, ::-1] if f else centre, dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) for f in (0, 1)}
            matches = [k for k, v in options.items() if np.array_equal(got, v)]
            assert matches, (epoch, i)
            moved += all(k[:2] != (0, 0) for k in matches)
            flipped += all(k[2] for k in matches)
    assert moved >= 6
    assert (flipped > 0) == (augment == "shift_flip")


def test_shift_image_by_hand() -> None:
    from model_runs.pipeline import shift_image

    img = Image.fromarray(np.arange(1, 10, dtype=np.uint8).reshape(3, 3))
    assert np.asarray(shift_image(img, 1, 0)).tolist() == [[4, 5, 6], [7, 8, 9], [0, 0, 0]]
    assert np.asarray(shift_image(img, 0, -1)).tolist() == [[0, 1, 2], [0, 4, 5], [0, 7, 8]]
