"""`python -m analysis.report`: one self-contained HTML report of a study's models and humans.

Sections: models and DDD (`analysis.ddd.analyse_study` on the decisions store), the 2AFC
experiment (`analysis.two_afc`), the questionnaire (`analysis.questionnaire`, on all images and on
the paper's Fig. 6 selection), and the comparison with the paper (`analysis.paper`). Whatever is
missing (no study, no sessions, no stimulus set) is said in its section; the rest still runs.

Writes `<out>/<name>.html` (figures embedded) and `<out>/<name>_files/` (`figures/*.png|svg`,
`tables/*.csv`, `models/` from analysis.ddd). Everything is built in a temporary folder beside them
and moved into place at the end, so a failed run leaves an earlier report as it was. Only pseudonymous participant ids (sub-XXX) appear; the restricted
identity folder is never read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import report_html as H
from analysis.paper import PAPER
from labutil.errors import ArgumentParser, UserError, run_cli
from labutil.versions import software_versions

SECTIONS = ("models", "2afc", "questionnaire", "paper")


@dataclass
class ReportConfig:
    """Where the inputs are, where the report goes, and the analysis choices (all recorded)."""

    runs: Path = Path("runs")
    study: str | None = None
    no_models: bool = False
    model_table: Path | None = None  # per-image models-correct table instead of a decisions store
    model_table_correct_col: str = "sota_n_correct"
    model_table_n_models: int = 11
    model_table_label_col: str | None = "label_error_mturk"
    stimuli: list[Path] = field(default_factory=lambda: [Path("stimulus_sets")])
    data_root: Path = Path("lab_data")
    out: Path = Path("reports")
    name: str = "report"
    set_2afc: str | None = None
    set_questionnaire: str | None = None
    tolerance: int = 1
    base: str = "base"
    include_incomplete: bool = False
    include_pilot: bool = False
    include_simulated: bool = False
    balance_seed: int = 1312
    seed: int = 0
    n_boot: int = 2000


@dataclass
class Context:
    """What the sections produce: figures and tables written, headline numbers, provenance."""

    cfg: ReportConfig
    work: Path  # the `<name>_files` folder being built
    numbers: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Path] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[tuple[str, Any]] = field(default_factory=list)
    exclusions: list[pd.DataFrame] = field(default_factory=list)
    reference_data: bool = False

    @property
    def fig_dir(self) -> Path:
        return self.work / "figures"

    def save_table(self, name: str, df: pd.DataFrame) -> str:
        """Write a table as CSV under tables/; returns its path relative to the HTML file."""
        path = self.work / "tables" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False, lineterminator="\n")
        self.tables[name] = path
        return f"{self.work.name}/tables/{name}.csv"

    def figure_html(self, fig: dict[str, Any]) -> str:
        self.figures.append(fig)
        return H.figure(fig["png"], fig["caption"], fig["name"], fig.get("svg"))


# ------------------------------------------------------------------------------------------------
# Inputs


def find_study(runs: Path, study: str | None) -> Path | None:
    """The study folder: `study` (a name under runs/ or a path), or the only study in runs/."""
    if study is not None:
        for cand in (Path(study), Path(runs) / study):
            if (cand / "study.toml").is_file():
                return cand
        raise UserError(f"--study {study}: no study.toml in {study} or {Path(runs) / study}")
    if not Path(runs).is_dir():
        return None
    found = sorted(p for p in Path(runs).iterdir() if (p / "study.toml").is_file())
    if len(found) > 1:
        raise UserError(f"{runs} holds several studies ({', '.join(p.name for p in found)}); choose one with --study")
    return found[0] if found else None


def open_set(stimuli: list[Path], name: str | None, checksum: str | None = None) -> Any:
    """The stimulus set of that name: one of the given set folders, or inside a given folder of
    sets; None if absent. A set whose tables differ from those the sessions recorded (`checksum`)
    is refused: the sessions' answers would be matched to the wrong images."""
    from stimuli.sets import read_set

    if not name:
        return None
    for path in stimuli:
        for cand in (Path(path), Path(path) / name):
            if cand.name == name and (cand / "set.json").is_file():
                sset = read_set(cand)
                if checksum is not None and sset.tables_sha256 != checksum:
                    raise UserError(f"{cand}: not the version of set '{name}' the sessions ran on (its tables' checksum "
                                    "differs from the sessions' records); give the set they used with --stimuli")
                return sset
    return None


