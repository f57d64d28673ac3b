"""`python -m model_runs init`: a study file fitted to the images a user has.

It looks at the ImageFolder tree (number of classes and images, the typical image size) and writes
a study file whose recipe suits it: a small ResNet at the images' own size for small images, a
batch size that gives every epoch enough optimiser updates, a learning rate scaled to the batch,
enough epochs for about 600 updates; the full ImageNet recipe only for ImageNet-sized data.
A few example conditions follow, commented, for the user to edit. See README, "Your own images
to a report".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labutil.errors import UserError
from labutil.paths import check_output_file

INIT_DATASETS = ("imagefolder", "imagenet")
IMAGENET_SIZED = 100_000  # training images from which the full ImageNet recipe is worth its 90 epochs
SIZE_SAMPLE = 200  # images whose size is read (header only) to find the typical size
TARGET_UPDATES = 600  # optimiser updates a model of a small study makes over its training
MIN_UPDATES_PER_EPOCH = 8
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_\-]")


@dataclass(frozen=True)
class Survey:
    """What init found under the root."""

    root: Path
    n_classes: int
    n_train: int
    n_val: int
    short_side: int  # median shorter side of the sampled images, px
    long_side: int


def survey(dataset_name: str, root: Path) -> Survey:
    """Count the classes and images of an ImageFolder tree and read the typical image size."""
    from PIL import Image

    from model_runs.datasets import open_dataset

    ds = open_dataset({"name": dataset_name, "root": str(root)})
    train = ds.samples("train")  # type: ignore[attr-defined]
    val = ds.samples("val")  # type: ignore[attr-defined]
    files = [p for p, _ in train + val]
    step = max(1, len(files) // SIZE_SAMPLE)
    shorts, longs = [], []
    for path in files[::step][:SIZE_SAMPLE]:
        try:
            with Image.open(path) as img:
                w, h = img.size
        except OSError as exc:
            raise UserError(f"{path}: not a readable image ({exc})") from None
        shorts.append(min(w, h))
        longs.append(max(w, h))
    return Survey(Path(root), ds.n_classes, len(train), len(val), _median(shorts), _median(longs))


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    return int(ordered[len(ordered) // 2])


def fit(s: Survey) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """([dataset] options, [recipe] values, lines explaining the choice) for the surveyed data."""
    if s.n_train >= IMAGENET_SIZED:
        return ({"resize": 256, "crop": 224}, {}, [
            f"{s.n_train} training images: ImageNet-sized, so the full ImageNet recipe (preset 'imagefolder': ResNet-18 at",
            "224 px, batch 256, lr 0.1 divided by 10 every 30 epochs, 90 epochs). Expect hours per model on a GPU.",
        ])
    if s.short_side <= 64:
        crop = max(8, s.short_side)
        resize, arch, options, augment = crop, "small_resnet", {"width": 16, "blocks": 1}, "shift_flip"
        why = f"small images ({s.short_side} px): a small ResNet at {crop} px, no resizing"
    elif s.short_side < 160:
        crop, resize, arch, options, augment = 64, 73, "small_resnet", {"width": 16, "blocks": 1}, "shift_flip"
        why = f"images of {s.short_side} px: resized to 73 px and centre-cropped to 64 px, a small ResNet"
    else:
        crop, resize, arch, options, augment = 112, 128, "resnet18", {}, "random_resized_crop_flip"
        why = f"images of {s.short_side} px but far fewer than ImageNet: ResNet-18 at 112 px (resize 128)"
    batch = _batch_size(s.n_train)
    updates = -(-s.n_train // batch)
    epochs = min(60, max(15, -(-TARGET_UPDATES // updates)))
    lr = round(min(0.1, max(0.02, 0.1 * math.sqrt(batch / 128))), 4)
    recipe = {
        "arch": arch, "model_options": options, "epochs": epochs, "batch_size": batch, "eval_batch_size": 256, "lr": lr,
        "weight_decay": 5e-4, "lr_step": max(1, round(2 * epochs / 3)), "lr_gamma": 0.1, "augment": augment,
        "augment_pad": max(2, crop // 8),
    }
    return {"resize": resize, "crop": crop}, recipe, [
        f"{why};",
        f"batch {batch} for {s.n_train} training images = {updates} updates per epoch; {epochs} epochs (about "
        f"{updates * epochs} updates);",
        f"lr {lr} (0.1 x sqrt(batch / 128), kept within 0.02..0.1), divided by 10 after epoch {recipe['lr_step']}.",
    ]


def _batch_size(n_train: int) -> int:
    """The largest power of two giving at least MIN_UPDATES_PER_EPOCH updates an epoch, within 8..128."""
    batch = 8
    while batch * 2 <= min(128, n_train // MIN_UPDATES_PER_EPOCH):
        batch *= 2
    return batch


def _toml(value: Any) -> str:
    """A TOML value; tables inline (`{ width = 16 }`)."""
    from model_runs.store import _value

    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    return _value(value)


def render(name: str, dataset: str, root_text: str, s: Survey, options: dict[str, Any], recipe: dict[str, Any], why: list[str]) -> str:
    """The study file's text: what was found, the fitted recipe, example conditions."""
    lines = [
        f"# Study file written by `python -m model_runs init` for the images under {s.root}",
        f"# Found: {s.n_classes} classes, {s.n_train} training and {s.n_val} validation images, typically "
        f"{s.short_side} x {s.long_side} px.",
        "# The recipe below is fitted to that:",
        *[f"#   {line}" for line in why],
        "# Edit anything: every key is in docs/formats.md, 'Study files'; datasets and models: python -m model_runs list.",
        "# Then train every model:  python -m model_runs sweep THIS_FILE   (adding conditions later keeps the trained models)",
        f"name = {_toml(name)}",
        f"description = {_toml(f'{s.n_classes} classes of own images, {s.n_train} for training, {s.n_val} for validation')}",
        "",
        "[dataset]",
        f"name = {_toml(dataset)}",
        f"root = {_toml(root_text)}{'   # relative to this file' if not Path(root_text).is_absolute() else ''}",
        *[f"{k} = {_toml(v)}" for k, v in options.items()],
        "",
        "[recipe]                       # overrides of the 'imagefolder' preset (the ImageNet recipe) for every model",
        *[f"{k} = {_toml(v)}" for k, v in recipe.items()],
        "",
        "# Conditions: each [[conditions]] makes one model, or one per value of a `vary` key; every recipe key",
        "# can be overridden. The analysis compares every condition with 'base'.",
        "[[conditions]]",
        'name = "base"',
        'description = "the base recipe"',
        "",
        "[[conditions]]",
        'name = "init"',
        'description = "another weight initialisation"',
        "vary = { init_seed = [1, 2, 3] }",
        "",
        "[[conditions]]",
        'name = "order"',
        'description = "another order of the training images"',
        "vary = { data_seed = [1, 2, 3] }",
        "",
        "# More conditions of the paper, to uncomment:",
        "# [[conditions]]",
        '# name = "augmentation"',
        '# description = "other random augmentations"',
        "# vary = { aug_seed = [1, 2, 3] }",
        "#",
        "# [[conditions]]",
        '# name = "half-batch"',
        '# description = "every batch split into two halves, two sequential updates"',
        "# batch_split = 2",
        "#",
        "# [[conditions]]",
        '# name = "nesterov"',
        '# description = "SGD with Nesterov momentum"',
        "# nesterov = true",
        "#",
        "# [[conditions]]",
        '# name = "half-data"',
        '# description = "two disjoint halves of the training images"',
        "# train_fraction = 0.5",
        "# vary = { train_part = [0, 1] }",
        "#",
        "# [[conditions]]",
        '# name = "nondeterministic"',
        '# description = "non-deterministic GPU algorithms (same seeds)"',
        "# deterministic = false",
        "# repeat = 2",
    ]
    return "\n".join(lines) + "\n"


