"""The follow-up questionnaire: what do images that models find trivial or impossible look like?

For each question (Q1 number of categories, Q2 main category, Q3 unusual presentation):
- the shares of trivial, in-between and impossible images among the answers, normalised per
  answer (the paper's Fig. 6);
- the mean model accuracy of the images given each answer, two ways: `mean_of_observers` (each
  observer's mean over the images they gave that answer, averaged over observers; this is the
  definition that reproduces the paper's 0.64 / 0.44 / 0.37 and 0.61 / 0.55 / 0.34 on the Fig. 6
  subset) and `pooled` (mean over all observer x image responses);
  `mean_of_observers` carries a two-way (observers x images) bootstrap interval;
- the Pearson and Spearman correlations, over images, between each mean answer and the models'
  accuracy (n_correct / n_models from the stimulus set);
- answer against difficulty: chi-squared with Cramér's V over all responses (descriptive: the
  responses are not independent, every image is rated by every observer), and an ordinal
  (proportional-odds, logit) regression of each answer on difficulty (statsmodels
  `OrderedModel`, standard errors clustered by image);
- agreement between observers at the level of the data: Q1 (a count) quadratic-weighted kappa,
  Krippendorff's alpha at interval and ratio level and ICC(2,1) with its F interval; Q2/Q3
  (ordinal) ordinal alpha and linear/quadratic-weighted kappa; for all, Fleiss' kappa and the
  unweighted pairwise Cohen's kappa as the nominal reference. Intervals resample observers and
  images (two-way bootstrap) unless the row's `ci_method` says otherwise; `ci_low_items` /
  `ci_high_items` resample images only, for comparison.

The definitions of the questions live in `analysis.humans.questions`, the answers-against-models
statistics in `analysis.humans.answers`, the agreement in `analysis.humans.questionnaire_agreement`.

Item selection (`select_items`): images the set lists under `analysis_exclusions` are always left
out; optionally images with likely label errors (`label_issues`); optionally the three difficulty
subsets are balanced to the size of the smallest by a seeded draw that follows the original
study's procedure exactly (numpy's legacy `RandomState(seed).choice(..., replace=False)`, first
over the in-between, then the trivial, then the impossible images, in the set's trial order;
a subset already at the target size is not drawn from), so seed 1312 reproduces its Fig. 6 subset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.humans.answers import accuracy_by_answer, correlations, difficulty_association, ordinal_regression
from analysis.humans.questionnaire_agreement import agreement
from analysis.humans.questions import BALANCE_ORDER, DIFFICULTIES, QUESTIONS, answer_label
from analysis.humans.questions import answers as _answers
from analysis.stats import pearson
from analysis.warning_notes import fitting
from labutil.errors import UserError


@dataclass(frozen=True)
class ItemSelection:
    """The images that enter one questionnaire analysis, and why the others were left out."""

    name: str
    stim_ids: list[str]
    dropped: dict[str, list[str]]
    drop_label_issues: bool
    balance: bool
    seed: int | None

    def describe(self) -> str:
        parts = [f"{len(self.stim_ids)} images"]
        parts += [f"{len(v)} left out: {k}" for k, v in self.dropped.items() if v]
        return "; ".join(parts)


def set_item_lists(meta: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(analysis exclusions, label-issue images) recorded in a stimulus set's set.json, if any."""
    def ids(key: str) -> list[str]:
        v = meta.get(key) or {}
        return [str(s) for s in (v.get("stim_ids", []) if isinstance(v, dict) else v)]
    return ids("analysis_exclusions"), ids("label_issues")


def balanced_drop(items: pd.DataFrame, seed: int) -> list[str]:
    """Stim ids removed to balance the difficulty subsets (see module docstring), in draw order."""
    counts = items["difficulty"].value_counts()
    target = int(min(counts.get(d, 0) for d in DIFFICULTIES))
    rs = np.random.RandomState(seed)  # legacy generator: reproduces the original study's draw
    removed: list[str] = []
    for diff in BALANCE_ORDER:
        ids = items.loc[items["difficulty"] == diff, "stim_id"].to_numpy()
        if len(ids) > target:
            removed += [str(s) for s in rs.choice(ids, len(ids) - target, replace=False)]
    return removed