def _places(stimuli: list[Path]) -> str:
    return ", ".join(str(p) for p in stimuli)


# ------------------------------------------------------------------------------------------------
# Section: models and DDD


def _flatten(d: dict[str, Any], prefix: str = "", depth: int = 2) -> dict[str, Any]:
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
    headline = _flatten(result.headline)
    sec.add(H.heading("Headline numbers"))
    sec.add(H.key_values([(k, v) for k, v in headline.items() if k not in ("study", "source")]))
    for k, v in headline.items():
        if isinstance(v, int | float) and not isinstance(v, bool):
            ctx.numbers[f"models.{k}"] = float(v)
    for note in result.notes:
        sec.add(H.paragraph(str(note), "note"))
    for fig in result.figures:
        ctx.figures.append({"name": fig.name, "png": fig.png, "svg": fig.svg, "caption": fig.caption})
        sec.add(H.figure(fig.png, fig.caption or fig.name, fig.name, fig.svg))
    for tab in result.tables:
        csv_name = f"{ctx.work.name}/{Path(tab.csv).resolve().relative_to(ctx.work.resolve())}"  # written by analysis.ddd
        sec.add(H.table(tab.frame, caption=tab.name, max_rows=0, csv_name=csv_name))  # folded: the figures come first
    return sec


def _models_result(ctx: Context, sec: H.Section) -> Any:
    """The DDD analysis of the decisions store, or of a per-image models-correct table; None (with
    a note in the section) when neither is there."""
    from analysis.ddd import analyse_study, summarise_table

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
    return analyse_study(study, ctx.work / "models", tolerance=cfg.tolerance, base=cfg.base)


# ------------------------------------------------------------------------------------------------
# Section: 2AFC


def _exclusion_parts(ctx: Context, loaded: Any, label: str) -> list[str]:
    parts = []
    if len(loaded.excluded):
        ex = loaded.excluded.drop(columns=["path"])
        ctx.exclusions.append(loaded.excluded.assign(analysis=label))
        parts.append(H.table(ex, caption=f"{label}: sessions left out", csv_name=ctx.save_table(f"{label}_excluded_sessions", ex)))
    else:
        parts.append(H.paragraph(f"No {label} session was left out."))
    if loaded.practice_rows:
        parts.append(H.paragraph(f"{loaded.practice_rows} practice trials left out."))
    return parts


def _simulated_note(loaded: Any) -> list[str]:
    if not loaded.n_simulated:
        return []
    return [H.paragraph(f"{loaded.n_simulated} of the {len(loaded.sessions)} analysed sessions were run by simulated "
                        "observers (--simulate), not by people.", "missing")]


def _sessions_and_set(ctx: Context, sec: H.Section, task: str, set_name: str | None) -> tuple[Any, Any] | None:
    """The task's analysed sessions and the stimulus set they ran on (None if not found); None,
    with the section marked missing and the left-out sessions listed, when no session is usable."""
    from analysis.sessions import load_sessions

    cfg = ctx.cfg
    loaded = load_sessions(cfg.data_root, task, stimulus_set=set_name, include_incomplete=cfg.include_incomplete,
                           include_pilot=cfg.include_pilot, include_simulated=cfg.include_simulated)
    if not loaded.sessions:
        sec.available = False
        sec.add(H.missing(f"No usable {task.upper() if task == '2afc' else task} sessions under {cfg.data_root}/: "
                          "this section is left out."))
        sec.parts += _exclusion_parts(ctx, loaded, task) if len(loaded.excluded) else []
        return None
    return loaded, open_set(cfg.stimuli, loaded.stimulus_set, loaded.set_checksum)


