"""Loading a study's decisions for the analyses: models with their conditions, the final-epoch
correctness matrix and, streamed model by model, the epoch-by-epoch summaries.

Everything is read through `model_runs.store.open_study`; images can be excluded (label issues)
by a boolean mask over the study's images, and every downstream number then uses the kept images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError


@dataclass
class StudyDecisions:
    """The complete models of a study and their final-epoch correctness on the kept images."""

    path: Path
    name: str
    model_ids: list[str]
    conditions: list[str]
    archs: list[str]
    images: pd.DataFrame  # kept rows of images.parquet (image_index, image_id, label, class_name)
    keep: np.ndarray  # bool (n_images in the store,)
    final: np.ndarray  # bool (n_models, n_kept)
    final_epochs: np.ndarray  # int (n_models,)
    definition: dict = field(default_factory=dict)

    @property
    def n_models(self) -> int:
        return len(self.model_ids)

    @property
    def accuracies(self) -> np.ndarray:
        """Final-epoch accuracy of each model on the kept images."""
        return self.final.mean(axis=1)

    def models_frame(self) -> pd.DataFrame:
        """model_id, condition, arch, final epoch and accuracy, one row per model."""
        return pd.DataFrame(
            {
                "model_id": self.model_ids,
                "condition": self.conditions,
                "arch": self.archs,
                "final_epoch": self.final_epochs,
                "accuracy": self.accuracies,
            }
        )


def open_any(study: object):
    """A `Study` from a Study or a path."""
    from model_runs.store import Study, open_study

    return study if isinstance(study, Study) else open_study(study)  # type: ignore[arg-type]


def model_conditions(study: object, model_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Condition and architecture of each model: run.json first, then the study definition."""
    study = open_any(study)
    defined = {str(m.get("model_id")): m for m in study.definition.get("models", []) if isinstance(m, dict)}
    conditions, archs = [], []
    for m in model_ids:
        info = study.run_info(m)
        entry = defined.get(m, {})
        cond = info.get("condition") or entry.get("condition")
        if not cond:
            raise UserError(f"{study.model_dir(m)}: no condition in run.json or study.toml")
        conditions.append(str(cond))
        archs.append(str(info.get("arch") or entry.get("arch") or "unknown"))
    return conditions, archs


def load_study_decisions(
    study: object,
    exclude: np.ndarray | None = None,
    model_ids: Sequence[str] | None = None,
) -> StudyDecisions:
    """Final-epoch decisions of the study's complete models (or `model_ids`), minus excluded images.

    An empty store, models with different image sets or an exclusion that leaves no image are
    one-line UserErrors.
    """
    study = open_any(study)
    ids = list(model_ids) if model_ids is not None else study.model_ids(status="complete")
    if not ids:
        have = study.model_ids()
        what = f"{len(have)} models, none complete" if have else "no models"
        raise UserError(f"{study.path}: empty store ({what})")
    matrix = study.final_decisions(ids)
    n = study.n_images
    if n == 0:
        raise UserError(f"{study.path}: the study has no validation images")
    keep = np.ones(n, dtype=bool)
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != (n,):
            raise UserError(f"exclusion mask has {exclude.size} entries for {n} images")
        keep = ~exclude
    if not keep.any():
        raise UserError(f"{study.path}: excluding label issues leaves no images")
    conditions, archs = model_conditions(study, ids)
    images = study.images.loc[keep].reset_index(drop=True)
    return StudyDecisions(
        path=study.path,
        name=study.name,
        model_ids=ids,
        conditions=conditions,
        archs=archs,
        images=images,
        keep=keep,
        final=matrix.correct[:, keep],
        final_epochs=np.asarray(matrix.epochs),
        definition=study.definition,
    )