def select_items(
    stimuli: pd.DataFrame,
    order: list[str],
    meta: dict[str, Any],
    drop_label_issues: bool = False,
    balance: bool = False,
    seed: int | None = None,
    name: str = "all",
) -> ItemSelection:
    """Choose the images of one analysis. `order` is the set's test stim ids in trial order."""
    excluded, label_issues = set_item_lists(meta)
    diff = dict(zip(stimuli["stim_id"], stimuli["difficulty"]))
    dropped: dict[str, list[str]] = {"listed in the set's analysis_exclusions": [s for s in order if s in set(excluded)]}
    keep = [s for s in order if s not in set(excluded)]
    if drop_label_issues:
        dropped["likely label errors"] = [s for s in keep if s in set(label_issues)]
        keep = [s for s in keep if s not in set(label_issues)]
    if balance:
        if seed is None:
            raise UserError("balancing the difficulty subsets needs a seed (--balance-seed)")
        items = pd.DataFrame({"stim_id": keep, "difficulty": [diff[s] for s in keep]})
        removed = set(balanced_drop(items, seed))
        dropped[f"balancing the three subsets (seed {seed})"] = [s for s in keep if s in removed]
        keep = [s for s in keep if s not in removed]
    return ItemSelection(name, keep, dropped, drop_label_issues, balance, seed)


def responses(trials: pd.DataFrame, stimuli: pd.DataFrame, selection: ItemSelection) -> pd.DataFrame:
    """Test responses on the selected images, with difficulty, model accuracy and answer codes."""
    known = set(stimuli["stim_id"])
    unknown = sorted(set(trials["stim_id"]) - known)
    if unknown:
        raise UserError(f"questionnaire sessions name stimuli not in the stimulus set: {unknown[:3]}")
    r = trials[trials["stim_id"].isin(set(selection.stim_ids))].copy()
    info = stimuli.set_index("stim_id")
    r["difficulty"] = r["stim_id"].map(info["difficulty"])
    r["model_accuracy"] = r["stim_id"].map(info["n_correct"].astype(float) / info["n_models"].astype(float))
    r["n_categories"] = r["n_categories"].astype(int)
    r["main_category_code"] = r["main_category"].map(QUESTIONS["main_category"]["codes"])
    r["unusual_code"] = r["unusual"].map(QUESTIONS["unusual"]["codes"])
    return r.reset_index(drop=True)


def answer_proportions(r: pd.DataFrame) -> pd.DataFrame:
    """Per question and answer: counts and per-answer shares of trivial / in-between / impossible."""
    rows = []
    for q, spec in QUESTIONS.items():
        ans = _answers(r, q)
        for a in spec["answers"]:
            sel = r.loc[ans == a, "difficulty"]
            n = len(sel)
            if q == "n_categories" and n == 0:
                continue
            row = {"question": q, "answer": a, "n_responses": n}
            for d in DIFFICULTIES:
                k = int((sel == d).sum())
                row[f"n_{d}"] = k
                row[f"share_{d}"] = k / n if n else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def item_table(r: pd.DataFrame) -> pd.DataFrame:
    """Per image: difficulty, model accuracy and the observers' mean answers (codes)."""
    g = r.groupby("stim_id", sort=False)
    return pd.DataFrame({
        "stim_id": list(g.groups),
        "difficulty": g["difficulty"].first().to_numpy(),
        "model_accuracy": g["model_accuracy"].first().to_numpy(),
        "n_observers": g["participant_id"].nunique().to_numpy(),
        "mean_n_categories": g["n_categories"].mean().to_numpy(),
        "mean_main_category": g["main_category_code"].mean().to_numpy(),
        "mean_unusual": g["unusual_code"].mean().to_numpy(),
    })


@dataclass
class QuestionnaireResult:
    """Tables and headline numbers of one questionnaire analysis (one item selection)."""

    selection: ItemSelection
    n_observers: int
    proportions: pd.DataFrame
    accuracy: pd.DataFrame
    items: pd.DataFrame
    correlation: dict[str, Any]
    agreement: pd.DataFrame
    pairwise_kappa: pd.DataFrame
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)  # Pearson and Spearman per question
    association: pd.DataFrame = field(default_factory=pd.DataFrame)  # chi-squared, Cramér's V
    ordinal: pd.DataFrame = field(default_factory=pd.DataFrame)  # OrderedModel per question
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        s = self.selection.name
        corr = pd.DataFrame([{"x": "mean_n_categories", "y": "model_accuracy", **self.correlation}])
        return {
            f"questionnaire_{s}_proportions": self.proportions,
            f"questionnaire_{s}_model_accuracy": self.accuracy,
            f"questionnaire_{s}_items": self.items,
            f"questionnaire_{s}_correlation": corr,
            f"questionnaire_{s}_agreement": self.agreement,
            f"questionnaire_{s}_pairwise_kappa": self.pairwise_kappa,
            f"questionnaire_{s}_correlations": self.correlations,
            f"questionnaire_{s}_difficulty_chi2": self.association,
            f"questionnaire_{s}_ordinal_regression": self.ordinal,
        }