def section_2afc(ctx: Context) -> H.Section:
    from analysis.two_afc import analyse_two_afc, two_afc_figures

    sec = H.Section("2afc", "2AFC experiment: which image is harder for a network?")
    cfg = ctx.cfg
    found = _sessions_and_set(ctx, sec, "2afc", cfg.set_2afc)
    if found is None:
        return sec
    loaded, sset = found
    ctx.provenance.append(("2AFC sessions", f"{len(loaded.sessions)} under {cfg.data_root}"))
    ctx.provenance.append(("2AFC stimulus set", f"{loaded.stimulus_set} ({'found' if sset is not None else 'not found'} in {_places(cfg.stimuli)})"))
    if sset is None:
        sec.add(H.missing(f"Stimulus set '{loaded.stimulus_set}' not found in {_places(cfg.stimuli)}: the models' "
                          "accuracies per image pair are left out."))
    res = analyse_two_afc(loaded.trials, sset.stimuli if sset is not None else None, seed=cfg.seed, n_boot=cfg.n_boot)
    acc, ec = res.accuracy, res.consistency
    n_trials = sorted(set(res.observers["n_trials"]))
    sec.add(H.paragraph(
        f"{acc['n']} observers, {'/'.join(map(str, n_trials))} test trials each. Accuracy (choosing the image "
        f"the models found impossible): mean {acc['mean']:.2%}, range {acc['min']:.2%}-{acc['max']:.2%}, "
        f"SD {acc['sd']:.2%}. Inter-observer error consistency: mean {ec['mean']:.4f} "
        f"(bootstrap 95 % CI of the mean {ec['mean_ci_low']:.4f}-{ec['mean_ci_high']:.4f}), "
        f"range {ec['min']:.4f}-{ec['max']:.4f}, SD {ec['sd']:.4f}."))
    sec.parts += _simulated_note(loaded)
    for note in res.notes:
        sec.add(H.paragraph(note, "note"))
    ctx.numbers.update({
        "2afc_n_observers": acc["n"], "2afc_accuracy_mean": acc["mean"], "2afc_accuracy_min": acc["min"],
        "2afc_accuracy_max": acc["max"], "2afc_accuracy_sd": acc["sd"], "2afc_ec_mean": ec["mean"],
        "2afc_ec_min": ec["min"], "2afc_ec_max": ec["max"], "2afc_ec_sd": ec["sd"],
    })
    tables = res.tables()
    figs = {f["name"]: f for f in two_afc_figures(res, loaded.trials, ctx.fig_dir)}
    sec.add(H.heading("Observers"))
    sec.add(H.table(tables["2afc_observers"], caption="Accuracy per observer: Clopper-Pearson 95 % interval, exact "
                    "two-sided binomial test against 50 %, reaction times (s)", csv_name=ctx.save_table("2afc_observers", tables["2afc_observers"])))
    sec.add(H.table(tables["2afc_summary"], caption="Summary over observers (accuracy) and over pairs of observers "
                    "(error consistency); SD with ddof = 1", csv_name=ctx.save_table("2afc_summary", tables["2afc_summary"])))
    if "2afc_accuracy" in figs:
        sec.add(ctx.figure_html(figs["2afc_accuracy"]))
    sec.add(H.heading("Error consistency between observers"))
    if "2afc_consistency_matrix" in figs:
        sec.add(ctx.figure_html(figs["2afc_consistency_matrix"]))
    sec.add(H.table(tables["2afc_consistency_pairs"], caption="Per pair of observers: kappa, bootstrap 95 % CI over "
                    f"trials (seed {cfg.seed}), the range attainable at their accuracies, exact test against independence",
                    csv_name=ctx.save_table("2afc_consistency_pairs", tables["2afc_consistency_pairs"])))
    ctx.save_table("2afc_consistency_matrix", tables["2afc_consistency_matrix"])
    sec.add(H.heading("Image pairs and models"))
    c = res.pair_correlation
    sec.add(H.paragraph(
        "Share of observers choosing the impossible image, per pair, against the models' accuracy difference "
        f"between the two images: Pearson r = {H.fmt(c['r'], 3)} (95 % CI {H.fmt(c['ci_low'], 3)} to "
        f"{H.fmt(c['ci_high'], 3)}, p = {H.fmt(c['p_value'])}, n = {c['n']} pairs)"
        + (" - undefined when every pair has the same model accuracies (tolerance 0)." if not np.isfinite(c["r"]) else ".")))
    if "2afc_pairs_vs_models" in figs:
        sec.add(ctx.figure_html(figs["2afc_pairs_vs_models"]))
    sec.add(H.table(tables["2afc_pairs"], caption="Per image pair", max_rows=20, csv_name=ctx.save_table("2afc_pairs", tables["2afc_pairs"])))
    sec.add(H.heading("Reaction times"))
    sec.add(H.key_values([("median of observers' median RT (s)", res.rt["median_of_observer_medians"]),
                          ("mean over observers of median RT, correct choices (s)", res.rt["median_correct"]),
                          ("mean over observers of median RT, incorrect choices (s)", res.rt["median_incorrect"])]))
    if "2afc_rt" in figs:
        sec.add(ctx.figure_html(figs["2afc_rt"]))
    sec.add(H.heading("Exclusions"))
    sec.parts += _exclusion_parts(ctx, loaded, "2afc")
    return sec


