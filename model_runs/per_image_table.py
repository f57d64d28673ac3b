"""The published per-image table: how many models classified each validation image correctly.

The authors shared their eleven-model result as one row per ImageNet validation image
(`../shared/reference/imagenet_val_sota11_per_image.csv`). `export_table` writes a decisions
store's final-epoch result in that format, so a lab can share its own results the same way, and
`read_table_file` reads such a table back (validated), for `split_counts` and for the tools that take
`--table` (`analysis.ddd summary`, `stimuli build-2afc`).

Columns: val_index, filepath, wnid, class_index, sota_n_correct, sota_mean_correct (6 decimals),
sota_difficulty (trivial = all models right, impossible = none, as in the reference), n_models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from labutil.errors import UserError
from labutil.io import atomic_write_text

COLUMNS = ["val_index", "filepath", "wnid", "class_index", "sota_n_correct", "sota_mean_correct", "sota_difficulty", "n_models"]
REQUIRED = ["val_index", "filepath", "wnid", "class_index", "sota_n_correct"]


def _difficulty(n_correct: np.ndarray, n_models: np.ndarray) -> np.ndarray:
    from labutil.difficulty import classify

    return classify(n_correct, n_models, 0)


def table_from_study(study_dir: Path, models: list[str] | None = None, epoch: int | str = "final") -> pd.DataFrame:
    """The per-image table of a study's complete models at `epoch` (default: each model's final)."""
    from model_runs.store import open_study

    study = open_study(study_dir)
    matrix = study.final_decisions(models, epoch if epoch == "final" else int(epoch))
    if not len(matrix.model_ids):
        raise UserError(f"{study_dir}: no complete models to count")
    images = study.images
    n_correct = matrix.correct.sum(axis=0).astype(np.int64)
    n_models = np.full(len(n_correct), len(matrix.model_ids), dtype=np.int64)
    return pd.DataFrame({
        "val_index": images["image_index"].astype(np.int64).to_numpy(),
        "filepath": images["image_id"].astype(str).to_numpy(),
        "wnid": images["class_name"].astype(str).to_numpy(),
        "class_index": images["label"].astype(np.int64).to_numpy(),
        "sota_n_correct": n_correct,
        "sota_mean_correct": np.round(n_correct / n_models, 6),
        "sota_difficulty": _difficulty(n_correct, n_models),
        "n_models": n_models,
    })[COLUMNS]


def export_table(study_dir: Path, out: Path, models: list[str] | None = None, epoch: int | str = "final") -> pd.DataFrame:
    """Write the per-image table of a study as CSV (refusing to overwrite); returns it."""
    if out.exists():
        raise UserError(f"{out}: exists; choose another file or remove it")
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: folder does not exist")
    table = table_from_study(study_dir, models, epoch)
    atomic_write_text(out, table.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    return table


def read_table_file(path: Path, n_models: int = 0) -> pd.DataFrame:
    """A per-image table (the reference's or an exported one), validated: required columns, integer
    counts within 0..n_models (from the `n_models` column, else the argument), unique val_index."""
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        table = pd.read_csv(path, dtype={"filepath": str, "wnid": str, "sota_difficulty": str}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"{path}: not a CSV table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing column '{missing[0]}' (a per-image table has {', '.join(REQUIRED)}, ...)")
    for col in ("val_index", "class_index", "sota_n_correct") + (("n_models",) if "n_models" in table.columns else ()):
        if not pd.api.types.is_integer_dtype(table[col]):
            bad = next(i for i, v in enumerate(table[col]) if not str(v).lstrip("-").isdigit())
            raise UserError(f"{path}: row {bad + 2}: column {col} = {table[col].iloc[bad]!r} is not an integer")
    if "n_models" in table.columns:
        counts = table["n_models"].to_numpy()
    elif n_models > 0:
        counts = np.full(len(table), n_models)
    else:
        raise UserError(f"{path}: no n_models column; say how many models the counts are of (--n-models N)")
    bad_rows = np.flatnonzero((table["sota_n_correct"].to_numpy() < 0) | (table["sota_n_correct"].to_numpy() > counts))
    if len(bad_rows):
        r = int(bad_rows[0])
        raise UserError(f"{path}: row {r + 2}: sota_n_correct = {table['sota_n_correct'].iloc[r]} outside 0..{counts[r]}")
    if table["val_index"].duplicated().any():
        r = int(np.flatnonzero(table["val_index"].duplicated().to_numpy())[0])
        raise UserError(f"{path}: row {r + 2}: val_index {table['val_index'].iloc[r]} appears twice")
    return table.assign(n_models=counts.astype(np.int64))


def split_counts(table: pd.DataFrame, tolerance: int | None = None) -> dict[str, int]:
    """Number of trivial / in-between / impossible images with `tolerance` models allowed to disagree."""
    from labutil.difficulty import DEFAULT_TOLERANCE, IMPOSSIBLE, IN_BETWEEN, TRIVIAL, classify

    tolerance = DEFAULT_TOLERANCE if tolerance is None else tolerance
    levels = classify(table["sota_n_correct"].to_numpy(), table["n_models"].to_numpy(), tolerance)
    return {level: int((levels == level).sum()) for level in (TRIVIAL, IN_BETWEEN, IMPOSSIBLE)}
