"""A stand-in for model_runs.store.Study with the readers another branch is adding
(`epoch_probabilities`, `activations`), wrapped around a real store for everything else."""

from __future__ import annotations

from typing import Any

import numpy as np


class FakeStudy:
    """A real Study plus per-model per-epoch probabilities and activations held in memory."""

    def __init__(self, study: Any, probabilities: dict[str, np.ndarray] | None = None,
                 activations: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self._study = study
        self._probabilities = probabilities or {}
        self._activations = activations or {}
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def epoch_probabilities(self, model_id: str, split: str = "val") -> np.ndarray | None:
        self.calls.append((model_id, split))
        p = self._probabilities.get(model_id)
        return None if p is None else p.astype(np.float16)

    def epoch_margins(self, model_id: str, split: str = "val") -> np.ndarray | None:
        return None

    def activations(self, model_id: str) -> tuple[np.ndarray, np.ndarray] | None:
        a = self._activations.get(model_id)
        return None if a is None else (a[0].astype(np.int64), a[1].astype(np.float16))


def true_class_probabilities(study: Any, seed: int) -> dict[str, np.ndarray]:
    """Per model (n_epochs, n_images) probabilities above 0.5 where the store says correct, below where wrong."""
    rng = np.random.default_rng(seed)
    out = {}
    for m in study.model_ids(status="complete"):
        c = study.epoch_decisions(m, with_prediction=False).correct
        out[m] = np.where(c, rng.uniform(0.55, 1.0, c.shape), rng.uniform(0.0, 0.45, c.shape))
    return out
