"""Sources of per-image difficulty: a decisions store, or an imported per-image table.

A `Source` holds one row per candidate image (`source_image_id`, `label`, `class_name`,
`n_correct`, `n_models`, and `row`, the key its pixels are loaded by), where the numbers came from
(`provenance`), and how to get the pixels the networks were evaluated on (`pixels`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labutil.bounds import MAX_SOURCE_SIZE, check_range
from labutil.errors import UserError
from labutil.tables import read_table
from stimuli.sets import sha256_file

if TYPE_CHECKING:
    from PIL import Image

    from model_runs.store import Study

#: the columns every source provides, in this order
SOURCE_COLUMNS = ["source_image_id", "label", "class_name", "n_correct", "n_models", "row"]

PixelLoader = Callable[[int], "Image.Image"]


@dataclass
class Source:
    """Candidate images with their model results, provenance, and a loader of evaluated pixels."""

    images: pd.DataFrame  # SOURCE_COLUMNS; `row` is what `pixels` takes
    provenance: dict[str, Any]
    rendering: dict[str, Any]
    pixels: PixelLoader
    study: Study | None = None
    table: pd.DataFrame | None = None  # the imported table as read (strings), for exclusion columns
    missing_files: Callable[[pd.DataFrame], list[str]] = field(default=lambda rows: [])

    @property
    def kind(self) -> str:
        return str(self.provenance["type"])


# --------------------------------------------------------------------------------------------
# Decisions store


def from_study(
    path: str | Path,
    epoch: int | str = "final",
    models: list[str] | None = None,
    image_source: PixelLoader | None = None,
    data_root: str | Path | None = None,
) -> Source:
    """Per-image correctness counts of a study's models at one epoch (default: each model's final).

    `image_source(image_index)` gives the evaluated pixels; by default the study's dataset
    (`model_runs.datasets.open_dataset(...).eval_pixels` on the study's [dataset] with its root from
    `data_root`, else from where training recorded the images), opened lazily and checked against
    the study's image list.
    """
    from model_runs.store import open_study

    path = Path(path)
    study = open_study(path)
    matrix = study.final_decisions(models, epoch if epoch == "final" else int(epoch))
    images = study.images
    df = pd.DataFrame(
        {
            "source_image_id": images["image_id"].astype(str).to_numpy(),
            "label": images["label"].astype(np.int64).to_numpy(),
            "class_name": images["class_name"].astype(str).to_numpy(),
            "n_correct": matrix.correct.sum(axis=0).astype(np.int64),
            "n_models": np.full(len(images), len(matrix.model_ids), dtype=np.int64),
            "row": images["image_index"].astype(np.int64).to_numpy(),
        }
    )
    provenance = {
        "type": "study",
        "path": str(path.resolve()),
        "study": study.name,
        "models": list(matrix.model_ids),
        "epoch": epoch if epoch == "final" else int(epoch),
        "model_epochs": {m: int(e) for m, e in zip(matrix.model_ids, matrix.epochs)},
    }
    dataset = dict(study.definition.get("dataset", {}))
    if image_source is None:
        dataset = _study_dataset(study, data_root)
    elif data_root is not None:
        dataset["root"] = str(Path(data_root).resolve())
    rendering = {
        "pixels": "dataset eval_pixels: the pixels the networks were evaluated on, before normalisation",
        "dataset": dataset,
    }
    loader = image_source if image_source is not None else _DatasetPixels(study, dataset)
    return Source(df, provenance, rendering, loader, study=study)


def _study_dataset(study: Study, data_root: str | Path | None) -> dict[str, Any]:
    """The study's [dataset] table with the place of its images: --data-root, else where training
    recorded them (`model_runs.data_location`), checked against the recorded file list."""
    try:
        from model_runs.data_location import study_dataset
    except ImportError:
        raise UserError(f"{study.path}: rendering a study's images needs model_runs, which is not installed") from None
    return study_dataset(study, data_root)


class _DatasetPixels:
    """Evaluated pixels of a study's dataset, opened on first use (model_runs.datasets)."""

    def __init__(self, study: Study, config: dict[str, Any]) -> None:
        self.study = study
        self.config = config
        self._dataset: Any = None

    def __call__(self, image_index: int) -> Image.Image:
        if self._dataset is None:
            try:
                from model_runs.datasets import open_dataset
            except ImportError:
                raise UserError(
                    f"{self.study.path}: rendering a study's images needs model_runs.datasets, which is not installed"
                ) from None
            if not self.config:
                raise UserError(f"{self.study.path / 'study.toml'}: no [dataset] table to load the images from")
            dataset = open_dataset(self.config)
            ids = dataset.val_images()["image_id"].astype(str).tolist()
            if ids != self.study.images["image_id"].astype(str).tolist():
                raise UserError(
                    f"{self.study.path}: the dataset's validation images ({len(ids)}) are not the study's images "
                    f"({self.study.n_images}); check the dataset options and --data-root"
                )
            self._dataset = dataset
        return self._dataset.eval_pixels(int(image_index))