def analyse_questionnaire(trials: pd.DataFrame, stimuli: pd.DataFrame, selection: ItemSelection,
                          seed: int = 0, n_boot: int = 1000) -> QuestionnaireResult:
    """The whole questionnaire analysis of the included sessions' test rows on the selected images."""
    trials = trials[trials["phase"] == "test"] if "phase" in trials else trials
    r = responses(trials, stimuli, selection)
    items = item_table(r)
    corr = pearson(items["mean_n_categories"], items["model_accuracy"]).as_dict()
    with fitting("agreement between observers"):  # one observer: undefined, said in a sentence by the report
        agree, pairwise = agreement(r, seed=seed, n_boot=n_boot)
    return QuestionnaireResult(selection, int(r["participant_id"].nunique()), answer_proportions(r),
                               accuracy_by_answer(r, seed=seed, n_boot=n_boot), items, corr, agree, pairwise,
                               correlations(items), difficulty_association(r), ordinal_regression(r))


def questionnaire_figures(result: QuestionnaireResult, out_dir: str | Path) -> list[dict[str, Any]]:
    """The paper's Fig. 6 (shares per answer), model accuracy per answer, and categories vs accuracy."""
    from analysis.plotting import COLORS, new_figure, save_figure

    s = result.selection.name
    figs = []
    fig, axes = new_figure(9.0, 3.2, 1, 3, gridspec_kw={"width_ratios": [2.2, 1, 1]}, sharey=True)
    for ax, (q, spec) in zip(axes, QUESTIONS.items()):
        p = result.proportions[result.proportions["question"] == q]
        x = np.arange(len(p))
        bottom = np.zeros(len(p))
        for d in DIFFICULTIES:
            ax.bar(x, p[f"share_{d}"].fillna(0), bottom=bottom, color=COLORS[d], label=d, width=0.7)
            bottom += p[f"share_{d}"].fillna(0).to_numpy()
        ax.set_xticks(x, [answer_label(q, a) for a in p["answer"]])
        ax.set_xlabel(spec["label"])
    axes[0].set_ylabel("share of responses")
    axes[-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figs.append({"name": f"questionnaire_{s}_fig6", **save_figure(fig, out_dir, f"questionnaire_{s}_fig6"),
                 "caption": f"Shares of trivial, in-between and impossible images per answer, normalised per answer "
                            f"(the paper's Fig. 6); {result.selection.describe()}."})

    fig, axes = new_figure(9.0, 3.0, 1, 3, gridspec_kw={"width_ratios": [2.2, 1, 1]}, sharey=True)
    for ax, (q, spec) in zip(axes, QUESTIONS.items()):
        a = result.accuracy[result.accuracy["question"] == q].reset_index(drop=True)
        x = np.arange(len(a))
        m = a["mean_of_observers"]
        yerr = [(m - a["ci_low"]).clip(lower=0).fillna(0), (a["ci_high"] - m).clip(lower=0).fillna(0)]
        ax.errorbar(x, m, yerr=yerr, fmt="o", capsize=3, color=COLORS["model"], label="mean of observers (95 % CI)")
        ax.plot(x, a["pooled"], "x", color=COLORS["neutral"], label="pooled")
        ax.set_xticks(x, a["answer"])
        ax.set_xlabel(spec["label"])
    axes[0].set_ylabel("mean model accuracy")
    axes[0].set_ylim(-0.05, 1.05)
    axes[-1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figs.append({"name": f"questionnaire_{s}_model_accuracy", **save_figure(fig, out_dir, f"questionnaire_{s}_model_accuracy"),
                 "caption": "Mean model accuracy of the images given each answer: the mean over observers of each "
                            "observer's mean, with its 95 % interval from a bootstrap over observers and images, and the "
                            "pooled mean."})

    it = result.items
    fig, ax = new_figure(4.6, 3.4)
    for d in DIFFICULTIES:
        sel = it[it["difficulty"] == d]
        ax.scatter(sel["mean_n_categories"], sel["model_accuracy"], s=10, alpha=0.7, color=COLORS[d], label=d)
    c = result.correlation
    ax.set_title(f"Pearson r = {c['r']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}], n = {c['n']}" if np.isfinite(c["r"]) else "r undefined")
    ax.set_xlabel("mean number of categories (observers)")
    ax.set_ylabel("model accuracy")
    ax.legend(frameon=False, fontsize=7)
    figs.append({"name": f"questionnaire_{s}_categories_vs_accuracy", **save_figure(fig, out_dir, f"questionnaire_{s}_categories_vs_accuracy"),
                 "caption": "Per image: the observers' mean number of categories against the models' accuracy."})
    return figs
