"""Training recipes: every hyper-parameter a model is defined by, with per-dataset presets.

The default is the pytorch/examples ImageNet recipe (SGD, momentum 0.9, weight decay 1e-4, lr 0.1
divided by 10 every 30 epochs, batch 256, 90 epochs, RandomResizedCrop + flip for training,
resize 256 / centre crop 224 for evaluation). Small datasets get their own presets.
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
    "lr_schedule": ("step", "learning-rate schedule per epoch: step (lr_step, lr_gamma) | cosine (annealed to 0 over the epochs)"),
    "warmup_epochs": (0, "epochs of linear learning-rate warm-up before the schedule (0 = none)"),
    "random_labels": (False, "train on the training labels permuted once by a seeded permutation (validation keeps the true labels)"),
    "random_labels_seed": (0, "seed of that permutation"),
}
# Keys added with the conditions of issue 14: a model entry holds them only when they differ from
# the default, so the definitions (and run configurations) of every earlier study stay as they were.
OPTIONAL_KEYS = ("lr_schedule", "warmup_epochs", "random_labels", "random_labels_seed")
SCHEDULES = ("step", "cosine")

_IMAGENET: dict[str, Any] = {key: default for key, (default, _) in RECIPE_KEYS.items() if key not in OPTIONAL_KEYS}

PRESETS: dict[str, dict[str, Any]] = {
    "imagenet": dict(_IMAGENET),
    "imagefolder": dict(_IMAGENET),
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
# Keys added after stores were first written: a stored model entry without them means the default.
LATER_KEYS = ("eval_resize", "eval_interpolation")


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
        or (key == "lr_schedule" and value not in SCHEDULES)
        or (key == "warmup_epochs" and value < 0)
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
    return recipe


def check_recipe(recipe: dict[str, Any], where: str) -> None:
    """Cross-field checks of a complete recipe."""
    if recipe["batch_size"] % recipe["batch_split"]:
        raise UserError(f"{where}: batch_size {recipe['batch_size']} is not divisible by batch_split {recipe['batch_split']}")
    if recipe["train_fraction"] < 1.0:
        parts = round(1.0 / recipe["train_fraction"])
        if abs(parts * recipe["train_fraction"] - 1.0) > 1e-9:
            raise UserError(f"{where}: train_fraction must be 1/k (1.0, 0.5, 0.25, ...)")
        if recipe["train_part"] >= parts:
            raise UserError(f"{where}: train_part {recipe['train_part']} must be below {parts}")
    warmup = recipe.get("warmup_epochs", 0)
    if recipe.get("lr_schedule", "step") == "cosine" and recipe["epochs"] and warmup >= recipe["epochs"]:
        raise UserError(f"{where}: warmup_epochs {warmup} leaves no epochs for the cosine schedule ({recipe['epochs']} epochs)")


def drop_optional_defaults(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe without the OPTIONAL_KEYS that hold their default (see OPTIONAL_KEYS)."""
    return {k: v for k, v in recipe.items() if not (k in OPTIONAL_KEYS and v == RECIPE_KEYS[k][0])}
