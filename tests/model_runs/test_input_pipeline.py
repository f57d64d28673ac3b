"""Image-file input pipeline: torchvision.io decoding with v2 uint8 kernels sees the crops and flips
PIL sees, the memory-mapped cache gives exactly the evaluation pixels, loader workers fit the cores."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labutil.errors import UserError
from model_runs.datasets import open_dataset
from model_runs.pipeline import _file_dataset_class, decode_tensor, image_cache, make_pipeline
from model_runs.train import auto_loader_workers

torch = pytest.importorskip("torch")


def _tree(root: Path, size: tuple[int, int] = (40, 52), fmt: str = "png") -> None:
    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(3):
                base = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)  # smooth images: resampling differences stay small
                img = Image.fromarray(base).resize((size[1] + 2 * i, size[0]), Image.BILINEAR)
                img.save(root / split / c / f"{i}.{fmt}", quality=95) if fmt == "jpg" else img.save(root / split / c / f"{i}.{fmt}")


def _views(samples: list, augment: str, tensor: bool, resize: int, crop: int) -> list[np.ndarray]:
    data = _file_dataset_class()(samples, True, resize, crop, 5, augment, 3, "bilinear", tensor=tensor)
    return [data[(e, i)][0].numpy() for e in (1, 2) for i in range(len(samples))]


def test_tensor_decoding_is_pil_decoding(tmp_path: Path) -> None:
    _tree(tmp_path)
    path = sorted((tmp_path / "val" / "a").iterdir())[0]
    assert np.array_equal(decode_tensor(str(path)).permute(1, 2, 0).numpy(), np.asarray(Image.open(path).convert("RGB")))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="bad.png: unreadable or corrupt image"):
        decode_tensor(str(tmp_path / "bad.png"))
    with pytest.raises(UserError, match="gone.png: image file not found"):
        decode_tensor(str(tmp_path / "gone.png"))


def test_tensor_views_draw_what_pil_draws(tmp_path: Path) -> None:
    _tree(tmp_path)
    samples = open_dataset({"name": "imagefolder", "root": str(tmp_path), "resize": 40, "crop": 36}).samples("train")
    # no resampling (shift + flip of a centre crop): identical pixels
    a, b = _views(samples[:1], "shift_flip", False, 40, 36), _views(samples[:1], "shift_flip", True, 40, 36)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # random resized crops: the same boxes and flips, resampled by torchvision's kernels instead of PIL's
    a, b = _views(samples, "random_resized_crop_flip", False, 40, 36), _views(samples, "random_resized_crop_flip", True, 40, 36)
    for x, y in zip(a, b):
        assert x.shape == y.shape == (3, 36, 36) and y.dtype == np.uint8
        diff = np.abs(x.astype(int) - y.astype(int))
        assert diff.mean() < 1.0 and diff.max() <= 12
    flipped = [np.array_equal(x, x[:, :, ::-1]) for x in a]
    assert not all(flipped)


def test_image_cache_gives_the_evaluation_pixels(tmp_path: Path) -> None:
    _tree(tmp_path / "data", fmt="jpg")
    dataset = open_dataset({"name": "imagefolder", "root": str(tmp_path / "data"), "resize": 32, "crop": 28})
    pipeline = make_pipeline(dataset, torch.device("cpu"), workers=0, need_train=False, cache_dir=str(tmp_path / "cache"))
    x, _ = next(iter(pipeline.eval_batches(16)))
    for i in range(len(dataset.samples("val"))):
        loaded = (x[i] * pipeline.normalize.std[0] + pipeline.normalize.mean[0]).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(loaded, np.asarray(dataset.eval_pixels(i)))
    (cached,) = list((tmp_path / "cache").iterdir())
    assert cached.stat().st_size == 6 * 32 * 32 * 3
    stamp = cached.stat().st_mtime_ns
    again = image_cache(tmp_path / "cache", dataset.samples("val"), 32, "bilinear", 0)
    assert again.path == cached and cached.stat().st_mtime_ns == stamp  # built once
    victim = dataset.samples("val")[0][0]
    Path(victim).write_bytes(b"broken")
    with pytest.raises(UserError, match="unreadable or corrupt image"):
        image_cache(tmp_path / "cache", dataset.samples("val"), 32, "bilinear", 0)  # a changed file: a new cache, refused
    assert list((tmp_path / "cache").iterdir()) == [cached]  # nothing half-written left behind


def test_training_from_the_cache(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    dataset = open_dataset({"name": "imagefolder", "root": str(tmp_path / "data"), "resize": 32, "crop": 28})
    pipeline = make_pipeline(dataset, torch.device("cpu"), workers=0, cache_dir=str(tmp_path / "cache"))
    recipe = {"aug_seed": 1, "augment": "random_resized_crop_flip", "augment_pad": 0}
    x, y, idx = next(iter(pipeline.train_batches(np.arange(6), 6, recipe, 1)))
    assert x.shape == (6, 3, 28, 28) and sorted(idx.tolist()) == list(range(6))
    assert len(list((tmp_path / "cache").iterdir())) == 1  # the training split's, built on first use
    next(iter(pipeline.eval_batches(6)))
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_loader_workers_fit_the_cores() -> None:
    assert [auto_loader_workers(c) for c in (1, 2, 4, 16, 64)] == [0, 1, 3, 8, 8]
    assert auto_loader_workers() <= max(0, len(os.sched_getaffinity(0)) - 1)


def _jpeg_tree_with_png(root: Path) -> None:
    _tree(root, fmt="jpg")
    Image.open(sorted((root / "train" / "a").iterdir())[0]).save(root / "train" / "a" / "9.png")  # one non-JPEG among them


def test_batched_decoding_gives_the_tensor_batches_on_cpu(tmp_path: Path) -> None:
    _jpeg_tree_with_png(tmp_path)
    dataset = open_dataset({"name": "imagefolder", "root": str(tmp_path), "resize": 40, "crop": 36})
    recipe = {"aug_seed": 3, "augment": "random_resized_crop_flip", "augment_pad": 0}
    order = np.random.default_rng(0).permutation(len(dataset.samples("train")))
    got = {}
    for decoder in ("tensor", "batched"):
        pipeline = make_pipeline(dataset, torch.device("cpu"), workers=0, decoder=decoder)
        got[decoder] = [(x.clone(), y.clone(), i.clone()) for x, y, i in pipeline.train_batches(order, 3, recipe, 2)]
        assert pipeline._train_loader.dataset.encoded == (decoder == "batched")
    assert len(got["tensor"]) == len(got["batched"]) == 3
    for (xa, ya, ia), (xb, yb, ib) in zip(got["tensor"], got["batched"]):
        assert torch.equal(ia, ib) and torch.equal(ya, yb) and torch.equal(xa, xb)


def test_batched_decoding_names_a_corrupt_jpeg(tmp_path: Path) -> None:
    _tree(tmp_path, fmt="jpg")
    victim = sorted((tmp_path / "train" / "b").iterdir())[1]
    victim.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)  # a JPEG signature, then garbage
    dataset = open_dataset({"name": "imagefolder", "root": str(tmp_path), "resize": 40, "crop": 36})
    pipeline = make_pipeline(dataset, torch.device("cpu"), workers=0, decoder="batched")
    recipe = {"aug_seed": 3, "augment": "random_resized_crop_flip", "augment_pad": 0}
    with pytest.raises(UserError, match=f"^{victim}: unreadable or corrupt image"):
        for _ in pipeline.train_batches(np.arange(6), 6, recipe, 1):
            pass
