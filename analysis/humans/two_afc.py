"""The 2AFC experiment: which of two images (one trivial, one impossible) is harder for a network?

Per observer: accuracy (choosing the impossible image) with a Clopper-Pearson 95 % interval, an
exact binomial test against 50 % (one-sided "above chance" by default, two-sided as an option),
with log10 p where p underflows and Holm's correction over observers; d' and criterion c of the
left/right decision (`analysis.humans.sdt`); reaction times. Over observers: mean, SD (ddof=1)
and range, the mean with a two-way (observers x pairs) bootstrap interval
(`analysis.humans.bootstrap`), beside the trial-level Clopper-Pearson interval of the pooled
trials, which ignores that observers differ. Population: the logistic mixed model with crossed
observer and pair effects and the log-RT mixed model (`analysis.humans.mixed`).
Between observers: the error consistency matrix (`analysis.models.consistency`) on the pairs every
observer saw, with per-pair-of-observers bootstrap intervals (over trials: a claim about that
pair of people), attainable bounds and an exact test against independence, and a two-way
bootstrap interval of the mean (observers and pairs resampled; an items-only one beside it).
Per image pair: the share of observers who chose correctly against the models' accuracies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.humans import bootstrap as boot
from analysis.humans import mixed, sdt
from analysis.humans.raters import Coded
from analysis.models import consistency
from analysis.stats import binomial_log10_p, clopper_pearson, holm, pearson, proportion, spearman, summarize


@dataclass
class TwoAFCResult:
    """Tables and headline numbers of the 2AFC analysis (practice and excluded sessions removed)."""

    observers: pd.DataFrame  # one row per observer
    accuracy: dict[str, Any]  # summary over observers (mean, sd, min, max, median, n)
    consistency_matrix: pd.DataFrame  # observers x observers
    consistency_pairs: pd.DataFrame  # one row per pair of observers
    consistency: dict[str, Any]  # summary over pairs + bootstrap interval of the mean
    pairs: pd.DataFrame  # one row per image pair
    pair_correlation: dict[str, Any]  # share correct vs model accuracy difference (Pearson)
    rt: dict[str, Any]
    n_common_pairs: int
    seed: int
    sdt: pd.DataFrame = field(default_factory=pd.DataFrame)  # d', c per observer
    side_bias: dict[str, Any] = field(default_factory=dict)  # t-test of c over observers
    model: mixed.CorrectnessModel | None = None  # logistic mixed model (None: too few observers/pairs)
    rt_model: pd.DataFrame = field(default_factory=pd.DataFrame)  # log RT mixed model
    pair_spearman: dict[str, Any] = field(default_factory=dict)
    alternative: str = "greater"
    notes: list[str] = field(default_factory=list)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, by the CSV name the report gives it."""
        summary = pd.DataFrame([
            {"measure": "accuracy", **self.accuracy},
            {"measure": "error_consistency", **{k: v for k, v in self.consistency.items()}},
        ])
        return {
            "2afc_observers": self.observers,
            "2afc_summary": summary,
            "2afc_consistency_matrix": self.consistency_matrix.reset_index(names="participant_id"),
            "2afc_consistency_pairs": self.consistency_pairs,
            "2afc_pairs": self.pairs,
            "2afc_sdt": self.sdt,
            "2afc_mixed_model": pd.DataFrame(self.model.rows() if self.model else [],
                                             columns=["quantity", "estimate", "ci_low", "ci_high"]),
            "2afc_rt_model": self.rt_model,
        }


def _stimulus_accuracy(stimuli: pd.DataFrame | None) -> dict[str, float]:
    if stimuli is None or stimuli.empty:
        return {}
    acc = stimuli["n_correct"].astype(float) / stimuli["n_models"].astype(float)
    return dict(zip(stimuli["stim_id"], acc))


def observer_table(trials: pd.DataFrame, alternative: str = "greater") -> pd.DataFrame:
    """Accuracy (Clopper-Pearson 95 % CI; exact binomial p vs 0.5, one-sided "greater" or
    "two-sided", its log10 and Holm's correction over observers) and RTs per observer."""
    rows = []
    for (pid, ses), g in trials.groupby(["participant_id", "session"], sort=True):
        k, n = int(g["correct"].sum()), len(g)
        prop = proportion(k, n, null=0.5, alternative=alternative)
        rt = g["rt"].astype(float)
        rows.append({
            "participant_id": pid, "session": int(ses), "n_trials": n, "n_correct": k,
            "accuracy": prop.p, "ci_low": prop.ci_low, "ci_high": prop.ci_high, "p_binomial": prop.p_value,
            "log10_p_binomial": binomial_log10_p(k, n, 0.5, alternative),
            "rt_median": float(rt.median()), "rt_mean": float(rt.mean()),
            "rt_median_correct": float(rt[g["correct"].astype(bool)].median()),
            "rt_median_incorrect": float(rt[~g["correct"].astype(bool)].median()),
            "left_choices": float((g["response_side"] == "left").mean()),
        })
    out = pd.DataFrame(rows)
    if len(out):
        out.insert(out.columns.get_loc("log10_p_binomial") + 1, "p_binomial_holm", holm(out["p_binomial"]))
    return out


