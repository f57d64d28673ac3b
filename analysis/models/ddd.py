"""Dichotomous data difficulty (DDD) of a study's models: `python -m analysis.ddd`.

    python -m analysis.ddd runs/demo                 # every figure and table -> reports/demo/ddd/
    python -m analysis.ddd summary --table T.csv     # the split from any per-image table

From a notebook: `analyse_study(...)` returns a `DDDResult` listing figures (PNG + SVG, caption),
tables (CSV path + DataFrame) and headline numbers; `summarise_table(...)` does the same for a
per-image table. The computations live in small modules: `difficulty` (split, histogram, nulls),
`consistency` (kappa), `conditions` (against the base), `decisions` (reading the store, epochs),
`agreement`, `classes`, `image_stats`, `label_issues`; `ddd_figures` draws.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labutil.errors import ArgumentParser, UserError, run_cli
from labutil.paths import check_output_dir
from labutil.validate import non_negative_int, positive_int

__all__ = ["DDDResult", "FigureOut", "TableOut", "analyse_study", "summarise_table", "main"]


@dataclass(frozen=True)
class FigureOut:
    """One written figure."""

    name: str
    png: Path
    svg: Path
    caption: str


@dataclass(frozen=True)
class TableOut:
    """One written table."""

    name: str
    csv: Path
    frame: pd.DataFrame


@dataclass
class DDDResult:
    """Everything `analyse_study` / `summarise_table` wrote, and the headline numbers."""

    out_dir: Path
    figures: list[FigureOut] = field(default_factory=list)
    tables: list[TableOut] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str) -> FigureOut:
        return next(f for f in self.figures if f.name == name)

    def table(self, name: str) -> pd.DataFrame:
        return next(t.frame for t in self.tables if t.name == name)


class _Writer:
    """Collects outputs into a DDDResult; writes them into a staging folder next to the output
    folder and moves them in only when the whole analysis succeeded (`finish`), so a failed run
    leaves an earlier run's files as they were. Files that an earlier run listed in its
    headline.json and this run did not write are removed, so no stale figure stays behind.
    """

    MANIFEST = "headline.json"

    def __init__(self, out_dir: Path, figures: bool | Collection[str] = True) -> None:
        import tempfile

        self.result = DDDResult(Path(out_dir))
        self.figures = figures
        self.out = Path(out_dir)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent))
        self.written: list[str] = []

    def figure(self, draw: Callable[[], Any], name: str, caption: str) -> None:
        """Draw (only if this figure is wanted) and save a figure."""
        if self.figures is False or (self.figures is not True and name not in self.figures):
            return
        from analysis.plotting import save_figure

        save_figure(draw(), self.stage, name)
        self.written += [f"{name}.png", f"{name}.svg"]
        self.result.figures.append(FigureOut(name, self.out / f"{name}.png", self.out / f"{name}.svg", caption))

    def table(self, frame: pd.DataFrame, name: str) -> None:
        (self.stage / f"{name}.csv").write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
        self.written.append(f"{name}.csv")
        self.result.tables.append(TableOut(name, self.out / f"{name}.csv", frame))

    def finish(self) -> DDDResult:
        """Move the staged files into the output folder, drop stale ones, write headline.json."""
        import os
        import shutil

        from labutil.io import fsync_dir, read_json, write_json

        self.out.mkdir(parents=True, exist_ok=True)
        old: list[str] = []
        if (self.out / self.MANIFEST).is_file():
            try:
                old = list(read_json(self.out / self.MANIFEST).get("files", []))
            except Exception:  # an unreadable manifest only means nothing is known to be stale
                old = []
        for name in self.written:
            os.replace(self.stage / name, self.out / name)
        for name in set(old) - set(self.written):
            if "/" not in name and name != self.MANIFEST:
                (self.out / name).unlink(missing_ok=True)
        fsync_dir(self.out)
        write_json(self.out / self.MANIFEST, {"headline": self.result.headline, "notes": self.result.notes,
                                              "files": self.written})
        shutil.rmtree(self.stage, ignore_errors=True)
        return self.result

    def abort(self) -> None:
        """Forget everything staged (after an error)."""
        import shutil

        shutil.rmtree(self.stage, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Per-image table (summary)


def read_count_table(path: str | Path, correct_col: str, n_models: int, label_col: str | None = None) -> pd.DataFrame:
    """A per-image table with an integer models-correct column in 0..n_models (validated)."""
    from labutil.tables import read_table

    df = read_table(path, required=[correct_col] + ([label_col] if label_col else []))
    if df.empty:
        raise UserError(f"{path}: no rows")
    values = pd.to_numeric(df[correct_col], errors="coerce")
    bad = values.isna() | (values != values.round()) | (values < 0) | (values > n_models)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(
            f"{path}: row {row + 2}: column '{correct_col}' must be an integer 0..{n_models} (found '{df[correct_col].iloc[row]}')"
        )
    df[correct_col] = values.astype(np.int64)
    return df


def summarise_table(
    table: str | Path,
    correct_col: str = "sota_n_correct",
    n_models: int = 11,
    tolerance: int = 1,
    label_col: str | None = None,
    exclude_label_issues: bool = False,
    out_dir: str | Path | None = None,
) -> DDDResult:
    """Trivial / in-between / impossible shares from a per-image models-correct table.

    With `out_dir`, writes the histogram (figure + CSV); `label_col` marks label issues (red bars),
    excluded from everything with `exclude_label_issues`.
    """
    from analysis.models import difficulty as dif

    if n_models < 1:
        raise UserError(f"--n-models must be at least 1 (got {n_models})")
    dif.check_tolerance(n_models, tolerance)
    if exclude_label_issues and not label_col:
        raise UserError("--exclude-label-issues needs --label-col")
    df = read_count_table(table, correct_col, n_models, label_col)
    issues = np.zeros(len(df), bool)
    if label_col:
        flags = pd.to_numeric(df[label_col].fillna(0), errors="coerce")
        if not flags.isin([0, 1]).all():
            row = int(np.flatnonzero(~flags.isin([0, 1]).to_numpy())[0])
            raise UserError(f"{table}: row {row + 2}: column '{label_col}' must be 0 or 1 (found '{df[label_col].iloc[row]}')")
        issues = flags.to_numpy() == 1
    if exclude_label_issues:
        df, issues = df.loc[~issues], np.zeros(int((~issues).sum()), bool)
        if df.empty:
            raise UserError(f"{table}: excluding label issues leaves no images")
    n_correct = df[correct_col].to_numpy()
    shares = dif.difficulty_shares(n_correct, n_models, tolerance)
    counts = dif.histogram(n_correct, n_models)
    hist = dif.histogram_table(counts, None, dif.histogram(n_correct[issues], n_models) if label_col else None, tolerance)
    test = dif.independence_test(counts, dif.binomial_pmf(n_models, n_correct.mean() / n_models), "binomial")
    levels = dif.difficulty(n_correct, n_models, tolerance)
    headline = {
        "source": str(table),
        "n_images": int(len(n_correct)),
        "n_models": n_models,
        "tolerance": tolerance,
        "shares": shares,
        "counts": {lvl: int(np.sum(levels == lvl)) for lvl in dif.LEVELS},
        "mean_accuracy": float(n_correct.mean() / n_models),
        "n_label_issues": int(issues.sum()),
        "label_issues_excluded": bool(exclude_label_issues),
        "independence_binomial": test.__dict__,
    }
    if out_dir is None:
        result = DDDResult(Path("."), headline=headline)
        result.tables.append(TableOut("histogram", Path(""), hist))
        return result
    from analysis.models import ddd_figures as figs

    w = _Writer(Path(out_dir))
    w.result.headline = headline
    w.table(hist, "histogram")
    w.figure(
        lambda: figs.histogram_figure(hist, tolerance, shares, Path(table).name),
        "histogram",
        f"Images by number of models correct (of {n_models}); green: independent models with the mean accuracy"
        + ("; red: label issues" if label_col and not exclude_label_issues else ""),
    )
    return w.finish()


def format_summary(headline: dict[str, Any]) -> str:
    """The lines `summary` prints."""
    lines = [
        f"{headline['source']}: {headline['n_images']} images, {headline['n_models']} models, "
        f"tolerance k = {headline['tolerance']}"
        + (f", {headline['n_label_issues']} label issues" if headline.get("n_label_issues") else "")
        + (" (label issues excluded)" if headline.get("label_issues_excluded") else "")
    ]
    for level in ("trivial", "in-between", "impossible"):
        lines.append(f"  {level:<11} {headline['counts'][level]:>8}  {100 * headline['shares'][level]:5.1f} %")
    t = headline["independence_binomial"]
    lines.append(
        f"  mean accuracy {headline['mean_accuracy']:.4f}; against independent models (binomial): "
        f"G = {t['g']:.1f}, dof = {t['dof']}, log10 p = {t['log10_p']:.1f}, variance ratio {t['dispersion_ratio']:.2f}"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Whole study


def analyse_study(
    study_path: str | Path,
    out_dir: str | Path | None = None,
    tolerance: int = 1,
    base: str = "base",
    exclude_label_issues: bool = False,
    image_stats: bool = False,
    progress: bool = True,
    label_issues: str | Path | Sequence[str] | None = None,
    label_col: str = "label_error_mturk",
    map_model: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    image_getter: Callable[[int], Any] | None = None,
    figures: bool | Collection[str] = True,
) -> DDDResult:
    """Run every DDD analysis of a study and write figures and tables into out_dir.

    `label_issues`: where label issues come from ("probabilities", a table path, a list of image
    ids); by default the stored probabilities when some model has them. They are drawn in the
    histogram and, with `exclude_label_issues`, removed from every analysis. `out_dir` defaults to
    reports/<study folder name>/ddd. `image_getter(i)` overrides how images are read for the image
    statistics (default: model_runs.datasets). `figures`: True (all), False (tables only), or the
    names of the figures to draw.
    """
    from analysis.models import agreement as agr
    from analysis.models import classes as cls
    from analysis.models import conditions as con
    from analysis.models import ddd_figures as figs
    from analysis.models import difficulty as dif
    from analysis.models.consistency import error_consistency_matrix
    from analysis.models.decisions import load_study_decisions, open_any, summarise_epochs
    from analysis.models.label_issues import label_issue_mask

    study = open_any(study_path)
    out = Path(out_dir) if out_dir is not None else Path("reports") / study.path.name / "ddd"
    complete = study.model_ids(status="complete")
    if not complete:
        have = study.model_ids()
        raise UserError(f"{study.path}: empty store ({len(have)} models, none complete)" if have else f"{study.path}: empty store (no models)")
    dif.check_tolerance(len(complete), tolerance)

    notes: list[str] = []
    issues = None
    if label_issues is not None:
        issues = label_issue_mask(study, label_issues, column=label_col)
    elif exclude_label_issues or any(study.has_probabilities(m) for m in complete):
        issues = label_issue_mask(study, "probabilities")
    sd = load_study_decisions(study, exclude=issues if exclude_label_issues else None, model_ids=complete)
    con.check_base(sd.conditions, base)
    # models grouped by condition (base first), in the order of the study definition, then by id:
    # the order of every model-level output
    defined = [dict(x) for x in sd.definition.get("models", []) if isinstance(x, dict)]
    def_rank = {str(x.get("model_id")): i for i, x in enumerate(defined)}
    order = con.condition_order([str(x.get("condition")) for x in defined if x.get("condition") in sd.conditions] + sd.conditions, base)
    rank = {c: i for i, c in enumerate(order)}
    perm = sorted(range(sd.n_models), key=lambda i: (rank[sd.conditions[i]], def_rank.get(sd.model_ids[i], len(def_rank)), sd.model_ids[i]))
    ids = [sd.model_ids[i] for i in perm]
    conds = [sd.conditions[i] for i in perm]
    final = sd.final[perm]
    acc = final.mean(axis=1)
    m = len(ids)
    title = study.path.name

    base_ids = [i for i, c in zip(ids, conds) if c == base]
    map_model = map_model or base_ids[0]
    if map_model not in ids:
        raise UserError(f"--map-model '{map_model}' is not a complete model of {study.path}")

    w = _Writer(out, figures)
    try:
        steps = ["histogram", "consistency", "epochs", "classes"] + (["image statistics"] if image_stats else [])
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        bar = tqdm(total=len(steps), desc="DDD analysis", unit="step", disable=not progress)
        # Reading every epoch of every model is the largest I/O; Parquet decoding releases the GIL,
        # so it runs in a thread while the final-epoch analyses and their figures are made.
        pool = ThreadPoolExecutor(max_workers=1)
        epochs_future = pool.submit(summarise_epochs, study, ids, sd.keep, map_model, False)

        # -- models-correct histogram and the split ---------------------------------------------------
        bar.set_postfix_str("histogram")
        n_correct = dif.models_correct(final)
        levels = dif.difficulty(n_correct, m, tolerance)
        shares = dif.difficulty_shares(n_correct, m, tolerance)
        counts = dif.histogram(n_correct, m)
        kept_issues = issues[sd.keep] if issues is not None and not exclude_label_issues else None
        issue_counts = dif.histogram(n_correct[kept_issues], m) if kept_issues is not None else None
        hist = dif.histogram_table(counts, acc, issue_counts, tolerance)
        tests = [
            dif.independence_test(counts, dif.binomial_pmf(m, float(acc.mean())), "binomial"),
            dif.independence_test(counts, dif.poisson_binomial_pmf(acc), "poisson-binomial"),
        ]
        w.table(sd.models_frame().iloc[perm].reset_index(drop=True), "models")
        w.table(hist, "histogram")
        w.table(pd.DataFrame([t.__dict__ for t in tests]), "independence")
        per_image = sd.images.assign(n_correct=n_correct, n_models=m, share_correct=n_correct / m, difficulty=levels)
        if issues is not None:
            per_image["label_issue"] = issues[sd.keep]
        w.table(per_image, "per_image")
        w.figure(
            lambda: figs.histogram_figure(hist, tolerance, shares, title),
            "histogram",
            f"Images by number of models correct (of {m}) with tolerance k = {tolerance}; green bars: independent "
            "models with the mean accuracy (binomial); grey dots: independent models with their own accuracies "
            "(Poisson-binomial)" + ("; red: label issues" if issue_counts is not None and issue_counts.any() else ""),
        )
        bar.update()

        # -- error consistency --------------------------------------------------------------------
        bar.set_postfix_str("consistency")
        kappa = error_consistency_matrix(final)
        off = ~np.eye(m, dtype=bool)
        w.table(pd.DataFrame(kappa, index=ids, columns=ids).rename_axis("model_id").reset_index(), "kappa_matrix")
        w.figure(lambda: figs.matrix_figure(kappa, ids, conds, f"{title}: error consistency, all images"), "kappa_matrix",
                 "Error consistency (Cohen's kappa on correct/incorrect) of every pair of models, grouped by condition")
        in_between = levels == "in-between"
        kappa_ib = None
        headline: dict[str, Any] = {}
        subsets = [("", np.ones(final.shape[1], bool), "all images")]
        if in_between.sum() >= 2:
            subsets.append(("_inbetween", in_between, "in-between images only"))
            kappa_ib = error_consistency_matrix(final[:, in_between])
            w.table(pd.DataFrame(kappa_ib, index=ids, columns=ids).rename_axis("model_id").reset_index(), "kappa_matrix_inbetween")
            w.figure(lambda: figs.matrix_figure(kappa_ib, ids, conds, f"{title}: error consistency, in-between images"),
                     "kappa_matrix_inbetween", "Error consistency of every pair of models on the in-between images only")
        else:
            notes.append(f"only {int(in_between.sum())} in-between images: no consistency on in-between images")
        for suffix, cols, what in subsets:
            pairs = con.pair_table(final[:, cols], ids, conds, base, n_boot=n_boot, seed=seed)
            per_model = con.per_model(pairs)
            per_cond = con.per_condition(per_model, order)
            w.table(pairs, f"consistency_pairs{suffix}")
            w.table(per_model, f"consistency_models{suffix}")
            w.table(per_cond, f"consistency_conditions{suffix}")
            w.figure(
                lambda: figs.condition_consistency_figure(per_cond, per_model, order, f"{title}: error consistency with '{base}', {what}"),
                f"consistency_conditions{suffix}",
                f"Error consistency of each condition with the base condition '{base}' on {what}: bars are condition means, "
                "dots single models (mean over base models), dotted lines the highest kappa the accuracies allow",
            )
        if len(base_ids) == 1:
            notes.append(f"the base condition '{base}' has one model: no consistency within the base condition")
        headline.update(
            {
                "study": str(study.path),
                "n_models": m,
                "n_images": int(final.shape[1]),
                "tolerance": tolerance,
                "base": base,
                "shares": shares,
                "counts": {lvl: int(np.sum(levels == lvl)) for lvl in dif.LEVELS},
                "mean_accuracy": float(acc.mean()),
                "mean_kappa": float(np.nanmean(kappa[off])) if m > 1 else float("nan"),
                "mean_kappa_inbetween": float(np.nanmean(kappa_ib[off])) if kappa_ib is not None and m > 1 else float("nan"),
                "independence": {t.null: t.__dict__ for t in tests},
                "label_issues": int(issues.sum()) if issues is not None else None,
                "label_issues_excluded": bool(exclude_label_issues),
                "bootstrap": {"n_boot": n_boot, "seed": seed},
            }
        )
        bar.update()

        # -- epoch by epoch -----------------------------------------------------------------------
        bar.set_postfix_str("epochs")
        ep = epochs_future.result()
        pool.shutdown()
        acc_frame = ep.accuracy_frame(conds)
        flips = ep.flips_frame(conds)
        w.table(acc_frame, "accuracy_per_epoch")
        w.table(flips, "flips")
        trained = flips[flips["from_epoch"] >= 1]
        # mean over models of each model's mean (models with more epochs do not weigh more)
        headline["flip_share"] = float(trained.groupby("model_id")["flip_share"].mean().mean()) if len(trained) else float("nan")
        headline["flip_share_all_transitions"] = float(flips["flip_share"].mean()) if len(flips) else float("nan")
        w.figure(lambda: figs.decision_map_figure(ep.map_correct, ep.epochs[map_model], f"{title}: decisions of {map_model}"),
                 "decision_map", f"Decisions of {map_model} on every image over epochs; images sorted by accuracy over epochs")
        if len(ep.common_epochs):
            w.figure(lambda: figs.overlay_figure(ep.n_correct, m, ep.common_epochs, f"{title}: all {m} models"), "decision_overlay",
                     "Share of models correct on each image at each epoch; images sorted by mean over epochs and models")
        w.figure(lambda: figs.lines_by_condition_figure(flips, "to_epoch", "flip_share", order, "decisions flipping from previous epoch",
                                                f"{title}: flips between consecutive epochs"), "flips",
                 "Share of images whose correctness changes from one epoch to the next, per model (thin) and condition (thick)")
        w.figure(lambda: figs.lines_by_condition_figure(acc_frame, "epoch", "accuracy", order, "validation accuracy",
                                                f"{title}: accuracy over epochs"), "accuracy_per_epoch",
                 "Validation accuracy per epoch, per model (thin) and condition mean (thick)")
        if len(ep.common_epochs):
            acc_common = np.vstack([ep.accuracy[i][np.searchsorted(ep.epochs[i], ep.common_epochs)] for i in ids])
            agreement = agr.agreement_table(ep.common_epochs, ep.n_correct, acc_common, m)
            w.table(agreement, "agreement")
            train = agr.train_agreement(study, ids)
            if train is not None:
                w.table(train, "agreement_train")
            else:
                notes.append("no training decisions stored: agreement on validation images only")
            w.figure(lambda: figs.agreement_figure(agreement, train, f"{title}: true-positive agreement"), "agreement",
                     "True-positive agreement (images all models get right / images any model gets right) per epoch, its lower "
                     "bound 1 - min(sum of error rates, 1), and mean +- SD accuracy")
            headline["final_tpa"] = float(agreement["tpa"].iloc[-1])
        else:
            notes.append("the models share no epoch: no overlay and no agreement per epoch")
        bar.update()

        # -- classes ----------------------------------------------------------------------------
        bar.set_postfix_str("classes")
        ctab = cls.class_accuracy(final, sd.images["label"].to_numpy(), sd.images["class_name"].to_numpy())
        w.table(ctab, "class_accuracy")
        w.table(cls.easiest_and_hardest(ctab, 10), "classes_easiest_hardest")
        w.figure(lambda: figs.class_accuracy_figure(ctab, f"{title}: class-wise accuracy"), "class_accuracy",
                 "Accuracy per class, sorted, mean over models with the range from the worst to the best model")
        dataset = sd.definition.get("dataset", {})
        if cls.is_gaussian_dataset(dataset):
            kl = cls.neighbour_kl_table(ctab, cls.gaussian_class_sds(dataset, ctab["label"].to_numpy()))
            w.table(kl, "gaussian_kl")
            w.figure(lambda: figs.gaussian_kl_figure(kl, f"{title}: class separability"), "gaussian_kl",
                     "KL divergence (per pixel) between each Gaussian class and its closest neighbour, against class accuracy")
        bar.update()

        # -- image statistics ---------------------------------------------------------------------
        if image_stats:
            bar.set_postfix_str("image statistics")
            _image_statistics(w, study, sd, n_correct / m, ep, m, image_getter, cache_dir, progress, title)
            bar.update()
        bar.close()
        w.result.headline = headline
        w.result.notes = notes + w.result.notes
        return w.finish()
    except BaseException:
        w.abort()
        raise


def _image_statistics(w: _Writer, study: Any, sd: Any, share: np.ndarray, ep: Any, m: int,
                      image_getter: Callable[[int], Any] | None, cache_dir: str | Path | None, progress: bool, title: str) -> None:
    """Image statistics of every image (cached), correlated with difficulty and per-epoch agreement."""
    from analysis.models import ddd_figures as figs
    from analysis.models import image_stats as ist

    dataset = sd.definition.get("dataset", {})
    all_ids = study.images["image_id"].tolist()
    getter = image_getter or ist.dataset_image_getter(dataset)
    key = ist.cache_key(dataset, all_ids)
    stats = ist.compute_image_stats(all_ids, getter, cache_dir if cache_dir is not None else ist.DEFAULT_CACHE_DIR,
                                    key, progress=progress)
    kept = stats.set_index("image_index").loc[sd.images["image_index"].to_numpy()].reset_index()
    w.table(kept, "image_stats")
    corr = ist.difficulty_correlations(kept, share)
    for stat in corr.loc[corr["spearman_r"].isna(), "statistic"]:
        w.result.notes.append(f"image statistic '{stat}' is the same for every image (or difficulty is): no correlation")
    w.table(corr, "image_stats_difficulty")
    w.figure(lambda: figs.correlation_figure(corr, f"{title}: image statistics"), "image_stats_difficulty",
             "Spearman correlation of each image statistic with the share of models correct (95 % CI)")
    if len(ep.common_epochs):
        ecorr = ist.agreement_correlations(kept, ep.n_correct == m, ep.common_epochs)
        w.table(ecorr, "image_stats_agreement")
        w.figure(lambda: figs.epoch_correlation_figure(ecorr, f"{title}: image statistics and agreement"), "image_stats_agreement",
                 "Per epoch, Spearman correlation of each image statistic with whether all models get the image right")


# --------------------------------------------------------------------------------------------
# CLI


def _study_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m analysis.ddd",
        description="Dichotomous data difficulty of a study's models: writes every figure (PNG + SVG) and table (CSV). "
        "Use 'python -m analysis.ddd summary --help' for the split from a per-image table.",
    )
    p.add_argument("study", metavar="STUDY_DIR", help="decisions store of the study (e.g. runs/demo)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: reports/<study folder name>/ddd)")
    p.add_argument("--tolerance", "-k", type=non_negative_int, default=1, metavar="K",
                   help="trivial = at least n-K models right, impossible = at most K (default 1; 0 = all/none)")
    p.add_argument("--base", default="base", metavar="CONDITION", help="condition the others are compared with (default: base)")
    p.add_argument("--label-issues", metavar="SOURCE",
                   help="where label issues come from: 'probabilities' (cleanlab on the stored final-epoch probabilities; "
                   "the default when a model stored them) or a CSV/TSV table with a 0/1 column (see --label-col)")
    p.add_argument("--label-col", default="label_error_mturk", metavar="COLUMN",
                   help="0/1 column of the --label-issues table (default: label_error_mturk)")
    p.add_argument("--exclude-label-issues", action="store_true", help="remove label-issue images from every analysis")
    p.add_argument("--image-stats", action="store_true",
                   help="also compute image statistics (segments, local entropy, DCT share, edge strength; slow, cached)")
    p.add_argument("--cache-dir", metavar="DIR", help=f"cache of image statistics (default: {Path('.cache/analysis/image_stats')})")
    p.add_argument("--map-model", metavar="MODEL_ID", help="model of the decision map (default: the first base model)")
    p.add_argument("--n-boot", type=positive_int, default=1000, metavar="N", help="bootstrap resamples for kappa intervals (default 1000)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--no-figures", action="store_true", help="write the tables (CSV) only, no figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _summary_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m analysis.ddd summary",
        description="Trivial / in-between / impossible shares from a per-image table with a models-correct count.",
    )
    p.add_argument("--table", required=True, metavar="CSV", help="per-image table (CSV, or TSV with a .tsv suffix)")
    p.add_argument("--correct-col", default="sota_n_correct", metavar="COLUMN",
                   help="column with the number of models correct per image (default: sota_n_correct)")
    p.add_argument("--n-models", type=positive_int, default=11, metavar="N", help="number of models behind the counts (default 11)")
    p.add_argument("--tolerance", "-k", type=non_negative_int, default=1, metavar="K", help="tolerance k (default 1)")
    p.add_argument("--label-col", metavar="COLUMN", help="0/1 column marking label issues (e.g. label_error_mturk)")
    p.add_argument("--exclude-label-issues", action="store_true", help="drop the images marked by --label-col")
    p.add_argument("--out", metavar="DIR", help="also write the histogram (PNG, SVG, CSV) into DIR")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m analysis.ddd` (and its `summary` verb)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["summary"]:
        a = _summary_parser().parse_args(args_list[1:])
        if a.out:
            check_output_dir(a.out, "--out")
        res = summarise_table(a.table, a.correct_col, a.n_models, a.tolerance, a.label_col, a.exclude_label_issues, a.out)
        print(format_summary(res.headline))
        if a.out:
            print(f"wrote {len(res.figures)} figure(s) and {len(res.tables)} table(s) to {res.out_dir}")
        return 0
    a = _study_parser().parse_args(args_list)
    if a.n_boot < 1:
        raise UserError("--n-boot must be at least 1")
    check_output_dir(a.out or Path("reports") / Path(a.study).name / "ddd", "--out")
    if a.cache_dir:
        check_output_dir(a.cache_dir, "--cache-dir")
    res = analyse_study(
        a.study, a.out, tolerance=a.tolerance, base=a.base, exclude_label_issues=a.exclude_label_issues,
        image_stats=a.image_stats, progress=not a.no_progress, label_issues=a.label_issues, label_col=a.label_col,
        map_model=a.map_model, n_boot=a.n_boot, seed=a.seed, cache_dir=a.cache_dir, figures=not a.no_figures,
    )
    h = res.headline
    s = h["shares"]
    print(
        f"{h['study']}: {h['n_models']} models, {h['n_images']} images, k = {h['tolerance']}: trivial {s['trivial']:.1%}, "
        f"in-between {s['in-between']:.1%}, impossible {s['impossible']:.1%}; mean kappa {h['mean_kappa']:.3f} "
        f"(in-between only {h['mean_kappa_inbetween']:.3f}); flips {h['flip_share']:.2%}"
    )
    for note in res.notes:
        print(f"note: {note}")
    print(f"wrote {len(res.figures)} figures and {len(res.tables)} tables to {res.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