@dataclass
class EpochSummary:
    """Epoch-by-epoch summaries, computed while streaming one model's epochs at a time.

    `accuracy[m]`, `flips[m]` and `label_flips[m]` are per model (its own epochs); `n_correct`
    counts, for the epochs every model has (`common_epochs`), how many models are right on each
    kept image. `fingerprints[m]` hashes the model's epochs and predicted labels on every image of
    the store: equal fingerprints mean bit-identical decisions at every epoch.
    """

    model_ids: list[str]
    epochs: dict[str, np.ndarray]  # model -> its epochs
    accuracy: dict[str, np.ndarray]  # model -> (n_epochs,) accuracy on kept images
    flips: dict[str, np.ndarray]  # model -> (n_epochs - 1,) share of images whose correctness changes
    common_epochs: np.ndarray
    n_correct: np.ndarray  # uint16 (n_common, n_kept)
    map_model: str | None = None
    map_correct: np.ndarray | None = None  # bool (n_epochs of map_model, n_kept)
    label_flips: dict[str, np.ndarray] = field(default_factory=dict)  # model -> share whose predicted label changes
    fingerprints: dict[str, str] = field(default_factory=dict)

    def accuracy_frame(self, conditions: Sequence[str]) -> pd.DataFrame:
        """Long table: model_id, condition, epoch, accuracy."""
        rows = []
        for m, cond in zip(self.model_ids, conditions):
            rows.append(pd.DataFrame({"model_id": m, "condition": cond, "epoch": self.epochs[m], "accuracy": self.accuracy[m]}))
        return pd.concat(rows, ignore_index=True)

    def flips_frame(self, conditions: Sequence[str]) -> pd.DataFrame:
        """Long table: model_id, condition, from_epoch, to_epoch, correctness_flip_share, label_flip_share."""
        rows = []
        for m, cond in zip(self.model_ids, conditions):
            e = self.epochs[m]
            rows.append(pd.DataFrame({"model_id": m, "condition": cond, "from_epoch": e[:-1], "to_epoch": e[1:],
                                      "correctness_flip_share": self.flips[m], "label_flip_share": self.label_flips[m]}))
        return pd.concat(rows, ignore_index=True)


def flip_share(correct: np.ndarray) -> np.ndarray:
    """Share of images whose correctness changes between consecutive rows of (n_epochs, n_images)."""
    return label_flip_share(np.asarray(correct, dtype=bool))


def label_flip_share(prediction: np.ndarray) -> np.ndarray:
    """Share of images whose value (predicted label, or correctness) changes between consecutive rows.

    On predicted labels this is the paper's "flip"; a change between two wrong labels counts
    here but not in `flip_share`, so it is at least as large.
    """
    p = np.asarray(prediction)
    if p.shape[0] < 2:
        return np.zeros(0)
    return np.count_nonzero(p[1:] != p[:-1], axis=1) / p.shape[1]


def decisions_fingerprint(epochs: np.ndarray, prediction: np.ndarray) -> str:
    """SHA-256 of a model's epoch numbers and predicted labels (every image, every epoch)."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(epochs, dtype=np.int64).data)
    h.update(np.ascontiguousarray(prediction, dtype=np.int32).data)  # labels fit int32 (the store's type): no copy
    return h.hexdigest()


def summarise_epochs(
    study: object,
    model_ids: Sequence[str],
    keep: np.ndarray,
    map_model: str | None = None,
    progress: bool = True,
) -> EpochSummary:
    """Read every model's epochs once (correctness and predictions) and reduce them to an EpochSummary."""
    from labutil.progress import progress as progress_bar

    study = open_any(study)
    keep = np.asarray(keep, dtype=bool)
    all_keep = bool(keep.all())
    epochs: dict[str, np.ndarray] = {}
    for m in model_ids:
        epochs[m] = np.asarray(study.committed_epochs(m))
        if epochs[m].size == 0:
            raise UserError(f"{study.model_dir(m)}: no committed epochs")
    common = epochs[model_ids[0]]
    for m in model_ids[1:]:
        common = np.intersect1d(common, epochs[m])
    n_correct = np.zeros((len(common), int(keep.sum())), dtype=np.uint16)
    accuracy: dict[str, np.ndarray] = {}
    flips: dict[str, np.ndarray] = {}
    label_flips: dict[str, np.ndarray] = {}
    fingerprints: dict[str, str] = {}
    map_correct = None
    for m in progress_bar(model_ids, desc="epoch decisions", unit="model", disable=not progress, leave=False):
        d = study.epoch_decisions(m, with_prediction=True)
        fingerprints[m] = decisions_fingerprint(d.epochs, d.prediction)
        c, pred = (d.correct, d.prediction) if all_keep else (d.correct[:, keep], d.prediction[:, keep])
        accuracy[m] = c.mean(axis=1)
        flips[m] = flip_share(c)
        label_flips[m] = label_flip_share(pred)
        rows = np.searchsorted(epochs[m], common)
        n_correct += c[rows]
        if m == map_model:
            map_correct = c
    return EpochSummary(list(model_ids), epochs, accuracy, flips, common, n_correct, map_model, map_correct,
                        label_flips, fingerprints)