# ------------------------------------------------------------------------------------------------
# Section: questionnaire


QUESTION_KEYS = {("main_category", "yes"): "q_main_yes", ("main_category", "maybe"): "q_main_maybe",
                 ("main_category", "no"): "q_main_no", ("unusual", "no"): "q_unusual_no",
                 ("unusual", "slightly"): "q_unusual_slightly", ("unusual", "very"): "q_unusual_very"}


def section_questionnaire(ctx: Context) -> H.Section:
    from analysis.questionnaire import analyse_questionnaire, questionnaire_figures, select_items

    sec = H.Section("questionnaire", "Questionnaire: what do trivial and impossible images look like?")
    cfg = ctx.cfg
    found = _sessions_and_set(ctx, sec, "questionnaire", cfg.set_questionnaire)
    if found is None:
        return sec
    loaded, sset = found
    if sset is None:
        sec.available = False
        sec.add(H.missing(f"Stimulus set '{loaded.stimulus_set}' not found in {_places(cfg.stimuli)}: without the images' "
                          "difficulty and model results the questionnaire cannot be analysed (pass --stimuli)."))
        return sec
    source = str(sset.meta.get("provenance", {}).get("source", ""))
    ctx.reference_data = ctx.reference_data or "Meding et al." in source
    ctx.provenance.append(("questionnaire sessions", f"{len(loaded.sessions)} under {cfg.data_root}"))
    ctx.provenance.append(("questionnaire stimulus set", f"{sset.name}" + (f" ({source})" if source else "")
                           + ("; images not included" if not sset.has_images else "")))
    sec.parts += _simulated_note(loaded)
    order = list(sset.test_trials()["stim_id"])
    selections = [
        select_items(sset.stimuli, order, sset.meta, name="all"),
        select_items(sset.stimuli, order, sset.meta, drop_label_issues=True, balance=True, seed=cfg.balance_seed, name="fig6"),
    ]
    titles = {"all": "All images (the set's analysis exclusions left out)",
              "fig6": f"The paper's Fig. 6 selection: label errors left out, subsets balanced (seed {cfg.balance_seed})"}
    for sel in selections:
        res = analyse_questionnaire(loaded.trials, sset.stimuli, sel, seed=cfg.seed, n_boot=min(cfg.n_boot, 1000))
        sec.add(H.heading(titles[sel.name], 3))
        sec.add(H.paragraph(f"{res.n_observers} observers; {sel.describe()}."))
        published = sset.meta.get("reference", {}).get("fig6_equalized_subset", {}).get("stim_ids")
        if sel.name == "fig6" and published:
            same = sorted(published) == sorted(sel.stim_ids)
            sec.add(H.paragraph(f"The drawn selection {'is identical to' if same else 'DIFFERS from'} the subset "
                                f"published with the data ({len(published)} images).", "note"))
        tables = res.tables()
        figs = {f["name"]: f for f in questionnaire_figures(res, ctx.fig_dir)}
        p = f"questionnaire_{sel.name}"
        sec.add(ctx.figure_html(figs[f"{p}_fig6"]))
        sec.add(H.table(tables[f"{p}_proportions"], caption="Responses per answer and the shares of each difficulty",
                        csv_name=ctx.save_table(f"{p}_proportions", tables[f"{p}_proportions"])))
        sec.add(ctx.figure_html(figs[f"{p}_model_accuracy"]))
        sec.add(H.table(tables[f"{p}_model_accuracy"], caption="Mean model accuracy per answer: mean over observers "
                        "of each observer's mean (the paper's definition), its SD over observers, and pooled over responses",
                        csv_name=ctx.save_table(f"{p}_model_accuracy", tables[f"{p}_model_accuracy"])))
        c = res.correlation
        sec.add(H.paragraph(f"Mean number of categories per image vs model accuracy: Pearson r = {H.fmt(c['r'], 3)} "
                            f"(95 % CI {H.fmt(c['ci_low'], 3)} to {H.fmt(c['ci_high'], 3)}, p = {H.fmt(c['p_value'])}, "
                            f"n = {c['n']} images)."))
        sec.add(ctx.figure_html(figs[f"{p}_categories_vs_accuracy"]))
        ctx.save_table(f"{p}_correlation", tables[f"{p}_correlation"])
        sec.add(H.table(tables[f"{p}_agreement"], caption="Agreement between observers (bootstrap 95 % CI over images, "
                        f"seed {cfg.seed}; min and max: the lowest and highest pair of the pairwise Cohen's kappa)",
                        csv_name=ctx.save_table(f"{p}_agreement", tables[f"{p}_agreement"])))
        ctx.save_table(f"{p}_pairwise_kappa", tables[f"{p}_pairwise_kappa"])
        sec.add(H.table(tables[f"{p}_items"], caption="Per image", max_rows=0, csv_name=ctx.save_table(f"{p}_items", tables[f"{p}_items"])))
        acc = res.accuracy.set_index(["question", "answer"])["mean_of_observers"]
        for (q, a), key in QUESTION_KEYS.items():
            ctx.numbers[f"{key}@{sel.name}"] = float(acc.get((q, a), np.nan))
        ctx.numbers[f"q_corr_categories@{sel.name}"] = float(c["r"])
    sec.add(H.heading("Exclusions"))
    sec.parts += _exclusion_parts(ctx, loaded, "questionnaire")
    return sec


