"""The DDD figures. Each function draws one figure from plain arrays / DataFrames and returns it;
the caller saves it with `analysis.plotting.save_figure`. No computation beyond layout here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.plotting import COLORS, CYCLE, new_figure

#: Maps with more image columns than this are shown as block averages of sorted images.
MAX_MAP_COLUMNS = 2000


def _integer_x(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def condition_colors(order: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per condition, in the given order (the project cycle, or tab20 beyond it)."""
    if len(order) <= len(CYCLE):
        return {c: CYCLE[i] for i, c in enumerate(order)}
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {c: cmap(i % 20) for i, c in enumerate(order)}


def block_average(a: np.ndarray, max_columns: int = MAX_MAP_COLUMNS) -> tuple[np.ndarray, int]:
    """Average contiguous column blocks so that at most `max_columns` remain; returns (array, block)."""
    a = np.asarray(a, dtype=np.float32)
    n = a.shape[1]
    block = int(np.ceil(n / max_columns)) if n > max_columns else 1
    if block == 1:
        return a, 1
    pad = (-n) % block
    if pad:
        # pad with the edge column so the last block is not diluted
        a = np.concatenate([a, np.repeat(a[:, -1:], pad, axis=1)], axis=1)
    return a.reshape(a.shape[0], -1, block).mean(axis=2), block


def histogram_figure(table: pd.DataFrame, tolerance: int, shares: dict[str, float], title: str) -> Any:
    """Images per number of models correct, label issues in red, independent-model nulls (Fig. 1)."""
    fig, ax = new_figure(6.0, 3.4)
    k = table["n_correct"].to_numpy()
    n = table["n_images"].to_numpy()
    issues = table["n_label_issues"].to_numpy() if "n_label_issues" in table else np.zeros_like(n)
    w = 0.38
    ax.bar(k - w / 2, n - issues, width=w, color=COLORS["data"], label="observed")
    if issues.any():
        ax.bar(k - w / 2, issues, width=w, bottom=n - issues, color=COLORS["label_issue"], label="label issues")
    if "expected_binomial" in table:
        ax.bar(k + w / 2, table["expected_binomial"], width=w, color=COLORS["null"], alpha=0.8,
               label="independent models (binomial, mean accuracy)")
    if "expected_poisson_binomial" in table:
        ax.plot(k + w / 2, table["expected_poisson_binomial"], "o", ms=3.5, color=COLORS["null2"],
                label="independent models (Poisson-binomial)")
    m = int(k.max())
    ax.axvspan(-0.5, tolerance + 0.5, color=COLORS["impossible"], alpha=0.08, lw=0)
    ax.axvspan(m - tolerance - 0.5, m + 0.5, color=COLORS["trivial"], alpha=0.08, lw=0)
    top = max(float(n.max(initial=0)), float(table.get("expected_binomial", pd.Series([0])).max()))
    ax.set_ylim(0, 1.3 * top if top > 0 else 1)  # headroom for the legend
    ax.set_xlim(-0.6, m + 0.6)
    ax.set_xticks(k if m <= 30 else np.linspace(0, m, 11).round().astype(int))
    ax.set_xlabel(f"number of models correct (of {m})")
    ax.set_ylabel("images")
    txt = (f"k = {tolerance}: trivial {shares['trivial']:.1%}, in-between {shares['in-between']:.1%}, "
           f"impossible {shares['impossible']:.1%}")
    ax.set_title(f"{title}\n{txt}")
    ax.legend(frameon=False, loc="upper center")
    return fig


def condition_consistency_figure(conds: pd.DataFrame, models: pd.DataFrame, order: Sequence[str], title: str) -> Any:
    """Mean error consistency per condition against the base (bars), single models (dots) (Fig. 2);
    conditions compared with each other get a second, hatched bar "(each other)"."""
    colors = condition_colors(order)
    comparison = conds["comparison"] if "comparison" in conds else pd.Series(["with base"] * len(conds), index=conds.index)
    slots = list(zip(conds["condition"], comparison))  # already in order: base first, "with base" before "each other"
    fig, ax = new_figure(max(4.0, 0.55 * len(slots) + 1.5), 3.4)
    x = {slot: i for i, slot in enumerate(slots)}
    for (cond, comp), (_, row) in zip(slots, conds.iterrows()):
        i = x[(cond, comp)]
        ax.bar(i, row["kappa_mean"], width=0.7, color=colors[cond], alpha=0.45, hatch="//" if comp == "each other" else None)
        ax.plot([i - 0.35, i + 0.35], [row["kappa_max_possible"]] * 2, color="k", lw=0.8, ls=":")
    rng = np.random.default_rng(0)  # fixed jitter, for layout only
    for _, row in models.iterrows():
        i = x[(row["condition"], row.get("comparison", "with base"))]
        ax.plot(i + rng.uniform(-0.2, 0.2), row["kappa"], "o", ms=3.5, color=colors[row["condition"]], mec="k", mew=0.4)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(range(len(slots)))
    ax.set_xticklabels([c if comp == "with base" else f"{c} (each other)" for c, comp in slots], rotation=45, ha="right")
    ax.set_ylabel("error consistency (kappa)")
    ax.set_ylim(min(-0.1, float(np.nanmin(models["kappa"])) - 0.05) if len(models) else -0.1, 1.02)
    ax.set_title(title)
    return fig


