"""Training conditions beyond plain recipe values: random labels, learning-rate schedules, runs that
continue from another model's checkpoint ("+k epochs"), and the learning-dynamics store options.

A continued model (`continue_from` in the study file) takes over the committed epochs of its source
model and the source's final checkpoint, then trains its extra epochs. Training resumes from that
checkpoint exactly as a killed run resumes from its own, so in deterministic mode its decisions equal
those of a from-scratch run with that many epochs (every random choice derives from the recorded
seeds and the epoch number). See docs/running-a-study.md, "Conditions".
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labutil.errors import UserError
from labutil.io import atomic_write_bytes
from model_runs.checkpoints import checkpoint_path, list_checkpoints
from model_runs import recipes
from model_runs.recipes import recipe_value
from model_runs.store import DYNAMICS_FILES, STORE_OPTIONS_KEY, ModelWriter, Study

if TYPE_CHECKING:
    import torch

# [store] table of a study file: key -> (default, help)
STORE_KEYS: dict[str, tuple[Any, str]] = {
    "epoch_probabilities": (False, "store every epoch's true-class probability and top-1 margin of every validation image (float16)"),
    "train_probabilities": (False, "the same for the training images, from the training pass of each epoch (and their labels)"),
    "activations": (0, "store the penultimate-layer activations of this many validation images at the final epoch (0 = none)"),
    "activations_seed": (0, "seed of the choice of those validation images (the same images for every model of the study)"),
}


def check_store_table(table: Any, where: str) -> dict[str, Any]:
    """The validated [store] table of a study file (only the keys given; {} when absent)."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise UserError(f"{where}: [store] must be a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in STORE_KEYS:
            raise UserError(f"{where} [store]: unknown key '{key}' (known: {', '.join(STORE_KEYS)})")
        default = STORE_KEYS[key][0]
        if type(value) is not type(default) or (isinstance(value, int) and not isinstance(value, bool) and value < 0):
            raise UserError(f"{where} [store]: '{key}' = {value!r} should be a {'true/false' if isinstance(default, bool) else 'integer >= 0'}")
        out[key] = value
    return out


def store_options(store: dict[str, Any], n_train: int) -> dict[str, Any]:
    """What a new model of the study records in run.json's store_options ({} when nothing extra)."""
    opts = {
        "val_probabilities": bool(store.get("epoch_probabilities", False)),
        "train_probabilities": bool(store.get("train_probabilities", False)) and n_train > 0,  # not for evaluation-only models
        "activations": int(store.get("activations", 0)),
        "activations_seed": int(store.get("activations_seed", 0)),
    }
    if not (opts["val_probabilities"] or opts["train_probabilities"] or opts["activations"]):
        return {}
    return {**opts, "n_train": int(n_train)}


def activation_subset(n_images: int, k: int, seed: int) -> np.ndarray:
    """The validation images whose activations are stored: k of them, chosen by seed, ascending."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_images, size=min(k, n_images), replace=False)).astype(np.int64)


def random_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """The training labels permuted once by a seeded permutation (class counts unchanged)."""
    rng = np.random.default_rng(seed)
    return np.asarray(labels)[rng.permutation(len(labels))]


def lr_factor(epoch_index: int, schedule: str, epochs: int, warmup: int, step: int, gamma: float) -> float:
    """The factor on the initial learning rate in training epoch `epoch_index + 1` (0-based index)."""
    if epoch_index < warmup:
        return (epoch_index + 1) / warmup
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * (epoch_index - warmup) / max(1, epochs - warmup)))
    return gamma ** ((epoch_index - warmup) // step)


def make_scheduler(optimizer: Any, entry: dict[str, Any]) -> Any:
    """The per-epoch learning-rate scheduler of a model: StepLR (as before), or a LambdaLR for the
    cosine / warm-up and the cyclic (recipes.lr_factor) schedules."""
    import torch

    schedule, warmup = recipe_value(entry, "lr_schedule"), recipe_value(entry, "warmup_epochs")
    if schedule == "cyclic":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: recipes.lr_factor(entry, i + 1))
    if schedule == "step" and warmup == 0:
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=entry["lr_step"], gamma=entry["lr_gamma"])
    epochs, step, gamma = entry["epochs"], entry["lr_step"], entry["lr_gamma"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: lr_factor(i, schedule, epochs, warmup, step, gamma))


def true_class_stats(logits: "torch.Tensor", labels: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
    """Softmax probability of the true class, and it minus the largest other class probability."""
    import torch

    p = torch.softmax(logits.float(), 1)
    p_true = p.gather(1, labels[:, None]).squeeze(1)
    other = p.scatter(1, labels[:, None], -1.0).amax(1) if p.shape[1] > 1 else torch.zeros_like(p_true)
    return p_true, p_true - other


def penultimate_layer(model: "torch.nn.Module") -> "torch.nn.Module":
    """The network's last linear layer, whose input is the penultimate-layer representation."""
    import torch.nn as nn

    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is None:
        raise UserError(f"[store] activations: the {type(model).__name__} has no final linear layer to take activations from")
    return last


