"""What the model sections beyond the DDD section read: the decisions store's complete models in
report order, or the per-image models-correct table given with --model-table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.report.context import Context, find_study


@dataclass
class StoreModels:
    """A store's complete models in report order (base first), their final decisions and levels."""

    study: Any  # model_runs.store.Study
    sd: Any  # analysis.models.decisions.StudyDecisions
    ids: list[str]
    conds: list[str]
    order: list[str]
    final: np.ndarray  # bool (n_models, n_images)


@dataclass
class PerImage:
    """Models correct per image, with the images' class information; from a store or a table."""

    source: str  # "store" or "table"
    name: str  # study folder or table file name
    n_correct: np.ndarray
    n_models: int
    images: pd.DataFrame  # store: image_index, image_id, label, class_name; table: its columns
    dataset: str | None  # the store's dataset name (None for a table)
    store: StoreModels | None = None


def store_models(ctx: Context) -> StoreModels | None:
    """The decisions store's complete models (no label-issue exclusion, as in the models section), or None."""
    from analysis.models.conditions import check_base
    from analysis.models.decisions import load_study_decisions, open_any
    from analysis.models.study_steps import report_order

    cfg = ctx.cfg
    if cfg.no_models or cfg.model_table is not None:
        return None
    path = find_study(cfg.runs, cfg.study)
    if path is None:
        return None
    study = open_any(path)
    sd = load_study_decisions(study)
    check_base(sd.conditions, cfg.base)
    perm, order = report_order(sd, cfg.base)
    return StoreModels(study, sd, [sd.model_ids[i] for i in perm], [sd.conditions[i] for i in perm], order, sd.final[perm])


def per_image(ctx: Context) -> PerImage | None:
    """Models correct per image from the store or the --model-table, or None if neither is given."""
    cfg = ctx.cfg
    if cfg.model_table is not None:
        from pathlib import Path

        from analysis.models.ddd import read_count_table

        table = read_count_table(cfg.model_table, cfg.model_table_correct_col, cfg.model_table_n_models)
        return PerImage("table", Path(cfg.model_table).name, table[cfg.model_table_correct_col].to_numpy(),
                        cfg.model_table_n_models, table, None)
    models = store_models(ctx)
    if models is None:
        return None
    dataset = str(models.sd.definition.get("dataset", {}).get("name", "")) or None
    return PerImage("store", models.study.path.name, models.final.sum(axis=0, dtype=np.int64), len(models.ids),
                    models.sd.images, dataset, models)


def missing_models_text(ctx: Context) -> str:
    """Why there are no model decisions to analyse, and how to provide them."""
    if ctx.cfg.no_models:
        return "Left out (--no-models)."
    return (f"No decisions store under {ctx.cfg.runs}/ (a folder with study.toml) and no --model-table: "
            "nothing to analyse here.")
