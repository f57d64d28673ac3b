"""Report section: are trivial, in-between and impossible images spread equally over ImageNet
superclasses (the paper's appendix Fig. 11 and 12)? For data that is not ImageNet, the same per class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context
from analysis.report.model_inputs import PerImage, missing_models_text, per_image
from analysis.stats import format_p

SOURCE = ("Tsipras et al. (2020), 'From ImageNet to Image Classification', 11 superclasses of the 1,000 classes, "
          "shipped with the project (analysis/models/data/imagenet_superclasses.tsv, from MadryLab/ImageNetMultiLabel; "
          "the grouping the authors' notebook uses)")


def _p(p: float, log10_p: float | None = None) -> str:
    """'= 0.012' or '< 1e-300 (log10 p = ...)', to follow a 'p'."""
    text = format_p(p, log10_p)
    return text if text.startswith("<") else f"= {text}"


def section_superclasses(ctx: Context) -> H.Section:
    from analysis.models.superclasses import SUPERCLASSES, imagenet_superclasses

    sec = H.Section("superclasses", "Superclasses and difficulty")
    data = per_image(ctx)
    if data is None:
        sec.available = False
        sec.add(H.missing(missing_models_text(ctx)))
        return sec
    groups = imagenet_superclasses(data.images, data.dataset)
    if groups is not None:
        sec.add(H.paragraph(f"Superclasses: {SOURCE}."))
        _analysis(ctx, sec, data, groups, list(SUPERCLASSES), "superclass", "ImageNet superclass")
        return sec
    what = f"dataset '{data.dataset}'" if data.dataset else f"table {data.name}"
    sec.add(H.paragraph(f"The superclass analysis applies to ImageNet-labelled data only (the 1,000 ILSVRC-2012 classes "
                        f"grouped into 11 superclasses); the {what} is not ImageNet. Shown instead: the same analysis "
                        "with each class as its own group."))
    names = data.images["class_name"].astype(str).to_numpy() if "class_name" in data.images else None
    if names is None:
        sec.add(H.missing(f"{data.name} has no class column: no per-class version either."))
        return sec
    order = list(pd.unique(data.images.sort_values("label")["class_name"].astype(str))) if "label" in data.images \
        else list(dict.fromkeys(names))
    _analysis(ctx, sec, data, names, order, "class", "class")
    return sec


def _analysis(ctx: Context, sec: H.Section, data: PerImage, groups: np.ndarray, order: list[str], tag: str,
              what: str) -> None:
    """Counts per group x difficulty with the test, the figure, and the numbers."""
    from analysis.models import difficulty as dif
    from analysis.models.superclasses import association, group_difficulty, group_figure
    from analysis.plotting import save_figure

    k = ctx.cfg.tolerance
    whats = what + ("es" if what.endswith("s") else "s")
    levels = dif.difficulty(data.n_correct, data.n_models, k)
    table = group_difficulty(groups, levels, order)
    test = association(table, seed=ctx.cfg.seed, groups=groups, levels=levels)
    name = f"{tag}_difficulty"
    fig = group_figure(table, f"{data.name}: difficulty by {what} (k = {k}, {data.n_models} models)", what)
    caption = (f"Left: the share of each {what}'s images that are trivial, in-between and impossible (tolerance k = {k}), "
               "groups ordered by the ratio of impossible to trivial shares (the paper's Fig. 11). Right: how the images "
               f"of each difficulty level spread over the {whats}, beside all images (Fig. 12). If difficulty did not "
               f"depend on the {what}, every group would show the same three shares and the coloured bars on the right "
               "would match the grey ones.")
    sec.add(ctx.figure_html({"name": name, **save_figure(fig, ctx.fig_dir, name), "caption": caption}))
    mc = (f"; Monte Carlo permutation p {_p(test['p_monte_carlo'])} ({test['n_perm']} permutations, seed "
          f"{ctx.cfg.seed}), since the smallest expected count is {test['min_expected']:.1f} (< 5)"
          if test["n_perm"] else "")
    sec.add(H.paragraph(
        f"{what[0].upper() + what[1:]} against difficulty, {test['n_images']:,} images in {test['n_groups']} groups: "
        f"chi-squared = {test['chi2']:.1f}, dof = {test['dof']}, p {_p(test['p_value'], test['log10_p'])}, Cramér's V = "
        f"{test['cramers_v']:.3f}{mc}. Cramér's V is the effect size (0: difficulty independent of the {what}, 1: the "
        f"{what} determines the level); with many images even a small V is significant. The adjusted residuals in the "
        "table are about N(0, 1) per cell under independence: beyond +-2 a group has clearly more (or fewer) images of "
        "that level than its size predicts."))
    shown = table.drop(columns=[c for c in table.columns if c.startswith(("expected_", "share_"))])
    sec.add(H.table(shown, caption=f"Images per {what} and difficulty (k = {k}): counts, adjusted residuals, the ratio of "
                    "the impossible to the trivial share; shares and expected counts in the CSV", max_rows=None if len(shown) <= 20 else 0,
                    digits=3, csv_name=ctx.save_table(name, table)))
    ctx.save_table(f"{name}_test", pd.DataFrame([test]))
    ctx.numbers[f"{tag}.cramers_v"] = float(test["cramers_v"])
    ctx.numbers[f"{tag}.chi2"] = float(test["chi2"])