# ---------------------------------------------------------------------------------------------
# Continued runs ("+k epochs")


def continuation_source(study: Study, spec_entry: dict[str, Any], source_config: dict[str, Any], options: dict[str, Any]) -> tuple[Path | None, str]:
    """The source's final checkpoint if the model can continue from it, else (None, why not)."""
    source = spec_entry["continue_from"]
    if not (study.model_dir(source) / "run.json").is_file():
        return None, f"model '{source}' is not in the store"
    record = study.run_info(source)
    if record.get("status") != "complete":
        return None, f"model '{source}' is {record.get('status')}, not complete"
    if record.get("config") != source_config:
        return None, f"model '{source}' was trained with another configuration"
    committed = study.committed_epochs(source)
    final = committed[-1] if committed else -1
    ckpt = list_checkpoints(study.model_dir(source)).get(final)
    if ckpt is None:
        return None, f"model '{source}' has no checkpoint of its final epoch {final}"
    theirs = {k: v for k, v in study.store_options(source).items() if k not in ("activations", "activations_seed")}
    ours = {k: v for k, v in options.items() if k not in ("activations", "activations_seed")}
    if theirs != ours:
        return None, f"model '{source}' stores other per-epoch data ({theirs or 'none'}, here {ours or 'none'})"
    return ckpt, ""


def copy_source_epochs(study: Study, writer: ModelWriter, source: str, ckpt: Path) -> int:
    """Take over the source's final checkpoint and committed epochs (one run.json write); returns
    the source's final epoch. The checkpoint lands first: a kill before the commit leaves no epoch,
    and the next start copies again."""
    committed = study.committed_epochs(source)
    final = committed[-1]
    atomic_write_bytes(checkpoint_path(writer.dir, final), ckpt.read_bytes())
    decisions = study.epoch_decisions(source)
    records = study.run_info(source)["epochs"]
    metrics = [{k: v for k, v in r.items() if k not in ("epoch", "val_accuracy")} for r in records]
    options = writer.info.get(STORE_OPTIONS_KEY) or {}
    dynamics = {}
    for split, quantity in DYNAMICS_FILES:
        if options.get(f"{split}_probabilities"):
            rows = (study.epoch_probabilities if quantity == "probability" else study.epoch_margins)(source, split)
            assert rows is not None  # continuation_source checked that the source stores the same
            dynamics[(split, quantity)] = rows
    train = None
    table = study.train_decisions_table(source)
    if table is not None and len(table):
        groups = {int(e): g for e, g in table.groupby("epoch")}
        train = [(g["sample_index"].to_numpy(), g["prediction"].to_numpy(), g["correct"].to_numpy()) if (g := groups.get(e)) is not None else None
                 for e in committed]
    writer.commit_epochs(committed, decisions.prediction, metrics, train, dynamics or None)
    writer.update(continued_from={"model_id": source, "epoch": final})
    return final
