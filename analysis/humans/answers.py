"""Questionnaire answers against the models: mean model accuracy per answer (with a two-way
bootstrap interval over observers and images), Pearson and Spearman correlations of the mean
answers with model accuracy, chi-squared with Cramér's V of answer against difficulty, and an
ordinal regression of each answer on difficulty. See `analysis.humans.questionnaire`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.humans import bootstrap as boot
from analysis.humans.questions import CODE_COLUMNS, DIFFICULTIES, MEAN_COLUMNS, QUESTIONS
from analysis.humans.questions import answers as _answers
from analysis.stats import chi2_cramers_v, pearson, spearman


def _answer_accuracy_stat(r: pd.DataFrame, q: str, a: str):
    """mean_of_observers of one answer as a function of bootstrap weights (r over observers, w over images)."""
    wide = r.assign(_a=(_answers(r, q) == a).astype(float)).pivot_table(
        index="stim_id", columns="participant_id", values="_a", aggfunc="first")
    mask = wide.fillna(0.0).to_numpy(dtype=float)  # images x observers
    acc = r.groupby("stim_id")["model_accuracy"].first().reindex(wide.index).to_numpy(dtype=float)

    def stat(rw: np.ndarray, w: np.ndarray) -> float:
        den = w @ mask
        with np.errstate(invalid="ignore", divide="ignore"):
            return boot.observer_mean(np.where(den > 0, ((w * acc) @ mask) / den, np.nan), rw)
    return stat, mask.shape


def accuracy_by_answer(r: pd.DataFrame, seed: int = 0, n_boot: int = 1000) -> pd.DataFrame:
    """Mean model accuracy per answer: mean over observers of each observer's mean (with a two-way
    bootstrap interval over observers and images), and pooled."""
    rows = []
    for q, spec in QUESTIONS.items():
        ans = _answers(r, q)
        for a in spec["answers"]:
            sel = r[ans == a]
            if sel.empty and q == "n_categories":
                continue
            per_obs = sel.groupby("participant_id")["model_accuracy"].mean()
            lo = hi = float("nan")
            if per_obs.size:
                stat, (n_items, n_obs) = _answer_accuracy_stat(r, q, a)
                lo, hi = boot.interval(stat, n_obs, n_items, seed=seed, n_boot=n_boot)
            rows.append({
                "question": q, "answer": a, "n_responses": len(sel), "n_observers": int(per_obs.size),
                "mean_of_observers": float(per_obs.mean()) if per_obs.size else float("nan"),
                "ci_low": lo, "ci_high": hi,
                "sd_of_observers": float(per_obs.std(ddof=1)) if per_obs.size > 1 else float("nan"),
                "pooled": float(sel["model_accuracy"].mean()) if len(sel) else float("nan"),
            })
    return pd.DataFrame(rows)


def correlations(items: pd.DataFrame) -> pd.DataFrame:
    """Per question: Pearson and Spearman correlation over images of the mean answer with model accuracy."""
    rows = []
    for q, col in MEAN_COLUMNS.items():
        for name, fn in (("pearson", pearson), ("spearman", spearman)):
            rows.append({"question": q, "x": col, "y": "model_accuracy", "method": name,
                         **fn(items[col], items["model_accuracy"]).as_dict()})
    return pd.DataFrame(rows)


def difficulty_association(r: pd.DataFrame) -> pd.DataFrame:
    """Per question: chi-squared test of answer x difficulty over all responses, with Cramér's V."""
    rows = []
    for q in QUESTIONS:
        table = pd.crosstab(r[CODE_COLUMNS[q]], r["difficulty"]).reindex(columns=list(DIFFICULTIES), fill_value=0)
        rows.append({"question": q, **chi2_cramers_v(table.to_numpy()).as_dict()})
    return pd.DataFrame(rows)


def ordinal_regression(r: pd.DataFrame) -> pd.DataFrame:
    """Per question: proportional-odds (logit) regression of the answer code on difficulty
    (in-between, impossible against trivial), SEs clustered by image; log odds of a higher code."""
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    from analysis.warning_notes import fitting

    cols = ["question", "term", "log_odds", "ci_low", "ci_high", "odds_ratio", "p_value", "n_responses", "n_images"]
    rows = []
    for q in QUESTIONS:
        y = r[CODE_COLUMNS[q]].astype(int)
        x = pd.get_dummies(pd.Categorical(r["difficulty"], categories=list(DIFFICULTIES)), drop_first=True).astype(float)
        x = x.loc[:, x.std() > 0]
        if y.nunique() < 2 or x.shape[1] == 0 or r["stim_id"].nunique() < 3:
            continue
        with fitting(f"the ordinal regression of {q} on difficulty (OrderedModel)"):
            fit = OrderedModel(pd.Series(pd.Categorical(y, ordered=True)), x.reset_index(drop=True), distr="logit").fit(
                method="bfgs", disp=False, cov_type="cluster", cov_kwds={"groups": pd.factorize(r["stim_id"])[0]})
        ci = fit.conf_int()
        for term in x.columns:
            b = float(fit.params[term])
            rows.append({"question": q, "term": f"difficulty[{term}]", "log_odds": b, "ci_low": float(ci.loc[term, 0]),
                         "ci_high": float(ci.loc[term, 1]), "odds_ratio": float(np.exp(b)),
                         "p_value": float(fit.pvalues[term]), "n_responses": len(r), "n_images": int(r["stim_id"].nunique())})
    return pd.DataFrame(rows, columns=cols)
