"""Report section: error consistency between conditions (the paper's Fig. 5) and over training
(with base at every epoch, between consecutive epochs, the epoch shift of the "+k epochs" conditions)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context
from analysis.report.model_inputs import StoreModels, missing_models_text, store_models


def _figure(ctx: Context, fig, name: str, caption: str) -> str:
    from analysis.plotting import save_figure

    return ctx.figure_html({"name": name, **save_figure(fig, ctx.fig_dir, name), "caption": caption})


def section_conditions(ctx: Context) -> H.Section:
    sec = H.Section("conditions", "Conditions: error consistency between conditions and over training")
    if ctx.cfg.model_table is not None:
        sec.available = False
        sec.add(H.missing("A per-image table (--model-table) says how many models were right on each image, not which "
                          "ones: error consistency between conditions and over epochs needs each model's decisions "
                          "(a decisions store)."))
        return sec
    models = store_models(ctx)
    if models is None:
        sec.available = False
        sec.add(H.missing(missing_models_text(ctx)))
        return sec
    _matrices(ctx, sec, models)
    _epochs(ctx, sec, models)
    return sec


def _matrices(ctx: Context, sec: H.Section, models: StoreModels) -> None:
    """Condition x condition on all images and on the in-between images."""
    from analysis.models import difficulty as dif
    from analysis.models.condition_matrix import condition_matrices, matrices_figure

    k, m = ctx.cfg.tolerance, len(models.ids)
    dif.check_tolerance(m, k)
    levels = dif.difficulty(dif.models_correct(models.final), m, k)
    mats = condition_matrices(models.final, models.conds, levels, models.order)
    sec.add(H.heading("Error consistency between conditions (the paper's Fig. 5)"))
    sec.add(_figure(ctx, matrices_figure(mats, f"{models.study.path.name}: error consistency between conditions"),
                    "conditions_matrix",
                    "Mean error consistency (Cohen's kappa on correct/incorrect, final epoch) over every pair of a model "
                    "of the row condition and a model of the column condition; the diagonal pairs different models of "
                    "the same condition (n/a: a condition with one model has no such pair). Left: all images; right: "
                    f"the in-between images only (neither trivial nor impossible at tolerance k = {k}). On all images "
                    "the trivial and impossible images, on which every model agrees, push kappa up; on the in-between "
                    "images, where models can differ, it drops: how much of a condition's consistency with base is "
                    "left there says whether the condition changes which images are learnt."))
    long = pd.concat([mt.frame() for mt in mats], ignore_index=True)
    ctx.save_table("conditions_matrix_pairs", long)
    for mt in mats:
        tag = "all" if mt.subset == "all images" else "inbetween"
        sq = mt.square()
        sec.add(H.table(sq, caption=f"Mean kappa between conditions, {mt.subset} ({mt.n_images:,} images); "
                        "per-cell SD and pair counts in conditions_matrix_pairs.csv", max_rows=0, digits=3,
                        csv_name=ctx.save_table(f"conditions_matrix_{tag}", sq)))
        off = mt.kappa[~np.eye(len(mt.conditions), dtype=bool)]
        ctx.numbers[f"conditions.mean_between_conditions_{tag}"] = float(np.nanmean(off)) if np.isfinite(off).any() else float("nan")
    if len(mats) == 1:
        sec.add(H.paragraph("Fewer than two in-between images: no matrix on the in-between images.", "note"))


def _epochs(ctx: Context, sec: H.Section, models: StoreModels) -> None:
    """Kappa with base per epoch, between consecutive epochs, and the epoch shift."""
    from analysis.models.ddd_figures import lines_by_condition_figure
    from analysis.models.epoch_consistency import SAME, epoch_consistency, shift_figure

    cfg = ctx.cfg
    ec = epoch_consistency(models.study, models.ids, models.conds, cfg.base, models.sd.keep)
    name = models.study.path.name
    sec.add(H.heading("Error consistency with base over training"))
    n_base = models.conds.count(cfg.base)
    if n_base == 1:
        sec.add(H.paragraph(f"The base condition '{cfg.base}' has one model: it has no partner of its own condition, "
                            "so base itself has no line below.", "note"))
    same = ec.with_base[ec.with_base["alignment"] == SAME] if not ec.with_base.empty else ec.with_base
    if not same.empty:
        sec.add(_figure(ctx, lines_by_condition_figure(same, "epoch", "kappa", models.order, "kappa with base",
                                                       f"{name}: error consistency with base per epoch", percent=False),
                        "epochs_kappa_with_base",
                        "Error consistency of each model (thin) and condition mean (thick) with the base model(s) at the "
                        "same epoch, mean over the base models; epochs after base's last are compared with base's last "
                        "epoch. Epoch 0 is the untrained network. Kappa near 1 early on means the condition starts "
                        "where base starts; a curve that rises and then flattens below base's own level says the "
                        "condition settles on a different set of images."))
    sec.add(H.table(ec.with_base, caption="Kappa with base per epoch (both alignments)", max_rows=0, digits=4,
                    csv_name=ctx.save_table("epochs_kappa_with_base", ec.with_base)))
    if not ec.consecutive.empty:
        sec.add(_figure(ctx, lines_by_condition_figure(ec.consecutive, "to_epoch", "kappa", models.order,
                                                       "kappa with the previous epoch",
                                                       f"{name}: error consistency between consecutive epochs", percent=False),
                        "epochs_kappa_consecutive",
                        "Error consistency between each epoch and the one before, per model (thin) and condition mean "
                        "(thick): how stable a model's pattern of errors is from epoch to epoch. It rises as training "
                        "settles; drops mark epochs where many images change between right and wrong (for example "
                        "after a learning-rate step)."))
        sec.add(H.table(ec.consecutive, caption="Kappa between consecutive epochs", max_rows=0,
                        csv_name=ctx.save_table("epochs_kappa_consecutive", ec.consecutive)))
    if ec.shift.empty:
        sec.add(H.paragraph("No model outside the base condition: no epoch shift.", "note"))
        return
    sec.add(H.heading("Epoch shift of the conditions trained longer"))
    shifted = {c: s for c, s in ec.shifts.items() if s > 0}
    sec.add(_figure(ctx, shift_figure(ec, models.order, f"{name}: epoch shift"), "epochs_shift",
                    "Left: conditions that train k epochs longer than base (here "
                    + (", ".join(f"{c}: k = {s}" for c, s in shifted.items()) or "none") + "), compared with base at "
                    "the same epoch (solid) and, as in the paper, at epoch e - k (dashed), so that their final epochs "
                    "meet. Right: each condition's final decisions compared with base at every base epoch (mean over "
                    "the condition's models); the dot marks the base epoch they agree with best. A condition whose "
                    "best base epoch is earlier than base's last makes the errors of a less-trained base."))
    cond = ec.condition_shift()
    sec.add(H.table(cond, caption="Per condition: k (epochs trained beyond base), the base epoch its final decisions "
                    "agree with best, epochs ahead (final epoch - that base epoch), the best kappa and the kappa with "
                    "base's final epoch (means over the condition's models)", max_rows=None, digits=3,
                    csv_name=ctx.save_table("epochs_shift_conditions", cond)))
    sec.add(H.table(ec.shift, caption="Per model: the same", max_rows=0, digits=4,
                    csv_name=ctx.save_table("epochs_shift_models", ec.shift)))
    ctx.save_table("epochs_final_vs_base", ec.final_vs_base)
    for c in shifted:
        row = cond[cond["condition"] == c]
        if len(row):
            ctx.numbers[f"conditions.{c}.best_base_epoch"] = float(row["best_base_epoch_mean"].iloc[0])
