"""Training recipes: every hyper-parameter a model is defined by, with per-dataset presets.

The default is the pytorch/examples ImageNet recipe (SGD, momentum 0.9, weight decay 1e-4, lr 0.1
divided by 10 every 30 epochs, batch 256, 90 epochs, RandomResizedCrop + flip for training,
resize 256 / centre crop 224 for evaluation). Small datasets get their own presets, and
`imagefolder-fast` is a faster recipe for ImageNet-shaped image folders after FFCV's ResNet-18
configurations (lower training resolution with progressive resizing 160 -> 192 px, 16 epochs, label
smoothing, a step-free cyclic learning rate); its accuracy is stated in docs/running-a-study.md.
"""

from __future__ import annotations

from typing import Any

from labutil.errors import UserError

# key -> (default, help). The default's type is the accepted type (ints are accepted for floats).
RECIPE_KEYS: dict[str, tuple[Any, str]] = {
    "arch": ("resnet18", "architecture name (`python -m model_runs list models`)"),
    "model_options": ({}, "keyword options of the architecture, e.g. {width = 32}"),
    "weights": ("", "local weights to start from: a file, or 'torchvision:<WEIGHTS>' from the torch hub cache; '' = random init"),
    "num_classes": (0, "output classes; 0 = the dataset's number of classes"),
    "epochs": (90, "training epochs (0 = evaluation only)"),
    "batch_size": (256, "images per batch"),
    "batch_split": (1, "split every batch into this many parts, each its own optimiser update (2 = the paper's half batch size)"),
    "eval_batch_size": (256, "images per batch when evaluating"),
    "optimizer": ("sgd", "sgd | adam | adamw"),
    "lr": (0.1, "initial learning rate"),
    "momentum": (0.9, "SGD momentum"),
    "nesterov": (False, "SGD with Nesterov momentum"),
    "weight_decay": (1e-4, "weight decay"),
    "lr_step": (30, "divide the learning rate every lr_step epochs ..."),
    "lr_gamma": (0.1, "... by multiplying it with lr_gamma"),
    "augment": ("random_resized_crop_flip", "training augmentation: none | flip | shift | shift_flip | random_resized_crop_flip"),
    "eval_resize": (0, "image-file datasets: evaluation resize of the shorter side; 0 = the dataset's 'resize' option (256)"),
    "eval_interpolation": ("bilinear", "image-file datasets: interpolation of the evaluation resize: bilinear | bicubic"),
    "augment_pad": (4, "pixels of padding for the 'shift' augmentations"),
    "train_fraction": (1.0, "share of the training split used: 1.0, or 0.5 for half data / disjoint halves"),
    "train_part": (0, "which part of the split when train_fraction < 1 (0 or 1 for disjoint halves)"),
    "subset_seed": (0, "seed of the stratified partition of the training split into parts"),
    "init_seed": (0, "seed of the weight initialisation"),
    "data_seed": (0, "seed of the order in which training images are presented"),
    "aug_seed": (0, "seed of the augmentation (and dropout) randomness"),
    "deterministic": (True, "deterministic algorithms (false = the paper's 'CUDA non-deterministic' condition)"),
    "save_probabilities": (True, "store the final epoch's class probabilities"),
    "save_train_decisions": (False, "store the predictions on training batches during every epoch"),
    "lr_schedule": ("step", "learning-rate schedule per epoch: step (lr_step, lr_gamma) | cosine (annealed to 0 over the epochs) | cyclic (linear from 0 up to lr at lr_peak_epoch, then down to 0 at the last epoch)"),
    "warmup_epochs": (0, "epochs of linear learning-rate warm-up before the schedule (0 = none)"),
    "random_labels": (False, "train on the training labels permuted once by a seeded permutation (validation keeps the true labels)"),
    "random_labels_seed": (0, "seed of that permutation"),
    "label_smoothing": (0.0, "label smoothing of the training loss (0 = none; FFCV's configs: 0.1)"),
    "lr_peak_epoch": (2, "cyclic schedule: the epoch at which the learning rate peaks"),
    "train_crop": (0, "image-file datasets: side of the training crops (RandomResizedCrop); 0 = the evaluation crop (224)"),
    "train_crop_start": (0, "progressive resizing: training crop side up to epoch crop_ramp_start, growing linearly to train_crop at crop_ramp_end (in steps of 32 px); 0 = no ramp"),
    "crop_ramp_start": (0, "progressive resizing: last epoch at train_crop_start"),
    "crop_ramp_end": (0, "progressive resizing: first epoch at train_crop"),
}
# Keys added after the first stores (conditions of issue 14, the faster presets): a model entry holds
# them only when they differ from the default, so the definitions (and run configurations) of every
# earlier study stay as they were.
OPTIONAL_KEYS = ("lr_schedule", "warmup_epochs", "random_labels", "random_labels_seed", "label_smoothing", "lr_peak_epoch",
                 "train_crop", "train_crop_start", "crop_ramp_start", "crop_ramp_end")

