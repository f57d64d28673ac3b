"""Per-model evaluation transform of image-file datasets (eval_resize, eval_interpolation): the
eval loader and eval_pixels follow it, and the shipped zoo matches each weights' own transforms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labutil.errors import UserError
from model_runs.datasets import open_dataset
from model_runs.pipeline import make_pipeline
from model_runs.study_files import load_study


def _tree(root: Path) -> None:
    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (20, 26 + 3 * i, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


@pytest.mark.parametrize(("resize", "interpolation"), [(0, "bilinear"), (14, "bicubic"), (16, "bilinear")])
def test_eval_loader_and_eval_pixels_follow_the_model_keys(tmp_path: Path, resize: int, interpolation: str) -> None:
    import torch
    import torchvision.transforms.v2 as T

    _tree(tmp_path)
    dataset = open_dataset({"name": "imagefolder", "root": str(tmp_path), "resize": 12, "crop": 10})
    pipeline = make_pipeline(dataset, torch.device("cpu"), workers=0, need_train=False, eval_resize=resize, eval_interpolation=interpolation)
    x, _ = next(iter(pipeline.eval_batches(8)))
    mode = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}[interpolation]
    reference = T.Compose([T.Resize(resize or 12, interpolation=mode), T.CenterCrop(10)])  # torchvision on PIL images
    for i, (path, _) in enumerate(dataset.samples("val")):
        expected = np.asarray(reference(Image.open(path).convert("RGB")))
        assert np.array_equal(np.asarray(dataset.eval_pixels(i, resize, interpolation)), expected)
        loaded = (x[i] * pipeline.normalize.std[0] + pipeline.normalize.mean[0]).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert np.array_equal(loaded, expected)
    if resize:  # a different transform gives different pixels
        assert not np.array_equal(np.asarray(dataset.eval_pixels(0, resize, interpolation)), np.asarray(dataset.eval_pixels(0)))


def test_shipped_zoo_evaluates_each_model_with_its_weights_transforms() -> None:
    import torchvision.models as tvm

    spec = load_study("torchvision_zoo")
    resize, crop = spec.dataset["resize"], spec.dataset["crop"]
    for m in spec.models:
        name = m["weights"].split(":", 1)[1]
        t = tvm.get_model_weights(m["arch"])[name].transforms()
        assert [m["eval_resize"] or resize] == list(t.resize_size), m["model_id"]
        assert [crop] == list(t.crop_size), m["model_id"]
        assert m["eval_interpolation"] == t.interpolation.value, m["model_id"]
    keys = {m["model_id"]: (m["eval_resize"] or resize, m["eval_interpolation"]) for m in spec.models}
    assert keys["efficientnet_b0"] == (256, "bicubic") and keys["convnext_tiny"] == (236, "bilinear") and keys["resnet50"] == (256, "bilinear")


def test_eval_keys_are_refused_for_array_datasets(study_file: Callable[..., Path]) -> None:
    path = study_file(extra="eval_resize = 32")
    with pytest.raises(UserError, match=rf"{path} model 'base': 'eval_resize' applies only to image-file datasets"):
        load_study(str(path))
    with pytest.raises(UserError, match="'eval_interpolation' = 'nearest' is not allowed"):
        load_study(str(study_file(extra='eval_interpolation = "nearest"')))


def test_stored_definitions_from_before_the_eval_keys_still_load(study_file: Callable[..., Path]) -> None:
    from model_runs.study_files import study_from_definition
    from model_runs.train import eval_options

    definition = load_study(str(study_file())).definition()
    for m in definition["models"]:
        del m["eval_resize"], m["eval_interpolation"]
    spec = study_from_definition(definition, "old/study.toml")
    assert "eval_resize" not in spec.models[0] and spec.definition() == definition  # compared equal with the stored one
    assert eval_options(spec.models[0]) == {"eval_resize": 0, "eval_interpolation": "bilinear"}
