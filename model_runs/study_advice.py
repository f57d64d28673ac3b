"""One-line warnings before training: recipes that do not fit the data, models a grown store keeps.

A batch larger than the training set, or an epoch of fewer than a handful of optimiser updates,
trains almost nothing per epoch (the full ImageNet recipe on 200 images makes one update an
epoch); the user should hear it before the sweep spends its time, not find it in the report.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_runs.datasets import Dataset
    from model_runs.store import Study
    from model_runs.study_files import StudySpec

MIN_UPDATES = 5  # optimiser updates per epoch below which a recipe is worth a warning


def training_images(dataset: Dataset) -> int:
    """Number of training images (the file list for image files; the labels of array datasets)."""
    if dataset.kind == "files":
        return len(dataset.samples("train"))  # type: ignore[attr-defined]
    return len(dataset.train_labels())


def batch_warnings(models: list[dict[str, Any]], n_train: int) -> list[str]:
    """One line per distinct problem (batch larger than the training set; fewer than MIN_UPDATES
    updates per epoch), naming the models it concerns."""
    problems: dict[str, list[str]] = {}
    for m in models:
        if m["epochs"] < 1:
            continue
        n = max(1, int(n_train * m["train_fraction"]))
        batch = m["batch_size"]
        updates = -(-n // batch) * m["batch_split"]
        if batch > n:
            line = (f"batch_size {batch} exceeds the {n} training images: each epoch is {updates} update(s) on all of them; "
                    f"set batch_size to at most {max(1, n // MIN_UPDATES)} in [recipe]")
        elif updates < MIN_UPDATES:
            line = (f"only {updates} optimiser update(s) per epoch (batch_size {batch}, {n} training images); "
                    f"set batch_size to at most {max(1, n // MIN_UPDATES)} in [recipe] for {MIN_UPDATES} or more")
        else:
            continue
        problems.setdefault(line, []).append(m["model_id"])
    return [f"warning: {_names(ids)}: {line}" for line, ids in problems.items()]


def _names(ids: list[str]) -> str:
    shown = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
    return f"model{'s' if len(ids) > 1 else ''} {shown}"


def kept_models(spec: StudySpec, study: Study) -> str | None:
    """A note when the store holds models the study file no longer lists (a grown store keeps them)."""
    listed = {m["model_id"] for m in spec.models}
    kept = [str(m.get("model_id")) for m in study.definition.get("models", []) if m.get("model_id") not in listed]
    if not kept:
        return None
    return (f"note: {study.path} keeps {len(kept)} model(s) the study file does not list ({', '.join(kept[:4])}{' ...' if len(kept) > 4 else ''}); "
            f"the analysis includes them while they are in {study.path / 'models'}")


def print_advice(spec: StudySpec, study: Study, dataset: Dataset) -> None:
    """Print the warnings and notes to stderr (only when some model trains, for the batch checks)."""
    lines = []
    if any(m["epochs"] > 0 for m in spec.models):
        lines.extend(batch_warnings(spec.models, training_images(dataset)))
    note = kept_models(spec, study)
    if note:
        lines.append(note)
    for line in lines:
        print(line, file=sys.stderr)
