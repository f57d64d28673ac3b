"""Fixtures for the analysis tests: small synthetic decision stores written with model_runs.store.

`make_study(correct, ...)` writes a study from explicit correctness arrays, so tests can pin exact
values; `structured_correct(...)` draws correctness with shared image difficulty (dichotomous data),
for tests that need realistic-looking stores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model_runs.store import ModelWriter, Study, create_study


def write_study(
    path: Path,
    correct: Mapping[str, np.ndarray],
    conditions: Mapping[str, str] | None = None,
    labels: np.ndarray | None = None,
    n_classes: int | None = None,
    class_names: list[str] | None = None,
    dataset: dict[str, Any] | None = None,
    epochs: Mapping[str, list[int]] | None = None,
    probabilities: Mapping[str, np.ndarray] | None = None,
    train: Mapping[str, list[tuple[np.ndarray, np.ndarray]]] | None = None,
    status: Mapping[str, str] | None = None,
    image_ids: list[str] | None = None,
) -> Study:
    """Write a study whose model `m` has correctness `correct[m]` ((n_epochs, n_images) or (n_images,)).

    A wrong decision predicts (label + 1) % n_classes. Epoch numbers default to 0..E-1; the
    condition defaults to the model id's prefix before '-'. `train[m]` is a list, per epoch, of
    (sample_index, correct) arrays.
    """
    arrays = {m: np.atleast_2d(np.asarray(c, dtype=bool)) for m, c in correct.items()}
    n_images = next(iter(arrays.values())).shape[1]
    if labels is None:
        n_classes = n_classes or 4
        labels = np.arange(n_images) % n_classes
    labels = np.asarray(labels)
    n_classes = n_classes or int(labels.max()) + 1
    class_names = class_names or [f"class{c:02d}" for c in range(n_classes)]
    images = pd.DataFrame(
        {
            "image_index": np.arange(n_images),
            "image_id": image_ids or [f"val/{i}" for i in range(n_images)],
            "label": labels,
            "class_name": [class_names[c] for c in labels],
        }
    )
    conditions = dict(conditions or {m: m.split("-")[0] for m in arrays})
    definition = {
        "name": path.name,
        "dataset": dataset or {"name": "synthetic", "n_classes": n_classes},
        "recipe": {"epochs": max(a.shape[0] for a in arrays.values())},
        "models": [{"model_id": m, "condition": conditions[m], "arch": "toy"} for m in arrays],
    }
    study = create_study(path, definition, images)
    for m, arr in arrays.items():
        w = ModelWriter(study, m)
        w.start({"condition": conditions[m], "arch": "toy", "config": {"model_id": m}})
        eps = (epochs or {}).get(m, list(range(arr.shape[0])))
        for row, e in enumerate(eps):
            pred = np.where(arr[row], labels, (labels + 1) % n_classes)
            td = None
            if train and m in train:
                idx, corr = train[m][row]
                td = (idx, np.zeros(len(idx), dtype=np.int32), corr)
            w.commit_epoch(int(e), pred, {"val_loss": 0.0}, train_decisions=td)
        if probabilities and m in probabilities:
            w.save_probabilities(probabilities[m])
        st = (status or {}).get(m, "complete")
        if st != "running":
            w.finish(st)
    return study


def structured_correct(
    rng: np.random.Generator,
    n_models: int,
    n_epochs: int,
    n_images: int,
    spread: float = 3.0,
    noise: float = 0.6,
) -> np.ndarray:
    """(n_models, n_epochs, n_images) correctness with shared image difficulty and rising skill.

    Each image has a latent difficulty d ~ N(0, spread); model m at epoch e is right when
    skill(e) + bias_m + noise_mei > d. Large `spread` against `noise` gives dichotomous data.
    """
    d = rng.normal(0, spread, n_images)
    skill = np.linspace(-3.0, 1.5, n_epochs)
    bias = rng.normal(0, 0.3, n_models)
    z = skill[None, :, None] + bias[:, None, None] + rng.normal(0, noise, (n_models, n_epochs, n_images))
    return z > d[None, None, :]


@pytest.fixture
def make_study(tmp_path: Path) -> Callable[..., Study]:
    """Factory: make_study(correct, name="s", **write_study kwargs) -> Study under tmp_path."""

    def factory(correct: Mapping[str, np.ndarray], name: str = "study", **kw: Any) -> Study:
        return write_study(tmp_path / name, correct, **kw)

    return factory


@pytest.fixture
def structured_study(tmp_path: Path) -> Study:
    """A 6-model, 5-epoch, 120-image study: conditions base (3 models), seed (2), arch (1)."""
    rng = np.random.default_rng(42)
    c = structured_correct(rng, 6, 5, 120)
    ids = ["base-s0", "base-s1", "base-s2", "seed-s0", "seed-s1", "arch-s0"]
    n_classes = 6
    labels = np.arange(120) % n_classes
    probs = {}
    for k, m in enumerate(ids):
        p = np.full((120, n_classes), 0.02, dtype=np.float32)
        pred = np.where(c[k, -1], labels, (labels + 1) % n_classes)
        p[np.arange(120), pred] = 0.9
        probs[m] = p / p.sum(axis=1, keepdims=True)
    return write_study(
        tmp_path / "structured",
        {m: c[k] for k, m in enumerate(ids)},
        labels=labels,
        n_classes=n_classes,
        probabilities=probs,
    )