_IMAGENET: dict[str, Any] = {key: default for key, (default, _) in RECIPE_KEYS.items() if key not in OPTIONAL_KEYS}

PRESETS: dict[str, dict[str, Any]] = {
    "imagenet": dict(_IMAGENET),
    "imagefolder": dict(_IMAGENET),
    # FFCV's rn18_16_epochs.yaml, per epoch instead of per step: batch 1024, lr 0.5 with a cyclic
    # schedule peaking at epoch 2, weight decay 5e-5, label smoothing 0.1, training crops of 160 px up
    # to epoch 11, growing to 192 px at epoch 13; evaluation stays resize 256 / crop 224 (the pixels
    # the stimuli show). Not FFCV's BlurPool, test-time flips or their exclusion of BatchNorm weights
    # from weight decay.
    "imagefolder-fast": {
        **_IMAGENET, "epochs": 16, "batch_size": 1024, "lr": 0.5, "weight_decay": 5e-5, "label_smoothing": 0.1,
        "lr_schedule": "cyclic", "lr_peak_epoch": 2, "train_crop": 192, "train_crop_start": 160, "crop_ramp_start": 11,
        "crop_ramp_end": 13,
    },
    "cifar100": {
        **_IMAGENET, "arch": "small_resnet", "model_options": {"width": 32, "blocks": 2}, "epochs": 60, "batch_size": 128,
        "weight_decay": 5e-4, "lr_step": 20, "lr_gamma": 0.2, "augment": "shift_flip", "augment_pad": 4,
    },
    "gaussian": {
        **_IMAGENET, "arch": "small_cnn", "epochs": 20, "batch_size": 128, "lr": 0.05, "weight_decay": 5e-4,
        "lr_step": 10, "augment": "none",
    },
    "digits": {
        **_IMAGENET, "arch": "small_cnn", "epochs": 10, "batch_size": 32, "eval_batch_size": 1024, "lr": 0.05,
        "weight_decay": 5e-4, "lr_step": 6, "augment": "none",
    },
}

AUGMENTATIONS = ("none", "flip", "shift", "shift_flip", "random_resized_crop_flip")
OPTIMIZERS = ("sgd", "adam", "adamw")
INTERPOLATIONS = ("bilinear", "bicubic")
LR_SCHEDULES = ("step", "cosine", "cyclic")
# Keys added after stores were first written: a stored model entry without them means the default.
LATER_KEYS = ("eval_resize", "eval_interpolation")
# Keys that only image-file datasets (imagenet, imagefolder) can use.
FILE_ONLY_KEYS = ("eval_resize", "eval_interpolation", "train_crop", "train_crop_start", "crop_ramp_start", "crop_ramp_end")


def recipe_value(entry: dict[str, Any], key: str) -> Any:
    """A model entry's value of `key`, or its default where the entry predates the key."""
    return entry.get(key, RECIPE_KEYS[key][0])


