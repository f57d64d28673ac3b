"""Datasets: fixed stratified digits split, Gaussian SDs, ImageFolder order, CIFAR-100 files, errors."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labutil.errors import UserError
from model_runs.datasets import load_rgb, open_dataset

DATA = Path(__file__).parent / "data"


# -- digits -------------------------------------------------------------------------------------


def test_digits_split_is_stratified_disjoint_and_fixed() -> None:
    from sklearn.datasets import load_digits

    ds = open_dataset({"name": "digits", "train_per_class": 20, "seed": 0})
    sk = load_digits()
    x_train, y_train = ds.arrays("train")
    x_val, y_val = ds.arrays("val")
    assert np.bincount(y_train).tolist() == [20] * 10
    assert len(y_train) + len(y_val) == 1797
    assert np.array_equal(np.bincount(y_val), np.bincount(sk.target) - 20)
    images = ds.val_images()
    assert images.columns.tolist() == ["image_index", "image_id", "label", "class_name"]
    assert images["image_index"].tolist() == list(range(len(y_val)))
    val_rows = [int(i.split("/")[1]) for i in images["image_id"]]
    # pixels and labels are sklearn's, scaled 0..16 -> 0..255
    expected = np.rint(sk.images[val_rows] * 255 / 16).astype(np.uint8)
    assert np.array_equal(x_val[..., 0], expected)
    assert np.array_equal(images["label"].to_numpy(), sk.target[val_rows])
    assert images["class_name"].tolist() == [str(l) for l in sk.target[val_rows]]
    assert np.array_equal(np.asarray(ds.eval_pixels(5)), expected[5])
    # every image is used exactly once
    train_rows = {int(r) for r in np.flatnonzero(np.isin(np.arange(1797), val_rows, invert=True))}
    assert len(train_rows) == 200
    # fixed by the seed
    again = open_dataset({"name": "digits", "train_per_class": 20, "seed": 0}).val_images()
    other = open_dataset({"name": "digits", "train_per_class": 20, "seed": 1}).val_images()
    assert again.equals(images)
    assert not other["image_id"].equals(images["image_id"])


def test_digits_val_per_class_and_noise() -> None:
    plain = open_dataset({"name": "digits", "train_per_class": 10, "val_per_class": 5, "seed": 2})
    noisy = open_dataset({"name": "digits", "train_per_class": 10, "val_per_class": 5, "seed": 2, "noise_sd_max": 60.0})
    assert np.bincount(plain.val_labels()).tolist() == [5] * 10
    assert plain.val_images().equals(noisy.val_images())
    a, b = plain.arrays("val")[0].astype(int), noisy.arrays("val")[0].astype(int)
    assert np.abs(a - b).mean() > 5
    again = open_dataset({"name": "digits", "train_per_class": 10, "val_per_class": 5, "seed": 2, "noise_sd_max": 60.0})
    assert np.array_equal(again.arrays("val")[0], noisy.arrays("val")[0])


def test_digits_too_many_per_class() -> None:
    with pytest.raises(UserError, match="train_per_class"):
        open_dataset({"name": "digits", "train_per_class": 180}).val_images()


# -- gaussian -----------------------------------------------------------------------------------


def test_gaussian_class_sd_and_determinism(tmp_path: Path) -> None:
    config = {"name": "gaussian", "image_size": 16, "train_per_class": 2, "val_per_class": 10, "n_classes": 100, "seed": 5}
    ds = open_dataset({**config, "cache_dir": str(tmp_path / "a")})
    x, y = ds.arrays("val")
    assert x.shape == (1000, 16, 16, 3) and x.dtype == np.uint8
    assert ds.n_classes == 100 and ds.class_names[0] == "sd001" and ds.class_names[99] == "sd100"
    for i in (1, 5, 20, 40):
        pixels = x[y == i - 1].astype(float)
        # rounding to integers adds variance 1/12; clipping is negligible below SD 40
        assert pixels.std() == pytest.approx(np.sqrt(i**2 + 1 / 12), rel=0.03)
        assert pixels.mean() == pytest.approx(128, abs=0.05 * i + 0.05)
    # SD 100 is clipped at 0 and 255: the SD of a normal(128, 100) clipped to [0, 255] (scipy)
    assert x[y == 99].min() == 0 and x[y == 99].max() == 255
    assert x[y == 99].astype(float).std() == pytest.approx(_clipped_normal_sd(128, 100, 0, 255), rel=0.03)
    # deterministic from the seed, wherever it is cached; cached file is reused
    other = open_dataset({**config, "cache_dir": str(tmp_path / "b")})
    assert np.array_equal(other.arrays("val")[0], x)
    path = ds.cache_folder / "val.npy"
    mtime = path.stat().st_mtime_ns
    assert np.array_equal(open_dataset({**config, "cache_dir": str(tmp_path / "a")}).arrays("val")[0], x)
    assert path.stat().st_mtime_ns == mtime
    reseeded = open_dataset({**config, "seed": 6, "cache_dir": str(tmp_path / "a")})
    assert not np.array_equal(reseeded.arrays("val")[0], x)
    assert ds.val_images()["image_id"].iloc[-1] == "val/999"
    assert "cache_dir" not in ds.definition()


def _clipped_normal_sd(mean: float, sd: float, lo: float, hi: float) -> float:
    from scipy import integrate, stats

    dist = stats.norm(mean, sd)
    m1 = lo * dist.cdf(lo) + hi * dist.sf(hi) + integrate.quad(lambda v: v * dist.pdf(v), lo, hi)[0]
    m2 = lo**2 * dist.cdf(lo) + hi**2 * dist.sf(hi) + integrate.quad(lambda v: v * v * dist.pdf(v), lo, hi)[0]
    return float(np.sqrt(m2 - m1**2 + 1 / 12))


# -- image folders ------------------------------------------------------------------------------


def _png(path: Path, size: tuple[int, int] = (12, 10), seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_imagefolder_order_matches_torchvision(tmp_path: Path) -> None:
    from torchvision.datasets import ImageFolder

    root = tmp_path / "tree"
    names = ["val/zebra/b.png", "val/zebra/a.jpg", "val/ant/x10.png", "val/ant/x2.png", "val/ant/sub/a.png", "val/Bee/1.png",
             "train/ant/t.png", "train/zebra/t.png", "train/Bee/t.png"]
    for k, name in enumerate(names):
        _png(root / name, seed=k)
    (root / "val/ant/notes.txt").write_text("not an image")
    ds = open_dataset({"name": "imagefolder", "root": str(root), "resize": 8, "crop": 6})
    reference = ImageFolder(str(root / "val"))
    assert ds.class_names == reference.classes == ["Bee", "ant", "zebra"]
    images = ds.val_images()
    assert [str(root / i) for i in images["image_id"]] == [p for p, _ in reference.samples]
    assert images["label"].tolist() == [l for _, l in reference.samples]
    assert images["image_id"].iloc[0] == "val/Bee/1.png"


def test_eval_pixels_equal_torchvision_resize_and_centre_crop(tmp_path: Path) -> None:
    from torchvision import transforms

    root = tmp_path / "tree"
    _png(root / "val/c/a.png", size=(37, 29))
    _png(root / "val/c/b.png", size=(20, 41), seed=1)
    ds = open_dataset({"name": "imagefolder", "root": str(root), "resize": 20, "crop": 16})
    tf = transforms.Compose([transforms.Resize(20), transforms.CenterCrop(16)])
    for index, name in enumerate(["a.png", "b.png"]):
        expected = np.asarray(tf(Image.open(root / "val/c" / name).convert("RGB")))
        got = np.asarray(ds.eval_pixels(index))
        assert got.shape == (16, 16, 3)
        assert np.array_equal(got, expected)


def test_imagenet_validation_order_matches_published_val_index(tmp_path: Path) -> None:
    with open(DATA / "imagenet_val_first100.csv") as fh:
        rows = list(csv.DictReader(fh))
    root = tmp_path / "ilsvrc"
    for row in reversed(rows):  # created in reverse order: the order must come from sorting
        (root / row["filepath"]).parent.mkdir(parents=True, exist_ok=True)
        (root / row["filepath"]).write_bytes(b"")
    ds = open_dataset({"name": "imagenet", "root": str(root)})
    images = ds.val_images()
    assert images["image_id"].tolist() == [r["filepath"] for r in rows]
    assert images["image_index"].tolist() == [int(r["val_index"]) for r in rows]
    assert images["label"].tolist() == [int(r["class_index"]) for r in rows]
    assert images["class_name"].tolist() == [r["wnid"] for r in rows]


def test_missing_datasets_say_what_and_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGENET_ROOT", raising=False)
    monkeypatch.delenv("CIFAR100_ROOT", raising=False)
    with pytest.raises(UserError, match=r"ImageNet .*not found at .*nowhere.*ROOT/val/<wnid>"):
        open_dataset({"name": "imagenet", "root": str(tmp_path / "nowhere")}).val_images()
    with pytest.raises(UserError, match=r"no root.*--data-root"):
        open_dataset({"name": "imagenet"}).val_images()
    (tmp_path / "only_train" / "train" / "a").mkdir(parents=True)
    with pytest.raises(UserError, match=r"has no val split"):
        open_dataset({"name": "imagefolder", "root": str(tmp_path / "only_train")}).val_images()
    with pytest.raises(UserError, match=r"CIFAR-100 not found .*cifar-100-python"):
        open_dataset({"name": "cifar100", "root": str(tmp_path)}).val_images()


def test_unknown_dataset_and_option() -> None:
    with pytest.raises(UserError, match="unknown dataset 'mnist'"):
        open_dataset({"name": "mnist"})
    with pytest.raises(UserError, match="unknown key 'img_size'"):
        open_dataset({"name": "gaussian", "img_size": 4})
    with pytest.raises(UserError, match="'seed' = 'x' has the wrong type"):
        open_dataset({"name": "digits", "seed": "x"})


def test_corrupt_image_and_foreign_class_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UserError, match=r"bad\.png: unreadable or corrupt image"):
        load_rgb(bad)
    root = tmp_path / "tree"
    _png(root / "train/a/1.png")
    _png(root / "val/a/1.png")
    _png(root / "val/b/1.png")
    with pytest.raises(UserError, match=r"val/b: class folder not in the dataset's 1 classes"):
        open_dataset({"name": "imagefolder", "root": str(root)}).val_images()


# -- CIFAR-100 ----------------------------------------------------------------------------------


def _cifar(root: Path, labels_test: list[int]) -> None:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"class{i}" for i in range(100)]
    with open(folder / "meta", "wb") as fh:
        pickle.dump({"fine_label_names": names, "coarse_label_names": []}, fh)
    for split, labels in (("train", [0, 1, 2, 3]), ("test", labels_test)):
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        with open(folder / split, "wb") as fh:
            pickle.dump({"data": data, "fine_labels": labels, "filenames": [f"{i}.png" for i in range(len(labels))]}, fh)


def test_cifar100_local_files(tmp_path: Path) -> None:
    _cifar(tmp_path, [5, 99, 0])
    ds = open_dataset({"name": "cifar100", "root": str(tmp_path)})
    x, y = ds.arrays("val")
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [5, 99, 0]
    with open(tmp_path / "cifar-100-python" / "test", "rb") as fh:
        raw = pickle.load(fh)["data"]
    # channel-major rows -> HWC: pixel (0, 1) of image 0 is raw[0][1], raw[0][1025], raw[0][2049]
    assert x[0, 0, 1].tolist() == [raw[0][1], raw[0][1025], raw[0][2049]]
    assert ds.val_images()["class_name"].tolist() == ["class5", "class99", "class0"]
    assert ds.val_images()["image_id"].tolist() == ["test/0", "test/1", "test/2"]


def test_cifar100_label_outside_range_names_file(tmp_path: Path) -> None:
    _cifar(tmp_path, [5, 100])
    with pytest.raises(UserError, match=r"cifar-100-python/test: image 1 has label 100 outside the class range 0..99"):
        open_dataset({"name": "cifar100", "root": str(tmp_path)}).val_images()
