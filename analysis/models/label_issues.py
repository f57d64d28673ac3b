"""Which validation images probably carry a wrong label (the red bars of the paper's histograms).

Two sources:
- the models themselves: cleanlab's confident learning (`cleanlab.filter.find_label_issues`) on the
  mean of the final-epoch class probabilities of every model that stored them
  (`probabilities.npy`); models trained on the training split, so these are out-of-sample;
- a published list: a CSV/TSV table with a 0/1 column (for ImageNet, cleanlab's MTurk-confirmed
  errors, `label_error_mturk` of the reference table), or a plain list of image ids or indices.

`label_issue_mask(study, source)` returns a bool array over the study's images (image_index
order); the DDD analysis, the stimuli selection and the report exclude images with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError
from labutil.tables import read_table

#: Columns tried, in order, to match a table's rows to the study's `image_id`s.
ID_COLUMNS: tuple[str, ...] = ("image_id", "filepath", "source_image_id")
#: Columns tried, in order, to match a table's rows by position (image_index).
INDEX_COLUMNS: tuple[str, ...] = ("image_index", "val_index")


def label_issue_mask(
    study: object,
    source: str | Path | Sequence[str] | Sequence[int] = "probabilities",
    column: str = "label_error_mturk",
) -> np.ndarray:
    """Bool (n_images,) over `study.images`: True where the label is probably wrong.

    `study` is a `model_runs.store.Study` (or a path to one). `source` is "probabilities"
    (cleanlab on the stored final-epoch probabilities, averaged over models), the path of a
    CSV/TSV table whose 0/1 `column` flags label errors (rows matched by image_id/filepath, else
    by image_index/val_index), or a list of image ids (str) or image indices (int).
    """
    from model_runs.store import Study, open_study

    if not isinstance(study, Study):
        study = open_study(study)  # type: ignore[arg-type]
    images = study.images
    if isinstance(source, str) and source == "probabilities":
        return label_issues_from_study_probabilities(study)
    if isinstance(source, (str, Path)):
        return label_issues_from_table(source, images["image_id"].tolist(), column)
    return label_issues_from_list(list(source), images["image_id"].tolist())


def label_issues_from_probabilities(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """cleanlab's `find_label_issues` (default: prune by noise rate) on given labels and probabilities."""
    from cleanlab.filter import find_label_issues

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise UserError(f"probabilities of shape {probs.shape} do not match {labels.shape[0]} labels")
    if labels.max(initial=0) >= probs.shape[1]:
        raise UserError(f"labels go up to {labels.max()} but probabilities have {probs.shape[1]} classes")
    probs = probs / probs.sum(axis=1, keepdims=True)
    return np.asarray(find_label_issues(labels, probs), dtype=bool)


def label_issues_from_study_probabilities(study: object) -> np.ndarray:
    """Label issues from the mean final-epoch probabilities of the study's complete models."""
    ids = study.model_ids(status="complete")  # type: ignore[attr-defined]
    total, used = None, 0
    for m in ids:
        if not study.has_probabilities(m):  # type: ignore[attr-defined]
            continue
        p = study.probabilities(m)  # type: ignore[attr-defined]
        if total is not None and p.shape != total.shape:
            raise UserError(f"{study.model_dir(m)}: probabilities of shape {p.shape}, others {total.shape}")  # type: ignore[attr-defined]
        total = p.astype(np.float64) if total is None else total + p
        used += 1
    if total is None:
        raise UserError(
            f"{study.path}: no model stored final-epoch probabilities; give a table or list of label errors instead"  # type: ignore[attr-defined]
        )
    labels = study.images["label"].to_numpy()  # type: ignore[attr-defined]
    return label_issues_from_probabilities(labels, total / used)


def label_issues_from_table(path: str | Path, image_ids: Sequence[str], column: str = "label_error_mturk") -> np.ndarray:
    """Flags from a table's 0/1 `column`, aligned to `image_ids`; images not in the table are False."""
    df = read_table(path, required=[column])
    values = pd.to_numeric(df[column].fillna(0), errors="coerce")
    if not values.isin([0, 1]).all():  # checked before any cast, so 0.7 is refused, not truncated
        raise UserError(f"{path}: column '{column}' must hold 0/1 values")
    flags = values.to_numpy().astype(int)
    ids = list(image_ids)
    for key in ID_COLUMNS:
        if key in df.columns:
            flagged = set(df.loc[flags == 1, key].astype(str))
            matched = pd.Index(ids).isin(df[key].astype(str)).sum()
            if matched == 0:
                raise UserError(f"{path}: no value of column '{key}' matches the study's image ids (e.g. '{ids[0]}')")
            return np.array([i in flagged for i in ids], dtype=bool)
    for key in INDEX_COLUMNS:
        if key in df.columns:
            idx = df.loc[flags == 1, key].astype(int).to_numpy()
            if len(df) != len(ids) or idx.max(initial=-1) >= len(ids):
                raise UserError(f"{path}: {len(df)} rows indexed by '{key}' do not match {len(ids)} study images")
            out = np.zeros(len(ids), dtype=bool)
            out[idx] = True
            return out
    raise UserError(f"{path}: needs one of the columns {', '.join(ID_COLUMNS + INDEX_COLUMNS)} to match images")


def label_issues_from_list(items: Sequence[str] | Sequence[int], image_ids: Sequence[str]) -> np.ndarray:
    """Flags from a list of image ids (str) or image indices (int); unknown ids are an error."""
    ids = list(image_ids)
    out = np.zeros(len(ids), dtype=bool)
    if not items:
        return out
    if all(isinstance(x, (int, np.integer)) for x in items):
        idx = np.asarray(items, dtype=np.int64)
        if idx.min() < 0 or idx.max() >= len(ids):
            raise UserError(f"label-issue index out of range 0..{len(ids) - 1}")
        out[idx] = True
        return out
    pos = {image_id: i for i, image_id in enumerate(ids)}
    unknown = [x for x in items if str(x) not in pos]
    if unknown:
        raise UserError(f"label-issue image id '{unknown[0]}' is not in the study ({len(unknown)} unknown)")
    out[[pos[str(x)] for x in items]] = True
    return out