def matrix_figure(kappa: np.ndarray, model_ids: Sequence[str], conditions: Sequence[str], title: str) -> Any:
    """Error consistency of every pair of models, grouped by condition (Fig. 10)."""
    n = len(model_ids)
    size = min(max(3.5, 0.28 * n + 2.0), 12.0)
    fig, ax = new_figure(size + 1.0, size)
    im = ax.imshow(kappa, cmap="viridis", vmin=min(0.0, float(np.nanmin(kappa))), vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label="kappa")
    if n <= 60:
        ax.set_xticks(range(n))
        ax.set_yticks(range(n))
        ax.set_xticklabels(model_ids, rotation=90, fontsize=6)
        ax.set_yticklabels(model_ids, fontsize=6)
    bounds = [i for i in range(1, n) if conditions[i] != conditions[i - 1]]
    for b in bounds:
        ax.axhline(b - 0.5, color="w", lw=0.8)
        ax.axvline(b - 0.5, color="w", lw=0.8)
    if n <= 16:
        for i in range(n):
            for j in range(n):
                if np.isfinite(kappa[i, j]):
                    t = ax.text(j, i, f"{kappa[i, j]:.2f}", ha="center", va="center", fontsize=5,
                                color="k" if kappa[i, j] > 0.6 else "w")
                    t.set_in_layout(False)  # inside the axes: no need to measure it for the layout
    ax.set_title(title)
    return fig


def decision_map_figure(correct: np.ndarray, epochs: np.ndarray, title: str) -> Any:
    """One model's decisions, images (sorted by mean accuracy over epochs) x epochs (Fig. 4)."""
    c = np.asarray(correct, dtype=np.float32)
    order = np.argsort(-c.mean(axis=0), kind="stable")
    shown, block = block_average(c[:, order])
    fig, ax = new_figure(7.0, 3.2)
    ax.imshow(shown, aspect="auto", cmap="gray", vmin=0, vmax=1, interpolation="nearest", origin="lower",
              extent=(0, c.shape[1], -0.5, len(epochs) - 0.5))
    _epoch_ticks(ax, epochs)
    ax.set_xlabel("images, sorted by accuracy over epochs" + (f" (blocks of {block} averaged)" if block > 1 else ""))
    ax.set_title(title + " (white: correct, black: wrong)")
    return fig


def overlay_figure(n_correct: np.ndarray, n_models: int, epochs: np.ndarray, title: str) -> Any:
    """Share of models correct per image and epoch, images sorted by mean (Fig. 5)."""
    share = np.asarray(n_correct, dtype=np.float32) / n_models
    order = np.argsort(-share.mean(axis=0), kind="stable")
    shown, block = block_average(share[:, order])
    fig, ax = new_figure(7.0, 3.4)
    im = ax.imshow(shown, aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest", origin="lower",
                   extent=(0, share.shape[1], -0.5, len(epochs) - 0.5))
    fig.colorbar(im, ax=ax, label="share of models correct")
    _epoch_ticks(ax, epochs)
    ax.set_xlabel("images, sorted by accuracy over models and epochs" + (f" (blocks of {block} averaged)" if block > 1 else ""))
    ax.set_title(title)
    return fig


def _epoch_ticks(ax: Any, epochs: np.ndarray) -> None:
    n = len(epochs)
    step = max(1, int(np.ceil(n / 10)))
    pos = np.arange(0, n, step)
    ax.set_yticks(pos)
    ax.set_yticklabels([str(int(epochs[p])) for p in pos])
    ax.set_ylabel("epoch")