def drop_optional_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry without the OPTIONAL_KEYS that hold their default (see OPTIONAL_KEYS)."""
    for key in OPTIONAL_KEYS:
        if key in entry and entry[key] == RECIPE_KEYS[key][0]:
            del entry[key]
    return entry


def train_crop_at(entry: dict[str, Any], epoch: int, eval_crop: int) -> int:
    """The training crop side of an image-file model at `epoch` (1 = the first training epoch):
    train_crop_start up to crop_ramp_start, then linear to train_crop at crop_ramp_end, rounded to
    a multiple of 32 px in between (as FFCV's progressive resizing), kept within the ramp's ends."""
    end = recipe_value(entry, "train_crop") or eval_crop
    start = recipe_value(entry, "train_crop_start")
    if not start:
        return end
    lo, hi = recipe_value(entry, "crop_ramp_start"), recipe_value(entry, "crop_ramp_end")
    if epoch <= lo:
        return start
    if epoch >= hi:
        return end
    side = int(round((start + (end - start) * (epoch - lo) / (hi - lo)) / 32)) * 32
    return min(max(side, min(start, end)), max(start, end))  # small images: never outside the ramp


def lr_factor(entry: dict[str, Any], epoch: int) -> float:
    """The learning rate of training epoch `epoch` (1-based) as a share of `lr`."""
    if recipe_value(entry, "lr_schedule") == "step":
        return float(entry["lr_gamma"]) ** ((epoch - 1) // int(entry["lr_step"]))
    total, peak = max(int(entry["epochs"]), 1), min(recipe_value(entry, "lr_peak_epoch"), int(entry["epochs"]))
    t = epoch - 0.5  # the middle of the epoch
    if t <= peak:
        return t / peak if peak > 0 else 1.0
    return max(0.0, (total - t) / (total - peak))


def check_value(key: str, value: Any, where: str) -> Any:
    """Validate one recipe value (known key, right type, allowed range); returns it (ints widened to float)."""
    if key not in RECIPE_KEYS:
        raise UserError(f"{where}: unknown key '{key}' (known: {', '.join(RECIPE_KEYS)})")
    default = RECIPE_KEYS[key][0]
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not type(default):
        raise UserError(f"{where}: '{key}' = {value!r} should be {type(default).__name__}")
    bad = (
        (key == "augment" and value not in AUGMENTATIONS)
        or (key == "optimizer" and value not in OPTIMIZERS)
        or (key == "eval_interpolation" and value not in INTERPOLATIONS)
        or (key == "lr_schedule" and value not in LR_SCHEDULES)
        or (key == "warmup_epochs" and value < 0)
        or (key == "label_smoothing" and not 0 <= value < 1)
        or (key in ("train_crop", "train_crop_start") and value != 0 and not 16 <= value <= 1024)
        or (key in ("crop_ramp_start", "crop_ramp_end", "lr_peak_epoch") and value < 0)
        or (key == "eval_resize" and value < 0)
        or (key in ("batch_size", "eval_batch_size", "batch_split", "lr_step") and value < 1)
        or (key in ("epochs", "num_classes", "augment_pad", "train_part") and value < 0)
        or (key == "train_fraction" and not 0 < value <= 1)
        or (key in ("lr", "weight_decay", "momentum") and value < 0)
    )
    if bad:
        raise UserError(f"{where}: '{key}' = {value!r} is not allowed")
    return value


def resolve_recipe(preset: str, overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """A complete recipe: the preset's values updated by checked overrides."""
    if preset not in PRESETS:
        raise UserError(f"{where}: unknown recipe preset '{preset}' (known: {', '.join(PRESETS)})")
    recipe = dict(PRESETS[preset])
    for key, value in overrides.items():
        recipe[key] = check_value(key, value, where)
    return drop_optional_defaults(recipe)


def check_recipe(recipe: dict[str, Any], where: str) -> None:
    """Cross-field checks of a complete recipe."""
    if recipe["batch_size"] % recipe["batch_split"]:
        raise UserError(f"{where}: batch_size {recipe['batch_size']} is not divisible by batch_split {recipe['batch_split']}")
    if recipe_value(recipe, "train_crop_start") and recipe_value(recipe, "crop_ramp_end") <= recipe_value(recipe, "crop_ramp_start"):
        raise UserError(f"{where}: progressive resizing needs crop_ramp_end > crop_ramp_start "
                        f"(found {recipe_value(recipe, 'crop_ramp_start')} and {recipe_value(recipe, 'crop_ramp_end')})")
    if recipe["train_fraction"] < 1.0:
        parts = round(1.0 / recipe["train_fraction"])
        if abs(parts * recipe["train_fraction"] - 1.0) > 1e-9:
            raise UserError(f"{where}: train_fraction must be 1/k (1.0, 0.5, 0.25, ...)")
        if recipe["train_part"] >= parts:
            raise UserError(f"{where}: train_part {recipe['train_part']} must be below {parts}")
    warmup = recipe.get("warmup_epochs", 0)
    if recipe.get("lr_schedule", "step") == "cosine" and recipe["epochs"] and warmup >= recipe["epochs"]:
        raise UserError(f"{where}: warmup_epochs {warmup} leaves no epochs for the cosine schedule ({recipe['epochs']} epochs)")
    if recipe.get("lr_schedule", "step") == "cyclic" and warmup:
        raise UserError(f"{where}: the cyclic schedule has its own warm-up (lr_peak_epoch); set warmup_epochs = 0")

