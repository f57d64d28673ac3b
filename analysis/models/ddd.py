"""Dichotomous data difficulty (DDD) of a study's models: `python -m analysis.ddd`.

    python -m analysis.ddd runs/demo                 # every figure and table -> reports/demo/ddd/
    python -m analysis.ddd summary --table T.csv     # the split from any per-image table

From a notebook: `analyse_study(study, out, DDDOptions(...))` returns a `DDDResult` listing
figures (PNG + SVG, caption), tables (CSV path + DataFrame) and headline numbers;
`summarise_table(...)` does the same for a per-image table. `analyse_study` is the sequence of
steps in `study_steps`; the computations live in small modules: `difficulty` (split, histogram,
nulls), `consistency` (kappa), `conditions` (with the base, or with each other), `identical`
(bit-identical models), `decisions` (reading the store, epochs, flips), `agreement`, `classes`,
`image_stats`, `label_issues`; `headline` puts the numbers into words; `ddd_figures` draws.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labutil.difficulty import DEFAULT_TOLERANCE
from labutil.errors import ArgumentParser, UserError, run_cli
from labutil.paths import check_output_dir
from labutil.validate import non_negative_int, positive_int

from analysis.models.outputs import DDDResult, FigureOut, TableOut, Writer
from analysis.models.study_steps import DDDOptions

__all__ = ["DDDOptions", "DDDResult", "FigureOut", "TableOut", "analyse_study", "summarise_table", "main"]


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
    tolerance: int = DEFAULT_TOLERANCE,
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
    tolerances = sorted({k for k in (0, 1, tolerance) if 2 * k < n_models})
    splits = dif.split_table(df[correct_col].to_numpy(), n_models, tolerances, issues if label_col else None)
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
        result.tables += [TableOut("histogram", Path(""), hist), TableOut("splits", Path(""), splits)]
        return result
    from analysis.models import ddd_figures as figs

    w = Writer(Path(out_dir))
    w.result.headline = headline
    w.table(hist, "histogram")
    w.table(splits, "splits")
    w.figure(
        lambda: figs.histogram_figure(hist, tolerance, shares, Path(table).name),
        "histogram",
        f"Images by number of models correct (of {n_models}); green: independent models with the mean accuracy"
        + ("; red: label issues" if label_col and not exclude_label_issues else ""),
    )
    return w.finish()


def format_splits(splits: pd.DataFrame) -> str:
    """The split at each tolerance, with and without label issues, one line each."""
    lines = ["  split at each tolerance (trivial / in-between / impossible):"]
    for _, r in splits.iterrows():
        lines.append(f"    k = {r['tolerance']}, label issues {r['label_issues']:<8} {r['n_images']:>8} images: "
                     f"{100 * r['trivial']:.1f} / {100 * r['in-between']:.1f} / {100 * r['impossible']:.1f} %")
    return "\n".join(lines)


def format_study_summary(h: dict[str, Any]) -> str:
    """The lines `python -m analysis.ddd STUDY` prints: split, kappa means (with and without
    bit-identical models), conditions compared with each other, both kinds of flips."""
    s = h["shares"]
    k = _or_na
    lines = [
        f"{h['study']}: {h['n_models']} models, {h['n_images']} images, k = {h['tolerance']}: trivial {s['trivial']:.1%}, "
        f"in-between {s['in-between']:.1%}, impossible {s['impossible']:.1%}",
        f"  mean kappa {k(h['mean_kappa'], '.3f', 'needs two models')} (in-between only "
        f"{k(h['mean_kappa_inbetween'], '.3f', 'too few in-between images')}); one model per group of bit-identical "
        f"models: {k(h['mean_kappa_without_identical'], '.3f', 'needs two distinct models')} "
        f"({k(h['mean_kappa_inbetween_without_identical'], '.3f', 'too few in-between images')})",
    ]
    for cond, v in h.get("each_other", {}).items():
        lines.append(f"  {cond}: kappa with each other {k(v['kappa_each_other'], '.3f', 'needs two models')}, "
                     f"with base {k(v['kappa_with_base'], '.3f', 'no base model')}")
    lines.append(f"  flips per epoch (from epoch 1): predicted label {k(h['label_flip_share'], '.2%', 'needs two trained epochs')}, "
                 f"correctness {k(h['correctness_flip_share'], '.2%', 'needs two trained epochs')}")
    return "\n".join(lines)


def _or_na(value: Any, spec: str, why: str) -> str:
    """A number as `spec`, or 'n/a (why)' where it cannot be computed (NaN), never 'nan'."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return f"n/a ({why})"
    return f"n/a ({why})" if not np.isfinite(v) else format(v, spec)


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
    options: DDDOptions | None = None,
    *,
    image_getter: Callable[[int], Any] | None = None,
    reusable: bool = True,
    **changes: Any,
) -> DDDResult:
    """Run every DDD analysis of a study and write figures and tables into out_dir.

    `options` (a DDDOptions; keyword `changes` replace single fields, e.g. `tolerance=0`) say how;
    `out_dir` defaults to reports/<study folder name>/ddd; `image_getter(i)` overrides how images
    are read for the image statistics; `reusable` writes `ddd-result.pkl` for the report's `--ddd`
    (`analysis.models.ddd_reuse`). The steps are the functions of `analysis.models.study_steps`.
    """
    from concurrent.futures import ThreadPoolExecutor

    from labutil.progress import progress

    from analysis.models import study_steps as st
    from analysis.models.decisions import summarise_epochs

    from analysis.models import ddd_reuse

    opts = replace(options or DDDOptions(), **changes)
    key = ddd_reuse.fingerprint(study_path, opts)  # before reading: a store changed meanwhile never matches
    models = st.load_models(study_path, opts)
    out = Path(out_dir) if out_dir is not None else Path("reports") / models.study.path.name / "ddd"
    w = Writer(out, opts.figures)
    w.result.notes += st.left_out_models(models)
    steps = ["split", "consistency", "identical models", "epochs", "classes"] + (["image statistics"] if opts.image_stats else [])
    try:
        from analysis.plotting import figures_in_background

        with progress(total=len(steps), desc="DDD analysis", unit="step", disable=not opts.progress) as bar, \
                figures_in_background(), ThreadPoolExecutor(max_workers=1) as pool:  # every figure written before finish
            # Reading every epoch of every model is the largest I/O; Parquet decoding releases the GIL,
            # so it runs in a thread while the final-epoch analyses and their figures are made.
            epochs = pool.submit(summarise_epochs, models.study, models.ids, models.sd.keep, models.map_model, False)

            def step(name: str) -> None:
                bar.set_postfix_str(name)

            headline: dict[str, Any] = {"study": str(models.study.path), "n_models": models.m,
                                        "n_images": int(models.final.shape[1]), "tolerance": opts.tolerance, "base": opts.base}
            step("split")
            split = st.split_step(w, models, opts)
            headline.update(split.headline)
            bar.update()
            step("consistency")
            cons = st.consistency_step(w, models, split, opts)
            headline.update(cons.headline)
            bar.update()
            step("identical models")
            ep = epochs.result()
            headline.update(st.identical_step(w, models, ep, cons))
            bar.update()
            step("epochs")
            headline.update(st.epochs_step(w, models, ep))
            bar.update()
            step("classes")
            st.classes_step(w, models)
            bar.update()
            before_image_stats = (len(w.result.figures), len(w.result.tables), len(w.result.notes))
            if opts.image_stats:
                step("image statistics")
                st.image_stats_step(w, models, split, ep, opts, image_getter)
                bar.update()
        w.result.headline = headline
        (out / ddd_reuse.RESULT_FILE).unlink(missing_ok=True)  # never beside files it does not describe
        result = w.finish()
        if reusable:
            ddd_reuse.save_result(out, key, result, w.written, before_image_stats, opts.image_stats)
        return result
    except BaseException:
        w.abort()
        raise


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
    p.add_argument("--tolerance", "-k", type=non_negative_int, default=DEFAULT_TOLERANCE, metavar="K",
                   help=f"trivial = at least n-K models right, impossible = at most K (default {DEFAULT_TOLERANCE}, "
                   "as every command; 0 = all/none)")
    p.add_argument("--base", default="base", metavar="CONDITION", help="condition the others are compared with (default: base)")
    p.add_argument("--each-other", action="append", default=[], metavar="CONDITION",
                   help="also compare this condition's models with each other (repeatable; conditions with "
                   "compare = \"each-other\" in the study file always are)")
    p.add_argument("--label-issues", metavar="SOURCE",
                   help="where label issues come from: 'probabilities' (cleanlab on the stored final-epoch probabilities; "
                   "the default when a model stored them) or a CSV/TSV table with a 0/1 column (see --label-col)")
    p.add_argument("--label-col", default="label_error_mturk", metavar="COLUMN",
                   help="0/1 column of the --label-issues table (default: label_error_mturk)")
    p.add_argument("--exclude-label-issues", action="store_true", help="remove label-issue images from every analysis")
    p.add_argument("--image-stats", action="store_true",
                   help="also compute image statistics (segments, local entropy, DCT share, edge strength; slow, cached)")
    p.add_argument("--cache-dir", metavar="DIR", help=f"cache of image statistics (default: {Path('.cache/analysis/image_stats')})")
    p.add_argument("--data-root", metavar="DIR", help="image statistics: folder of the study's images when they are no longer "
                   "where the study was trained from (default: the place recorded in the store)")
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
    p.add_argument("--tolerance", "-k", type=non_negative_int, default=DEFAULT_TOLERANCE, metavar="K",
                   help=f"tolerance k (default {DEFAULT_TOLERANCE}, as every command)")
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
        print(format_splits(res.table("splits")))
        if a.out:
            print(f"wrote {len(res.figures)} figure(s) and {len(res.tables)} table(s) to {res.out_dir}")
        return 0
    a = _study_parser().parse_args(args_list)
    if a.n_boot < 1:
        raise UserError("--n-boot must be at least 1")
    from labutil.bounds import MAX_N_BOOT, check_range

    check_range("--n-boot", a.n_boot, 1, MAX_N_BOOT)
    check_output_dir(a.out or Path("reports") / Path(a.study).name / "ddd", "--out")
    if a.cache_dir:
        check_output_dir(a.cache_dir, "--cache-dir")
    opts = DDDOptions(
        tolerance=a.tolerance, base=a.base, label_issues=a.label_issues, label_col=a.label_col,
        exclude_label_issues=a.exclude_label_issues, each_other=tuple(a.each_other), map_model=a.map_model,
        n_boot=a.n_boot, seed=a.seed, image_stats=a.image_stats, cache_dir=a.cache_dir, data_root=a.data_root, figures=not a.no_figures,
        progress=not a.no_progress,
    )
    res = analyse_study(a.study, a.out, opts)
    print(format_study_summary(res.headline))
    for note in res.notes:
        print(f"note: {note}")
    print(f"wrote {len(res.figures)} figures and {len(res.tables)} tables to {res.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