# ------------------------------------------------------------------------------------------------
# Section: comparison with the paper


def comparison_table(numbers: dict[str, float], reference_data: bool) -> pd.DataFrame:
    """The paper's number, this data's number (rounded like the paper) and a note per quantity."""
    rows = []
    for pn in PAPER:
        key = pn.key
        if key.startswith("q_"):
            value, extra = numbers.get(f"{key}@fig6"), numbers.get(f"{key}@all")
        elif key.startswith("ddd_"):
            value, extra = numbers.get(DDD_KEYS[key]), None
        else:
            value, extra = numbers.get(key), None
        if value is None or not np.isfinite(value):
            note = "not available in this data"
            shown = None
        else:
            shown = round(float(value), pn.decimals) if pn.decimals else int(round(value))
            if shown == pn.value:
                note = "agrees at the published precision"
            else:
                diff = f"{int(shown - pn.value):+d}" if pn.decimals == 0 else f"{shown - pn.value:+.{pn.decimals}f}"
                note = f"differs by {diff}"
                if not (reference_data and key.startswith("q_")):
                    note += " (different observers, models or images: no agreement expected)"
        if extra is not None and np.isfinite(extra):
            note += f"; on all images: {extra:.{pn.decimals}f}"
        rows.append({"quantity": pn.quantity, "context": pn.context, "paper": pn.value,
                     "this_data": shown, "this_data_unrounded": value, "note": note})
    return pd.DataFrame(rows)


DDD_KEYS = {"ddd_trivial": "models.shares.trivial", "ddd_in_between": "models.shares.in-between",
            "ddd_impossible": "models.shares.impossible", "ddd_flips": "models.flip_share"}


def section_paper(ctx: Context) -> H.Section:
    sec = H.Section("paper", "Comparison with the paper")
    table = comparison_table(ctx.numbers, ctx.reference_data)
    sec.add(H.paragraph(
        "Meding et al. (ICLR 2022) against this data. Questionnaire numbers use the Fig. 6 selection (label errors "
        "left out, subsets balanced by the seeded draw) and the mean over observers of each observer's mean; the "
        "value on all images is given in the note. Values are rounded as the paper rounds them."))
    sec.add(H.table(table.drop(columns=["this_data_unrounded"]), caption="The paper's numbers and this data's",
                    max_rows=None, csv_name=ctx.save_table("comparison_with_paper", table)))
    return sec


# ------------------------------------------------------------------------------------------------
# Methods, assembly, CLI


