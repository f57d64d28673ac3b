"""The learning-dynamics measures set side by side with DDD, image statistics and questionnaire
answers, and the per-epoch curves of Pliushch et al. ("When Deep Classifiers Agree").

`per_image_table` reduces the per-model measures to one value per image (the mean over models;
an image not learned by a model's last epoch counts as learned one epoch after it, a lower bound),
`by_category` summarises each measure in trivial / in-between / impossible images, and
`correlations` gives Spearman's r (95 % CI, Fisher z with the Bonett-Wright SE) of each measure
with each correlate. `statistic_curves` is, per epoch and image statistic, the mean statistic of
the images all models get right at that epoch, beside the mean over all images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.dynamics import forgetting as fg

#: Per-image measures and what they say (for tables and captions).
MEASURES: dict[str, str] = {
    "forgetting_events": "forgetting events (correct -> wrong transitions), mean over models",
    "first_epoch_learned": "first epoch correct, mean over models",
    "iteration_learned": "epoch from which the image stays correct, mean over models",
    "share_epochs_correct": "share of epochs correct, mean over models",
    "irt_1pl_difficulty": "1PL (Rasch) difficulty on final correctness",
    "irt_2pl_difficulty": "2PL difficulty on final correctness",
    "irt_2pl_discrimination": "2PL discrimination on final correctness",
    "confidence": "cartography confidence (mean true-class probability), mean over models",
    "variability": "cartography variability (SD of true-class probability), mean over models",
    "correctness": "cartography correctness (share of epochs correct), mean over models",
}


def per_image_table(dyn: object, irt: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per image: the mean over models of every measure of a `load.Dynamics`, plus IRT columns."""
    after = dyn.last_epoch[:, None] + 1.0  # type: ignore[attr-defined]
    cols: dict[str, np.ndarray] = {
        "image_index": np.arange(dyn.forgetting_events.shape[1]),  # type: ignore[attr-defined]
        "forgetting_events": dyn.forgetting_events.mean(axis=0),  # type: ignore[attr-defined]
        "never_learned_share": dyn.never_learned.mean(axis=0),  # type: ignore[attr-defined]
        "first_epoch_learned": fg.censored(dyn.first_epoch_learned, after).mean(axis=0),  # type: ignore[attr-defined]
        "iteration_learned": fg.censored(dyn.iteration_learned, after).mean(axis=0),  # type: ignore[attr-defined]
        "share_epochs_correct": dyn.share_epochs_correct.mean(axis=0),  # type: ignore[attr-defined]
    }
    for name in ("confidence", "variability", "correctness"):
        arr = getattr(dyn, name)
        if arr is not None:
            cols[name] = arr.mean(axis=0)
    for name, values in (irt or {}).items():
        cols[name] = np.asarray(values)
    return pd.DataFrame(cols)


def measures_in(table: pd.DataFrame) -> list[str]:
    """The measures of MEASURES that the table has, in MEASURES order."""
    return [m for m in MEASURES if m in table.columns]


def by_category(table: pd.DataFrame, levels: np.ndarray, order: Sequence[str] = ("trivial", "in-between", "impossible")) -> pd.DataFrame:
    """Per measure and DDD category: number of images, mean, median, 25 % and 75 % quantiles."""
    rows = []
    lv = np.asarray(levels)
    for m in measures_in(table):
        v = table[m].to_numpy(dtype=np.float64)
        for cat in order:
            x = v[lv == cat]
            x = x[np.isfinite(x)]
            q = np.quantile(x, [0.25, 0.5, 0.75]) if x.size else [np.nan] * 3
            rows.append({"measure": m, "category": cat, "n_images": int(x.size), "mean": float(x.mean()) if x.size else np.nan,
                         "median": float(q[1]), "q25": float(q[0]), "q75": float(q[2])})
    return pd.DataFrame(rows)


def correlations(table: pd.DataFrame, correlates: Mapping[str, np.ndarray], index: np.ndarray | None = None) -> pd.DataFrame:
    """Spearman r (with CI and n) of every measure with every correlate.

    Correlates are arrays over all images, or, with `index`, over the images `index` names (the
    images the questionnaire asked about).
    """
    from analysis.models.image_stats import spearman_ci

    rows = []
    for m in measures_in(table):
        v = table[m].to_numpy(dtype=np.float64)
        for name, c in correlates.items():
            x = v if index is None else v[np.asarray(index)]
            r, lo, hi, n = spearman_ci(x, np.asarray(c, dtype=np.float64))
            rows.append({"measure": m, "correlate": name, "spearman_r": r, "ci_low": lo, "ci_high": hi, "n_images": n})
    return pd.DataFrame(rows)


def statistic_curves(stats_frame: pd.DataFrame, n_correct: np.ndarray, n_models: int, epochs: np.ndarray,
                     statistics: Sequence[str]) -> pd.DataFrame:
    """Per epoch and statistic: mean (and n) over the images all models get right, and over all images."""
    rows = []
    n = np.asarray(n_correct)
    for s in statistics:
        v = stats_frame[s].to_numpy(dtype=np.float64)
        for e, counts in zip(epochs, n):
            agreed = counts == n_models
            rows.append({"statistic": s, "epoch": int(e), "mean_all_right": float(v[agreed].mean()) if agreed.any() else np.nan,
                         "n_all_right": int(agreed.sum()), "mean_all_images": float(v.mean())})
    return pd.DataFrame(rows)


def questionnaire_answers(trials: pd.DataFrame, stimuli: pd.DataFrame, image_ids: Sequence[str]) -> pd.DataFrame:
    """Per image of the study that the questionnaire asked about: image_index and the observers'
    mean answers (number of categories, main category no=0/maybe=1/yes=2, unusual no=0/slightly=1/very=2),
    matched through the stimulus set's source_image_id."""
    from analysis.humans.questions import QUESTIONS

    t = trials[trials["phase"] == "test"] if "phase" in trials else trials
    src = stimuli.set_index("stim_id")["source_image_id"].astype(str)
    pos = {str(i): k for k, i in enumerate(image_ids)}
    r = t.assign(image_index=t["stim_id"].map(src).map(pos)).dropna(subset=["image_index"])
    r = r.assign(n_categories=pd.to_numeric(r["n_categories"], errors="coerce"),
                 main_category=r["main_category"].map(QUESTIONS["main_category"]["codes"]),
                 unusual=r["unusual"].map(QUESTIONS["unusual"]["codes"]))
    g = r.groupby(r["image_index"].astype(int))
    return pd.DataFrame({"image_index": list(g.groups), "n_observers": g["participant_id"].nunique().to_numpy(),
                         "mean_n_categories": g["n_categories"].mean().to_numpy(),
                         "mean_main_category": g["main_category"].mean().to_numpy(),
                         "mean_unusual": g["unusual"].mean().to_numpy()})