def lines_by_condition_figure(
    frame: pd.DataFrame, x: str, y: str, order: Sequence[str], ylabel: str, title: str, percent: bool = True
) -> Any:
    """Thin line per model, thick line for the condition mean (Fig. 7, Fig. 11)."""
    fig, ax = new_figure(6.0, 3.4)
    colors = condition_colors(order)
    for (model, cond), g in frame.groupby(["model_id", "condition"], sort=False):
        ax.plot(g[x], g[y], color=colors[cond], lw=0.6, alpha=0.5)
    for cond in order:
        g = frame[frame["condition"] == cond].groupby(x)[y].mean()
        if len(g):
            ax.plot(g.index, g.to_numpy(), color=colors[cond], lw=2.0, label=cond)
    if percent:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _integer_x(ax)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, ncol=2 if len(order) > 6 else 1, fontsize=7)
    ax.set_title(title)
    return fig


def class_accuracy_figure(table: pd.DataFrame, title: str) -> Any:
    """Class accuracies sorted (mean over models, band from the worst to the best model) (Fig. 6)."""
    fig, ax = new_figure(6.0, 3.2)
    x = np.arange(1, len(table) + 1)
    ax.fill_between(x, table["min_model_accuracy"], table["max_model_accuracy"], color=COLORS["data"], alpha=0.25,
                    lw=0, step="mid", label="range over models")
    ax.step(x, table["accuracy"], where="mid", color=COLORS["data"], lw=1.2, label="mean over models")
    ax.set_xlabel("class rank (easiest first)")
    ax.set_ylabel("class accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False)
    ax.set_title(title)
    return fig


def gaussian_kl_figure(table: pd.DataFrame, title: str) -> Any:
    """KL divergence to the closest neighbouring class against class accuracy (Fig. 18)."""
    fig, ax = new_figure(4.5, 3.4)
    sc = ax.scatter(table["kl_min"], table["accuracy"], c=table["sd"], cmap="viridis", s=14)
    fig.colorbar(sc, ax=ax, label="class SD")
    ax.set_xscale("log")
    ax.set_xlabel("KL divergence to closest neighbour class (nats per pixel)")
    ax.set_ylabel("class accuracy")
    ax.set_title(title)
    return fig


def agreement_figure(val: pd.DataFrame, train: pd.DataFrame | None, title: str) -> Any:
    """True-positive agreement per epoch, its lower bound, and mean +- SD accuracy (Pliushch et al.)."""
    fig, ax = new_figure(6.0, 3.4)
    sets = [("validation", val, "-")] + ([("training", train, "--")] if train is not None else [])
    for name, df, ls in sets:
        ax.plot(df["epoch"], df["tpa"], ls, color=COLORS["data"], lw=1.6, label=f"TPA ({name})")
        ax.plot(df["epoch"], df["tpa_lower_bound"], ls, color=COLORS["neutral"], lw=1.2, label=f"lower bound ({name})")
        ax.plot(df["epoch"], df["mean_accuracy"], ls, color=COLORS["trivial"], lw=1.2, label=f"mean accuracy ({name})")
        ax.fill_between(df["epoch"], df["mean_accuracy"] - df["sd_accuracy"], df["mean_accuracy"] + df["sd_accuracy"],
                        color=COLORS["trivial"], alpha=0.2, lw=0)
    _integer_x(ax)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("epoch")
    ax.set_ylabel("share")
    ax.legend(frameon=False, fontsize=7)
    ax.set_title(title)
    return fig


def correlation_figure(table: pd.DataFrame, title: str) -> Any:
    """Spearman correlation of each image statistic with difficulty, with CIs."""
    fig, ax = new_figure(4.5, 3.0)
    y = np.arange(len(table))
    r = table["spearman_r"].to_numpy()
    ax.errorbar(r, y, xerr=[r - table["ci_low"], table["ci_high"] - r], fmt="o", color=COLORS["data"], capsize=3)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yticks(y)
    ax.set_yticklabels(table["statistic"])
    ax.set_xlabel("Spearman r with share of models correct (95 % CI)")
    ax.set_title(title)
    return fig


def epoch_correlation_figure(table: pd.DataFrame, title: str) -> Any:
    """Per epoch: correlation of each image statistic with 'all models right' (agreement)."""
    fig, ax = new_figure(6.0, 3.4)
    for i, (stat, g) in enumerate(table.groupby("statistic", sort=False)):
        color = CYCLE[i % len(CYCLE)]
        ax.plot(g["epoch"], g["spearman_r"], color=color, label=stat)
        ax.fill_between(g["epoch"], g["ci_low"], g["ci_high"], color=color, alpha=0.2, lw=0)
    _integer_x(ax)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel("Spearman r with all-models-right")
    ax.legend(frameon=False, fontsize=7)
    ax.set_title(title)
    return fig