def methods_section(ctx: Context, started: float) -> H.Section:
    cfg = ctx.cfg
    sec = H.Section("methods", "Methods, provenance and exclusions")
    sec.add(H.paragraph(
        "2AFC accuracy per observer with an exact (Clopper-Pearson) 95 % interval and an exact two-sided binomial "
        "test against 50 % (scipy, statsmodels); SDs over observers with ddof = 1. Error consistency is Cohen's kappa "
        "on trial-by-trial correctness (Geirhos et al., 2020) over the pairs every observer saw (analysis.consistency); "
        f"intervals by percentile bootstrap over trials (seed {cfg.seed}). Questionnaire: mean model accuracy "
        "(n_correct / n_models of the stimulus set) per answer as the mean over observers of each observer's mean, "
        "and pooled; Pearson r with a Fisher-z interval; Fleiss' kappa (Q2, Q3), Krippendorff's alpha (interval) "
        "and ICC(2,1) (Q1), pairwise Cohen's kappa, bootstrap intervals over images. Practice trials and sessions "
        "that are not complete are left out by default and listed."))
    sec.add(H.heading("Provenance"))
    pairs = [("created", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
             ("runs folder", str(cfg.runs)), ("stimulus sets", _places(cfg.stimuli)),
             ("data root", str(cfg.data_root)), ("difficulty tolerance (models section)", cfg.tolerance),
             ("bootstrap seed", cfg.seed), ("balancing seed", cfg.balance_seed),
             ("incomplete sessions included", cfg.include_incomplete), ("pilot sessions included", cfg.include_pilot),
             ("simulated sessions included", cfg.include_simulated),
             *ctx.provenance]
    sec.add(H.key_values(pairs))
    sec.add(H.heading("Software"))
    sec.add(H.key_values(list(software_versions(("statsmodels", "scikit-learn", "matplotlib")).items())))
    sec.add(H.paragraph(f"Report built in {time.perf_counter() - started:.1f} s. Participants appear under their "
                        "pseudonymous ids only.", "note"))
    return sec


def check_inputs(cfg: ReportConfig) -> None:
    """Fail early, before any output, on a user error in the inputs: an ambiguous study or a
    malformed session file (one line naming the file and row)."""
    from analysis.sessions import read_sessions

    if cfg.model_table is not None:
        from labutil.tables import read_table

        read_table(cfg.model_table, required=[cfg.model_table_correct_col])
    elif not cfg.no_models:
        find_study(cfg.runs, cfg.study)
    read_sessions(cfg.data_root)


def build_report(cfg: ReportConfig) -> Path:
    """Run every section and write the report; returns the path of the HTML file."""
    from tqdm import tqdm

    started = time.perf_counter()
    check_inputs(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=f".{cfg.name}.", suffix=".tmp"))
    try:
        ctx = Context(cfg, tmp / f"{cfg.name}_files")
        ctx.work.mkdir()
        builders = [("models and DDD", section_models), ("2AFC experiment", section_2afc),
                    ("questionnaire", section_questionnaire), ("comparison with the paper", section_paper)]
        sections = []
        with tqdm(builders, desc="report", unit="section") as bar:
            for title, build in bar:
                bar.set_postfix_str(title)
                sections.append(build(ctx))
        sections.append(methods_section(ctx, started))
        done = [t for (t, _), s in zip(builders[:-1], sections) if s.available]
        missing = [t for (t, _), s in zip(builders[:-1], sections) if not s.available]
        subtitle = (f"Built {dt.date.today().isoformat()} from {cfg.runs}, {_places(cfg.stimuli)} and {cfg.data_root}. "
                    f"Sections with data: {', '.join(done) or 'none'}."
                    + (f" Missing: {', '.join(missing)}." if missing else ""))
        html = tmp / f"{cfg.name}.html"
        html.write_text(H.page("Trivial or impossible: lab report", subtitle, sections), encoding="utf-8")
        _move_into_place(tmp, out, cfg.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / f"{cfg.name}.html"


def _move_into_place(tmp: Path, out: Path, name: str) -> None:
    """Swap the finished `<name>_files` folder in, then replace `<name>.html` (atomic rename);
    the previous report's files are removed only afterwards."""
    files, target = tmp / f"{name}_files", out / f"{name}_files"
    if target.exists():
        target.rename(tmp / "previous_files")
    files.rename(target)
    os.replace(tmp / f"{name}.html", out / f"{name}.html")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m analysis.report",
        description="Build one self-contained HTML report (figures embedded; figures also as PNG and SVG, every "
                    "table as CSV) from a decisions store, stimulus sets and session data. Sections: models and DDD, "
                    "the 2AFC experiment, the questionnaire, and the comparison with the paper. Missing parts are "
                    "reported as missing; the rest still runs.")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="folder of decisions stores (default: %(default)s)")
    p.add_argument("--study", default=None,
                   help="study name under --runs, or a study folder (default: the only study under --runs)")
    p.add_argument("--no-models", action="store_true",
                   help="leave out the models section (e.g. for the imported reference data, which has no decisions store)")
    p.add_argument("--model-table", type=Path, default=None, metavar="CSV",
                   help="per-image table of how many models were correct (e.g. ../shared/reference/"
                        "imagenet_val_sota11_per_image.csv), analysed instead of a decisions store: the split and "
                        "histogram only")
    p.add_argument("--model-table-correct-col", default="sota_n_correct",
                   help="--model-table column with the models-correct count (default: %(default)s)")
    p.add_argument("--model-table-n-models", type=int, default=11,
                   help="number of models behind --model-table (default: %(default)s)")
    p.add_argument("--model-table-label-col", default="label_error_mturk",
                   help="--model-table column marking label errors (0/1), drawn as red bars; '' for none (default: %(default)s)")
    p.add_argument("--stimuli", type=Path, nargs="+", default=[Path("stimulus_sets")], metavar="PATH",
                   help="stimulus sets: folders of sets and/or set folders; the sessions' sets are looked up "
                        "here by name (default: stimulus_sets)")
    p.add_argument("--data-root", type=Path, default=Path("lab_data"),
                   help="lab data root with the sessions (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("reports"),
                   help="output folder: gets NAME.html and NAME_files/ (default: %(default)s)")
    p.add_argument("--name", default="report",
                   help="file name of the report: NAME.html plus NAME_files/ with figures and tables, both replaced "
                        "when the new report is complete (default: %(default)s)")
    p.add_argument("--set-2afc", default=None,
                   help="analyse the 2AFC sessions of this stimulus set (default: the set most sessions used)")
    p.add_argument("--set-questionnaire", default=None,
                   help="analyse the questionnaire sessions of this set (default: the set most sessions used)")
    p.add_argument("--tolerance", type=int, default=1,
                   help="models allowed to disagree when splitting images into trivial / impossible (default: %(default)s)")
    p.add_argument("--base", default="base", help="base condition for the models' error consistency (default: %(default)s)")
    p.add_argument("--include-incomplete", action="store_true",
                   help="also analyse incomplete and aborted sessions (default: left out and listed)")
    p.add_argument("--include-pilot", action="store_true",
                   help="also analyse pilot sessions (run with --pilot; default: left out and listed)")
    p.add_argument("--include-simulated", action="store_true",
                   help="also analyse sessions of simulated observers (run with --simulate, e.g. by the demo; "
                        "default: left out and listed)")
    p.add_argument("--balance-seed", type=int, default=1312,
                   help="seed of the draw that balances the questionnaire's difficulty subsets; 1312 reproduces "
                        "the paper's Fig. 6 subset (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals (default: %(default)s)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default: %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", args.name):
        raise UserError(f"--name '{args.name}': use letters, digits, '.', '_' or '-' (it names files)")
    if args.n_boot < 100:
        raise UserError(f"--n-boot {args.n_boot}: use at least 100 resamples")
    cfg = ReportConfig(runs=args.runs, study=args.study, no_models=args.no_models, model_table=args.model_table,
                       model_table_correct_col=args.model_table_correct_col, model_table_n_models=args.model_table_n_models,
                       model_table_label_col=args.model_table_label_col or None,
                       stimuli=args.stimuli, data_root=args.data_root,
                       out=args.out, name=args.name, set_2afc=args.set_2afc, set_questionnaire=args.set_questionnaire,
                       tolerance=args.tolerance, base=args.base, include_incomplete=args.include_incomplete,
                       include_pilot=args.include_pilot, include_simulated=args.include_simulated,
                       balance_seed=args.balance_seed, seed=args.seed, n_boot=args.n_boot)
    started = time.perf_counter()
    path = build_report(cfg)
    print(f"report: {path} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