def root_text(root: Path, study_file: Path) -> str:
    """The root as written into the study file: relative to the file's folder when it lies below
    that folder (relative roots are read against the study file), else absolute."""
    root = root.resolve()
    folder = study_file.parent.resolve()
    try:
        return root.relative_to(folder).as_posix() or "."
    except ValueError:
        return str(root)


def init_study(study_file: Path, dataset: str, root: Path, name: str | None = None) -> tuple[Any, Survey]:
    """Survey the images and write a new study file; returns (the study as parsed, the survey)."""
    if dataset not in INIT_DATASETS:
        raise UserError(f"--dataset {dataset}: init fits recipes to image files: {' or '.join(INIT_DATASETS)}")
    if study_file.suffix != ".toml":
        raise UserError(f"{study_file}: a study file is a .toml file; name it *.toml")
    if study_file.exists() or study_file.is_symlink():
        raise UserError(f"{study_file}: already exists; init writes a new study file (remove it or choose another name)")
    check_output_file(study_file, "study file")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"--root {root}: no such folder (it holds train/<class>/* and val/<class>/*)")
    name = name or _NAME_SAFE.sub("_", study_file.stem).lstrip("_-") or "study"
    from model_runs.study_files import _NAME

    if not _NAME.match(name):
        raise UserError(f"--name {name}: a study name is a folder-safe name (letters, digits, '_', '-')")
    s = survey(dataset, root.resolve())
    options, recipe, why = fit(s)
    text = render(name, dataset, root_text(root, study_file), s, options, recipe, why)
    spec = _parsed(text, study_file)
    from labutil.io import atomic_write_text

    atomic_write_text(study_file, text)
    return spec, s


def _parsed(text: str, study_file: Path) -> Any:
    """The text as a study (it must load: a failure is a bug here, never the user's)."""
    import tomllib

    from model_runs.study_files import parse_study

    return parse_study(tomllib.loads(text), str(study_file))


def summary(study_file: Path, spec: Any, s: Survey) -> str:
    """What init prints: what it found and what to do next."""
    r = spec.recipe
    return "\n".join([
        f"{study_file}: study '{spec.name}' for {s.n_classes} classes, {s.n_train} training and {s.n_val} validation images "
        f"(typically {s.short_side} px): {len(spec.models)} models ({', '.join(m['model_id'] for m in spec.models)})",
        f"  recipe: {r['arch']} at {spec.dataset['crop']} px, {r['epochs']} epochs, batch {r['batch_size']}, lr {r['lr']}",
        f"  edit it, then: python -m model_runs sweep {study_file}",
    ])


__all__ = ["Survey", "fit", "init_study", "render", "survey"]