def accuracy_summary(trials: pd.DataFrame, seed: int, n_boot: int) -> dict[str, Any]:
    """Mean accuracy over observers with its two-way bootstrap interval (observers and pairs
    resampled), an items-only one, and the trial-level Clopper-Pearson interval of the pooled trials."""
    t = trials.assign(correct=trials["correct"].astype(float))
    k_table = t.pivot_table(index=["participant_id", "session"], columns="pair_id", values="correct", aggfunc="sum", fill_value=0.0)
    n_table = t.pivot_table(index=["participant_id", "session"], columns="pair_id", values="correct", aggfunc="size", fill_value=0)
    stat = boot.mean_accuracy_stat(k_table.to_numpy(dtype=float), n_table.to_numpy(dtype=float))
    out: dict[str, Any] = summarize(k_table.sum(axis=1) / n_table.sum(axis=1)).as_dict()  # each observer's accuracy
    shape = k_table.shape
    out["mean_ci_low"], out["mean_ci_high"] = boot.interval(stat, *shape, seed=seed, n_boot=n_boot)
    out["mean_ci_low_items"], out["mean_ci_high_items"] = boot.interval(stat, *shape, seed=seed, n_boot=n_boot, resample="items")
    k, n = int(trials["correct"].sum()), len(trials)
    out["pooled"] = k / n if n else float("nan")
    out["pooled_ci_low"], out["pooled_ci_high"] = clopper_pearson(k, n)
    return out