# --------------------------------------------------------------------------------------------
# Imported per-image table


@dataclass(frozen=True)
class TableColumns:
    """Which columns of an imported table hold what."""

    correct: str = "n_correct"
    path: str = "image_id"
    label: str = "label"
    class_name: str = "class_name"
    image_id: str | None = None  # default: the path column
    n_models: str | None = None  # column with the number of models per image, or None with a fixed count


def from_table(
    path: str | Path,
    columns: TableColumns,
    n_models: int | None,
    image_root: str | Path | None,
    resize: int = 256,
    crop: int = 224,
) -> Source:
    """Per-image counts from a CSV/TSV table; images are files under `image_root` (default: the table's folder).

    Pixels are rendered as the networks saw them at evaluation: shorter side resized to `resize`
    (bilinear with antialiasing, as torchvision's Resize on PIL images), centre crop `crop`, RGB.
    """
    from stimuli.render import load_evaluated_file

    path = Path(path)
    if (n_models is None) == (columns.n_models is None):
        raise UserError("with --table give exactly one of --n-models N or --n-models-column COLUMN")
    check_range("--resize", resize, 1, MAX_SOURCE_SIZE, "px")
    check_range("--crop", crop, 1, MAX_SOURCE_SIZE, "px")
    if crop > resize:
        raise UserError(f"--crop {crop} must not exceed --resize {resize}")
    id_col = columns.image_id or columns.path
    wanted = [columns.correct, columns.path, columns.label, columns.class_name, id_col]
    if columns.n_models is not None:
        wanted.append(columns.n_models)
    raw = read_table(path, required=list(dict.fromkeys(wanted)), as_strings=True)
    n_correct = _int_column(raw, columns.correct, path)
    n_mod = (
        _int_column(raw, columns.n_models, path)
        if columns.n_models is not None
        else np.full(len(raw), int(n_models), dtype=np.int64)  # type: ignore[arg-type]
    )
    bad = np.flatnonzero((n_correct < 0) | (n_correct > n_mod) | (n_mod < 1))
    if bad.size:
        r = int(bad[0])
        raise UserError(
            f"{path}: row {r + 2}: {columns.correct}={n_correct[r]} is not between 0 and the number of models ({n_mod[r]})"
        )
    ids = raw[id_col]
    dup = ids.duplicated()
    if dup.any():
        r = int(np.flatnonzero(dup.to_numpy())[0])
        raise UserError(f"{path}: row {r + 2}: {id_col} '{ids.iloc[r]}' occurs twice; image ids must be unique")
    df = pd.DataFrame(
        {
            "source_image_id": ids.to_numpy(),
            "label": _int_column(raw, columns.label, path),
            "class_name": raw[columns.class_name].to_numpy(),
            "n_correct": n_correct,
            "n_models": n_mod,
            "row": np.arange(len(raw), dtype=np.int64),
        }
    )
    root = Path(image_root) if image_root is not None else path.parent
    files = raw[columns.path].to_numpy()
    _check_inside(root, files, path, columns.path)
    provenance = {
        "type": "table",
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "image_root": str(root.resolve()),
        "columns": {
            "n_correct": columns.correct,
            "n_models": columns.n_models,
            "image_path": columns.path,
            "image_id": id_col,
            "label": columns.label,
            "class_name": columns.class_name,
        },
        "n_models": int(n_models) if n_models is not None else None,
    }
    rendering = {
        "pixels": (
            f"image file, RGB; shorter side resized to {resize} (bilinear, antialiased, as torchvision "
            f"Resize({resize}) on PIL images); centre crop {crop}x{crop} (as torchvision CenterCrop); no normalisation"
        ),
        "resize": resize,
        "crop": crop,
    }

    def pixels(row: int) -> Image.Image:
        return load_evaluated_file(root / str(files[row]), resize, crop, where=f"{path}: row {row + 2}")

    def missing_files(rows: pd.DataFrame) -> list[str]:
        return [str(root / str(files[r])) for r in rows["row"] if not (root / str(files[r])).is_file()]

    return Source(df, provenance, rendering, pixels, table=raw, missing_files=missing_files)


def _check_inside(root: Path, files: np.ndarray, table: Path, column: str) -> None:
    """Refuse image paths that leave the image root: absolute, empty or climbing out with '..'.
    (Symbolic links inside the root are followed: image trees often link to another disk.)"""
    import os.path

    for r, rel in enumerate(files):
        rel = str(rel)
        norm = os.path.normpath(rel)
        if not rel or os.path.isabs(rel) or norm == ".." or norm.startswith("../"):
            raise UserError(f"{table}: row {r + 2}: column '{column}': '{rel}' leaves the image root {root} "
                            "(allowed: a path relative to it, without '..' above it)")


def _int_column(df: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = df[column].str.strip()
    bad = ~values.str.fullmatch(r"[+-]?[0-9]+(\.0*)?")
    if bad.any():
        r = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"{path}: row {r + 2}: column '{column}' must be an integer, not '{df[column].iloc[r]}'")
    return values.astype(float).astype(np.int64).to_numpy()
