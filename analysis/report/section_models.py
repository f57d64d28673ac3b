"""Report section: the models and their dichotomous data difficulty (from a store or a per-image table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.report import html as H
from analysis.report.context import Context, find_study


def _flatten(d: dict[str, Any], prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """Nested headline dicts to `a.b` keys with scalar values (deeper levels are left out)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            if depth > 1:
                out.update(_flatten(v, f"{key}.", depth - 1))
        elif isinstance(v, np.generic):
            out[key] = v.item()
        elif v is None or isinstance(v, str | int | float | bool):
            out[key] = v
    return out


def section_models(ctx: Context) -> H.Section:
    sec = H.Section("models", "Models and dichotomous data difficulty")
    result = _models_result(ctx, sec)
    if result is None:
        sec.available = False
        return sec
    from analysis.models.headline import headline_rows

    sec.add(H.heading("Headline numbers"))
    rows = pd.DataFrame(headline_rows(result.headline), columns=["quantity", "value", "definition"])
    sec.add(H.table(rows, caption="Headline numbers of the models' decisions", max_rows=None,
                    csv_name=ctx.save_table("models_headline", rows)))
    for k, v in _flatten(result.headline).items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            ctx.numbers[f"models.{k}"] = float(v)
    if ctx.cfg.model_table is not None:
        _published_splits(ctx, sec, result)
    for note in result.notes:
        sec.add(H.paragraph(str(note), "note"))
    ctx.tell(*(f"models: {note}" for note in result.notes))
    for fig in result.figures:
        ctx.figures.append({"name": fig.name, "png": fig.png, "svg": fig.svg, "caption": fig.caption})
        sec.add(H.figure(fig.png, fig.caption or fig.name, fig.name, fig.svg))
    for tab in result.tables:
        csv_name = f"{ctx.work.name}/{Path(tab.csv).resolve().relative_to(ctx.work.resolve())}"  # written by analysis.ddd
        sec.add(H.table(tab.frame, caption=tab.name, max_rows=0, csv_name=csv_name))  # folded: the figures come first
    return sec


def _published_splits(ctx: Context, sec: H.Section, result: Any) -> None:
    """The split of a per-image table at k = 0 and k = 1, with and without label errors, and why only
    the binomial null is shown."""
    splits = result.table("splits")
    sec.add(H.heading("The split at k = 0 and k = 1, with and without label errors"))
    shown = splits.assign(**{c: (100 * splits[c]).round(1) for c in ("trivial", "in-between", "impossible")})
    sec.add(H.table(shown.rename(columns={"trivial": "trivial %", "in-between": "in-between %", "impossible": "impossible %"}),
                    caption="Share of images per level (%): trivial = at least m - k models right, impossible = at most k",
                    max_rows=None, csv_name=ctx.save_table("models_splits", splits)))
    for _, r in splits.iterrows():
        tag = f"k{int(r['tolerance'])}" + ("_without_label_issues" if r["label_issues"] == "excluded" else "")
        for level in ("trivial", "in-between", "impossible"):
            ctx.numbers[f"models.splits.{tag}.{level}"] = float(r[level])
    t = result.headline["independence_binomial"]
    from analysis.models.headline import format_p

    sec.add(H.paragraph(
        f"Only the binomial null (independent models with the mean accuracy) is drawn: the per-model decisions were "
        f"not published, so the Poisson-binomial null, which needs each model's accuracy, cannot be computed. With "
        f"{result.headline['n_images']:,} images any departure from independence is significant "
        f"({format_p(t['p_value'], t['log10_p'])}); the informative figure is the dispersion ratio, the variance of the "
        f"models-correct count over the null's: {t['dispersion_ratio']:.2f} (1 = independent errors)."))


def _models_result(ctx: Context, sec: H.Section) -> Any:
    """The DDD analysis of the decisions store, or of a per-image models-correct table; None (with
    a note in the section) when neither is there."""
    from analysis.models.ddd import analyse_study, summarise_table

    cfg = ctx.cfg
    if cfg.model_table is not None:
        ctx.provenance.append(("per-image model table", str(cfg.model_table)))
        return summarise_table(cfg.model_table, cfg.model_table_correct_col, cfg.model_table_n_models,
                               cfg.tolerance, label_col=cfg.model_table_label_col, out_dir=ctx.work / "models")
    if cfg.no_models:
        sec.add(H.missing("Models section left out (--no-models)."))
        return None
    study = find_study(cfg.runs, cfg.study)
    if study is None:
        sec.add(H.missing(f"No decisions store found under {cfg.runs}/ (a folder with study.toml): the models "
                          "section is left out. Train or import models, or pass --runs / --study or --model-table."))
        return None
    ctx.provenance.append(("decisions store", str(study)))
    from analysis.models.ddd import DDDOptions

    opts = DDDOptions(tolerance=cfg.tolerance, base=cfg.base)
    if cfg.ddd is not None:
        from analysis.models.ddd_reuse import reuse_result

        reused = reuse_result(cfg.ddd, study, opts, ctx.work / "models")
        if reused is not None:
            ctx.provenance.append(("DDD analysis", f"reused from {cfg.ddd} (same store state, options and code)"))
            return reused
    return analyse_study(study, ctx.work / "models", opts, reusable=False)  # no pickle in a report