def correctness_by_pair(trials: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(n_observers, n_pairs) bool array on the pairs every observer saw, observers, pair ids."""
    wide = trials.pivot_table(index="participant_id", columns="pair_id", values="correct", aggfunc="first")
    wide = wide.dropna(axis=1, how="any")
    return wide.to_numpy(dtype=bool), [str(p) for p in wide.index], wide.columns.to_numpy()


def consistency_tables(correct: np.ndarray, observers: list[str], seed: int, n_boot: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Error consistency between every two observers: matrix, long table and summary."""
    matrix = consistency.error_consistency_matrix(correct)
    acc = correct.mean(axis=1)
    rows = []
    for i in range(len(observers)):
        for j in range(i + 1, len(observers)):
            lo, hi = consistency.bootstrap_ci(correct[i], correct[j], n_boot=n_boot, seed=seed)
            kmin, kmax = consistency.kappa_bounds(acc[i], acc[j])
            test = consistency.independence_test(correct[i], correct[j], method="exact")
            rows.append({
                "observer_a": observers[i], "observer_b": observers[j], "kappa": float(matrix[i, j]),
                "ci_low": lo, "ci_high": hi, "kappa_min": float(kmin), "kappa_max": float(kmax),
                "p_independent": test.p_value,
            })
    pairs = pd.DataFrame(rows, columns=["observer_a", "observer_b", "kappa", "ci_low", "ci_high",
                                        "kappa_min", "kappa_max", "p_independent"])
    summary: dict[str, Any] = summarize(pairs["kappa"]).as_dict()
    (summary["mean_ci_low"], summary["mean_ci_high"]), (summary["mean_ci_low_items"], summary["mean_ci_high_items"]) = \
        mean_kappa_intervals(correct, seed, n_boot=n_boot)
    return pd.DataFrame(matrix, index=observers, columns=observers), pairs, summary


def mean_kappa_intervals(correct: np.ndarray, seed: int, n_boot: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals of the mean pairwise error consistency: two-way (observers and pairs
    resampled; an observer is never paired with its own copy) and over pairs (trials) only."""
    coded = Coded(np.asarray(correct, dtype=float).T, values=[0.0, 1.0])
    stat = lambda r, w: coded.mean_kappa(None, r, w)  # noqa: E731
    n_obs, n = np.asarray(correct).shape
    return (boot.interval(stat, n_obs, n, seed=seed, n_boot=n_boot),
            boot.interval(stat, n_obs, n, seed=seed, n_boot=n_boot, resample="items"))


def pair_table(trials: pd.DataFrame, stimuli: pd.DataFrame | None) -> pd.DataFrame:
    """Per image pair: share of observers correct, and the models' accuracy on both images."""
    acc = _stimulus_accuracy(stimuli)
    t = trials.copy()
    left = t["impossible_side"] == "left"
    t["impossible_stim"] = np.where(left, t["left_stim"], t["right_stim"])
    t["trivial_stim"] = np.where(left, t["right_stim"], t["left_stim"])
    g = t.groupby("pair_id", sort=True)
    out = pd.DataFrame({
        "pair_id": list(g.groups),
        "trivial_stim": g["trivial_stim"].first().to_numpy(),
        "impossible_stim": g["impossible_stim"].first().to_numpy(),
        "n_observers": g["correct"].size().to_numpy(),
        "n_correct": g["correct"].sum().astype(int).to_numpy(),
    })
    out["share_correct"] = out["n_correct"] / out["n_observers"]
    out["model_acc_trivial"] = [acc.get(s, np.nan) for s in out["trivial_stim"]]
    out["model_acc_impossible"] = [acc.get(s, np.nan) for s in out["impossible_stim"]]
    out["model_acc_difference"] = out["model_acc_trivial"] - out["model_acc_impossible"]
    out["rt_median"] = g["rt"].median().to_numpy()
    return out


def analyse_two_afc(trials: pd.DataFrame, stimuli: pd.DataFrame | None = None, seed: int = 0, n_boot: int = 2000,
                    alternative: str = "greater", models: bool = True) -> TwoAFCResult:
    """The whole 2AFC analysis of test trials of the included sessions (see `analysis.humans.sessions`);
    `models=False` leaves out the mixed models (the slow part)."""
    trials = trials[trials["phase"] == "test"] if "phase" in trials else trials
    observers = observer_table(trials, alternative)
    correct, ids, pair_ids = correctness_by_pair(trials)
    notes = []
    n_all = trials["pair_id"].nunique()
    if len(pair_ids) < n_all:
        notes.append(f"error consistency uses the {len(pair_ids)} of {n_all} pairs that every observer saw")
    if len(ids) >= 2 and len(pair_ids) >= 1:
        matrix, cpairs, csummary = consistency_tables(correct, ids, seed, n_boot)
    else:
        matrix = pd.DataFrame(index=ids, columns=ids, dtype=float)
        cpairs = pd.DataFrame(columns=["observer_a", "observer_b", "kappa", "ci_low", "ci_high", "kappa_min", "kappa_max", "p_independent"])
        nan = float("nan")
        csummary = {**summarize([]).as_dict(), "mean_ci_low": nan, "mean_ci_high": nan, "mean_ci_low_items": nan, "mean_ci_high_items": nan}
        notes.append("error consistency needs at least two observers")
    pairs = pair_table(trials, stimuli)
    corr = pearson(pairs["model_acc_difference"], pairs["share_correct"]).as_dict()
    rank = spearman(pairs["model_acc_difference"], pairs["share_correct"]).as_dict()
    sdt_t = sdt.sdt_table(trials)
    prepared = mixed.prepare(trials)
    model = mixed.fit_correctness(prepared, seed=seed) if models else None
    rt_model = mixed.fit_rt(prepared) if models else pd.DataFrame()
    if models and model is None:
        notes.append("the mixed model needs at least two observers, two pairs, and both correct and wrong choices")
    rt = {
        "median_of_observer_medians": float(observers["rt_median"].median()) if len(observers) else float("nan"),
        "mean_of_observer_medians": float(observers["rt_median"].mean()) if len(observers) else float("nan"),
        "median_correct": float(observers["rt_median_correct"].mean()) if len(observers) else float("nan"),
        "median_incorrect": float(observers["rt_median_incorrect"].mean()) if len(observers) else float("nan"),
    }
    return TwoAFCResult(
        observers=observers, accuracy=accuracy_summary(trials, seed, n_boot), consistency_matrix=matrix,
        consistency_pairs=cpairs, consistency=csummary, pairs=pairs, pair_correlation=corr, rt=rt,
        n_common_pairs=len(pair_ids), seed=seed, sdt=sdt_t, side_bias=sdt.population_bias(sdt_t), model=model,
        rt_model=rt_model, pair_spearman=rank, alternative=alternative, notes=notes,
    )


def two_afc_figures(result: TwoAFCResult, trials: pd.DataFrame, out_dir: str | Path) -> list[dict[str, Any]]:
    """Figures: accuracy per observer, the consistency matrix, pairs vs models, RT distributions."""
    from analysis.plotting import COLORS, new_figure, save_figure

    figs = []
    obs = result.observers
    fig, ax = new_figure(5.5, 3.2)
    x = np.arange(len(obs))
    ax.errorbar(x, obs["accuracy"], yerr=[obs["accuracy"] - obs["ci_low"], obs["ci_high"] - obs["accuracy"]],
                fmt="o", color=COLORS["human"], ecolor="#444444", capsize=3, label="observer (95 % CI)")
    ax.axhline(0.5, color=COLORS["neutral"], ls="--", lw=1, label="chance")
    if len(obs):
        ax.axhline(result.accuracy["mean"], color=COLORS["data"], lw=1, label=f"mean {result.accuracy['mean']:.1%}")
    if result.model is not None:
        lo, hi = result.model.population_ci
        ax.axhspan(lo, hi, color=COLORS["data"], alpha=0.15, lw=0, label="population (mixed model, 95 %)")
    ax.set_xticks(x, obs["participant_id"], rotation=45, ha="right")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy (impossible image chosen)")
    ax.legend(loc="lower right", frameon=False)
    figs.append(_saved(save_figure(fig, out_dir, "2afc_accuracy"), "2afc_accuracy",
                       "Accuracy of each observer in the 2AFC task with Clopper-Pearson 95 % intervals (over that observer's "
                       "trials); line: mean over observers; band: the mixed model's population accuracy with its 95 % "
                       "credible interval; dashed: chance."))

    m = result.consistency_matrix
    if len(m) >= 2:
        fig, ax = new_figure(4.6, 3.9)
        values = m.to_numpy(dtype=float).copy()
        np.fill_diagonal(values, np.nan)  # the diagonal (1 by definition) is left blank
        im = ax.imshow(values, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(m)), m.columns, rotation=45, ha="right")
        ax.set_yticks(range(len(m)), m.index)
        for i in range(len(m)):
            for j in range(len(m)):
                if i != j and np.isfinite(m.iat[i, j]):
                    ax.text(j, i, f"{m.iat[i, j]:.2f}", ha="center", va="center", fontsize=6)
        fig.colorbar(im, ax=ax, label="error consistency (kappa)")
        figs.append(_saved(save_figure(fig, out_dir, "2afc_consistency_matrix"), "2afc_consistency_matrix",
                           f"Error consistency between observers on the {result.n_common_pairs} pairs all of them saw."))

    p = result.pairs
    if p["model_acc_difference"].notna().any():
        fig, ax = new_figure(4.6, 3.4)
        jitter = np.random.default_rng(result.seed).uniform(-0.01, 0.01, len(p))
        ax.scatter(p["model_acc_difference"] + jitter, p["share_correct"], s=12, alpha=0.7, color=COLORS["human"])
        ax.set_xlabel("model accuracy: trivial image - impossible image")
        ax.set_ylabel("share of observers correct")
        ax.set_ylim(-0.02, 1.02)
        figs.append(_saved(save_figure(fig, out_dir, "2afc_pairs_vs_models"), "2afc_pairs_vs_models",
                           "Per image pair: share of observers who chose the impossible image against the models' "
                           "accuracy difference between the two images (jittered horizontally)."))

    t = trials[trials["phase"] == "test"] if "phase" in trials else trials
    rts = t["rt"].astype(float)
    if rts.notna().any():
        fig, ax = new_figure(4.6, 3.2)
        hi = float(np.nanquantile(rts, 0.99))
        bins = np.linspace(0, max(hi, 1e-3), 40)
        ok = t["correct"].astype(bool)
        ax.hist(rts[ok].clip(upper=hi), bins=bins, alpha=0.7, color=COLORS["trivial"], label="correct")
        ax.hist(rts[~ok].clip(upper=hi), bins=bins, alpha=0.7, color=COLORS["impossible"], label="incorrect")
        ax.set_xlabel("reaction time (s; top 1 % clipped)")
        ax.set_ylabel("trials")
        ax.legend(frameon=False)
        figs.append(_saved(save_figure(fig, out_dir, "2afc_rt"), "2afc_rt",
                           "Reaction times of all test trials, correct and incorrect choices."))
    return figs


def _saved(paths: dict[str, Path], name: str, caption: str) -> dict[str, Any]:
    return {"name": name, "png": paths["png"], "svg": paths["svg"], "caption": caption}
