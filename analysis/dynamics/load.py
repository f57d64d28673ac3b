"""Reading what the learning-dynamics analyses need from the decisions store, one model at a time.

Correctness per epoch comes from `Study.epoch_decisions`; per-epoch true-class probabilities from
`Study.epoch_probabilities(model_id, split="val")` and last-layer activations from
`Study.activations(model_id)`, both optional in a store (None when a study did not store them,
and absent as methods in stores written before they existed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.dynamics import cartography as carto
from analysis.dynamics import forgetting as fg

#: The study options that turn the optional arrays on (see docs/formats.md of model_runs).
PROBABILITIES_OPTION = "[store] epoch_probabilities = true"
ACTIVATIONS_OPTION = "[store] activations = N (last-layer activations of N seeded validation images)"


@dataclass
class Dynamics:
    """Per model (rows, in `model_ids` order) and image (columns) learning measures, over the
    epochs from `from_epoch` on; cartography arrays are None unless every model stored probabilities."""

    model_ids: list[str]
    from_epoch: int
    last_epoch: np.ndarray  # (n_models,)
    forgetting_events: np.ndarray  # int (n_models, n_images)
    never_learned: np.ndarray  # bool
    first_epoch_learned: np.ndarray  # float, NaN = never
    iteration_learned: np.ndarray  # float, NaN = wrong at the last epoch
    share_epochs_correct: np.ndarray
    common_epochs: np.ndarray  # epochs every model has (all epochs, epoch 0 included)
    n_correct: np.ndarray  # uint16 (n_common, n_images): models right per image and common epoch
    accuracy: np.ndarray  # (n_models, n_common): each model's accuracy at the common epochs
    confidence: np.ndarray | None = None
    variability: np.ndarray | None = None
    correctness: np.ndarray | None = None
    missing_probabilities: list[str] = field(default_factory=list)


def epoch_probabilities(study: Any, model_id: str) -> np.ndarray | None:
    """The model's per-epoch true-class probabilities (n_committed_epochs, n_images), or None."""
    reader = getattr(study, "epoch_probabilities", None)
    return None if reader is None else reader(model_id, split="val")


def activations(study: Any, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The model's stored (image indices, activations), or None."""
    reader = getattr(study, "activations", None)
    return None if reader is None else reader(model_id)


def load_dynamics(study: Any, model_ids: Sequence[str], from_epoch: int = 1) -> Dynamics:
    """Read every model's epochs once and reduce them to per-image measures (see `Dynamics`)."""
    ids = list(model_ids)
    epochs = {m: np.asarray(study.committed_epochs(m)) for m in ids}
    common = epochs[ids[0]]
    for m in ids[1:]:
        common = np.intersect1d(common, epochs[m])
    n = int(study.n_images)
    shape = (len(ids), n)
    out = Dynamics(ids, from_epoch, np.zeros(len(ids), np.int64), np.zeros(shape, np.int64), np.zeros(shape, bool),
                   np.zeros(shape), np.zeros(shape), np.zeros(shape), common, np.zeros((len(common), n), np.uint16),
                   np.zeros((len(ids), len(common))))
    cart: list[Any] = []
    for row, m in enumerate(ids):
        d = study.epoch_decisions(m, with_prediction=False)
        e = np.asarray(d.epochs)
        at_common = d.correct[np.searchsorted(e, common)]
        out.n_correct += at_common
        out.accuracy[row] = at_common.mean(axis=1) if n else 0.0
        use = e >= from_epoch
        if not use.any():
            use = e == e.max()  # a model with only the untrained epoch: use what there is
        c, eu = d.correct[use], e[use]
        out.last_epoch[row] = int(eu[-1])
        out.forgetting_events[row] = fg.forgetting_events(c)
        out.never_learned[row] = fg.never_learned(c)
        out.first_epoch_learned[row] = fg.first_epoch_learned(c, eu)
        out.iteration_learned[row] = fg.iteration_learned(c, eu)
        out.share_epochs_correct[row] = c.mean(axis=0)
        p = epoch_probabilities(study, m)
        if p is None:
            out.missing_probabilities.append(m)
            continue
        p = np.asarray(p)
        if p.shape != d.correct.shape:
            from labutil.errors import UserError

            raise UserError(f"{study.model_dir(m)}: per-epoch probabilities of shape {p.shape} do not match its "
                            f"decisions {d.correct.shape} (epochs x images)")
        cart.append(carto.cartography(p[use], c))
    if not out.missing_probabilities:
        out.confidence = np.vstack([t["confidence"].to_numpy() for t in cart])
        out.variability = np.vstack([t["variability"].to_numpy() for t in cart])
        out.correctness = np.vstack([t["correctness"].to_numpy() for t in cart])
    return out


def load_activations(study: Any, model_ids: Sequence[str]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Stored activations of the models that have them, and the ids of those that do not."""
    have, missing = {}, []
    for m in model_ids:
        a = activations(study, m)
        if a is None:
            missing.append(m)
        else:
            have[m] = (np.asarray(a[0]), np.asarray(a[1]))
    return have, missing
