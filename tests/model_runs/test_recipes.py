"""Named recipe presets: the faster `imagefolder-fast` (FFCV-like progressive resizing, label
smoothing, cyclic learning rate) next to the paper's default, which stays as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labutil.errors import UserError
from model_runs.recipes import OPTIONAL_KEYS, PRESETS, lr_factor, train_crop_at
from model_runs.runner import run_models
from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.train import Execution, make_optimizer


def test_progressive_resizing_follows_ffcv_rn18_16_epochs() -> None:
    """rn18_16_epochs.yaml: 160 px up to epoch 11, 192 px from epoch 13, 32-px steps between."""
    fast = PRESETS["imagefolder-fast"]
    assert [train_crop_at(fast, e, 224) for e in range(1, 17)] == [160] * 11 + [192] * 5
    ramp = {**fast, "train_crop_start": 128, "train_crop": 256, "crop_ramp_start": 2, "crop_ramp_end": 6}
    assert [train_crop_at(ramp, e, 224) for e in range(1, 8)] == [128, 128, 160, 192, 224, 256, 256]
    small = {**ramp, "train_crop_start": 40, "train_crop": 48}  # 32-px steps would leave the ramp: kept at its ends
    assert [train_crop_at(small, e, 56) for e in range(1, 8)] == [40] * 5 + [48] * 2
    assert train_crop_at(PRESETS["imagenet"], 5, 224) == 224  # the paper's recipe: the evaluation crop
    assert train_crop_at({**PRESETS["imagenet"], "train_crop": 176}, 5, 224) == 176


def test_cyclic_learning_rate_per_epoch() -> None:
    """Linear from 0 to lr at the peak epoch, then to 0 at the end, taken at each epoch's middle."""
    entry = {**PRESETS["imagefolder-fast"], "epochs": 6, "lr_peak_epoch": 2}
    assert [lr_factor(entry, e) for e in range(1, 7)] == pytest.approx([0.25, 0.75, 7 / 8, 5 / 8, 3 / 8, 1 / 8])


def test_schedulers_give_the_lr_of_each_epoch() -> None:
    """The optimiser's learning rate in epoch e is lr x lr_factor(e); the step schedule is StepLR's."""
    import torch

    for entry in ({**PRESETS["imagefolder-fast"], "epochs": 5}, {**PRESETS["digits"], "epochs": 9, "lr_step": 3, "lr_gamma": 0.5}):
        model = torch.nn.Linear(2, 2)
        opt, sched = make_optimizer(model, entry)
        seen = []
        for _ in range(entry["epochs"]):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        expected = [entry["lr"] * lr_factor(entry, e) for e in range(1, entry["epochs"] + 1)]
        assert seen == pytest.approx(expected)
    assert expected == pytest.approx([0.05] * 3 + [0.025] * 3 + [0.0125] * 3)


def test_the_paper_recipe_and_shipped_studies_are_unchanged() -> None:
    """The new keys stay out of every model entry at their default, so stores written before them
    hold the same study definition."""
    assert PRESETS["imagenet"]["epochs"] == 90 and PRESETS["imagenet"]["lr"] == 0.1
    assert not set(OPTIONAL_KEYS) & set(PRESETS["imagenet"])
    for name in ("demo", "resnet18_variants"):
        for m in load_study(name).models:
            assert not set(OPTIONAL_KEYS) & set(m), m["model_id"]


def _tree(root: Path, n: int = 4, size: int = 40) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    for split in ("train", "val"):
        for c, level in (("a", 40), ("b", 128), ("c", 220)):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(rng.normal(level, 30, (size, size + i, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")


def _fast_study(tmp_path: Path, dataset: str = "imagefolder", extra: str = "") -> Path:
    _tree(tmp_path / "tree")
    root = f'root = "{tmp_path / "tree"}"\nresize = 100\ncrop = 96\n' if dataset == "imagefolder" else ""
    path = tmp_path / "fast.toml"
    path.write_text(
        f'name = "fast"\npreset = "imagefolder-fast"\n[dataset]\nname = "{dataset}"\n{root}'
        '[recipe]\narch = "small_cnn"\nepochs = 4\nbatch_size = 4\neval_batch_size = 6\nlr = 0.05\n'
        f'train_crop = 96\ntrain_crop_start = 32\ncrop_ramp_start = 1\ncrop_ramp_end = 3\n{extra}'
        '[[conditions]]\nname = "base"\n'
    )
    return path


def test_a_fast_preset_study_records_the_crop_of_every_epoch(tmp_path: Path) -> None:
    spec = load_study(str(_fast_study(tmp_path)))
    m = spec.models[0]
    assert (m["label_smoothing"], m["lr_schedule"], m["weight_decay"]) == (0.1, "cyclic", 5e-5)
    execution = Execution(device="cpu", threads=1, quiet=True, loader_workers=0)
    assert run_models(spec, tmp_path / "runs" / "fast", ["base"], execution)[0].status == "complete"
    epochs = open_study(tmp_path / "runs" / "fast").run_info("base")["epochs"]
    assert [e.get("train_crop") for e in epochs] == [None, 32, 64, 96, 96]  # epoch 0 is the evaluation before training
    assert [e["lr"] for e in epochs[1:]] == pytest.approx([0.05 * lr_factor(m, e) for e in range(1, 5)])


def test_the_pipeline_crops_at_the_recorded_size(tmp_path: Path) -> None:
    """The training batches of each epoch have the side train_crop_at gives (the loader is rebuilt
    when it changes); evaluation keeps the dataset's crop."""
    import torch

    from model_runs.datasets import open_dataset
    from model_runs.pipeline import make_pipeline

    spec = load_study(str(_fast_study(tmp_path)))
    entry = spec.models[0]
    pipe = make_pipeline(open_dataset(spec.dataset), torch.device("cpu"), workers=0)
    order = np.arange(pipe.n("train"))
    for epoch, side in ((1, 32), (2, 64), (3, 96), (1, 32)):
        shapes = {tuple(x.shape[-2:]) for x, _, _ in pipe.train_batches(order, 4, entry, epoch)}
        assert shapes == {(side, side)}
    assert {tuple(x.shape[-2:]) for x, _ in pipe.eval_batches(6)} == {(96, 96)}


def test_crop_keys_need_image_files_and_a_ramp(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="'train_crop' applies only to image-file datasets"):
        load_study(str(_fast_study(tmp_path, dataset="digits")))
    with pytest.raises(UserError, match="crop_ramp_end > crop_ramp_start"):
        load_study(str(_ramp_backwards(tmp_path / "b")))
    with pytest.raises(UserError, match="'lr_schedule' = 'linear' is not allowed"):
        load_study(str(_fast_study(tmp_path / "c", extra='lr_schedule = "linear"\n')))


def _ramp_backwards(tmp_path: Path) -> Path:
    tmp_path.mkdir()
    path = _fast_study(tmp_path)
    path.write_text(path.read_text().replace("crop_ramp_end = 3", "crop_ramp_end = 1"))
    return path
