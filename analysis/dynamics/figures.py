"""Figures of the learning-dynamics analyses (project style, `analysis.plotting`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.plotting import COLORS, CYCLE, new_figure

LEVELS = ("trivial", "in-between", "impossible")


def by_category_figure(table: pd.DataFrame, levels: np.ndarray, measures: Sequence[str], labels: dict[str, str], title: str) -> Any:
    """One panel per measure: its distribution over the images of each DDD category (box plots)."""
    ncols = min(len(measures), 3)
    nrows = int(np.ceil(len(measures) / ncols))
    fig, axes = new_figure(3.3 * ncols, 2.6 * nrows, nrows=nrows, ncols=ncols, squeeze=False)
    lv = np.asarray(levels)
    for ax, m in zip(axes.ravel(), measures):
        data = [table[m].to_numpy(dtype=float)[lv == c] for c in LEVELS]
        data = [d[np.isfinite(d)] for d in data]
        keep = [i for i, d in enumerate(data) if d.size]
        box = ax.boxplot([data[i] for i in keep], positions=keep, widths=0.6, patch_artist=True, showfliers=False,
                         medianprops={"color": "black"})
        for patch, i in zip(box["boxes"], keep):
            patch.set_facecolor(COLORS[LEVELS[i]])
            patch.set_alpha(0.6)
        rng = np.random.default_rng(0)  # jitter only: fixed so the figure is the same on every run
        for i in keep:
            ax.scatter(i + rng.uniform(-0.22, 0.22, data[i].size), data[i], s=2, color="#333333", alpha=0.25, linewidths=0)
        ax.set_xticks(range(3), [f"{c}\n({int((lv == c).sum())})" for c in LEVELS])
        ax.set_title(labels.get(m, m), fontsize=8)
    for ax in axes.ravel()[len(measures):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def correlation_heatmap(corr: pd.DataFrame, measures: Sequence[str], correlates: Sequence[str], title: str) -> Any:
    """Spearman r of each measure (rows) with each correlate (columns), values written in the cells."""
    pivot = corr.pivot(index="measure", columns="correlate", values="spearman_r").reindex(index=list(measures), columns=list(correlates))
    fig, ax = new_figure(3.4 + 0.85 * len(correlates), 1.6 + 0.32 * len(measures))
    im = ax.imshow(pivot.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(pivot.to_numpy(dtype=float)):
        ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7,
                color="white" if np.isfinite(v) and abs(v) > 0.6 else "black")
    ax.set_xticks(range(len(correlates)), list(correlates), rotation=30, ha="right")
    ax.set_yticks(range(len(measures)), list(measures))
    fig.colorbar(im, ax=ax, label="Spearman r")
    ax.set_title(title)
    return fig


def statistic_curves_figure(curves: pd.DataFrame, title: str) -> Any:
    """Per image statistic: mean over the images all models get right, per epoch, and over all images."""
    stats = list(dict.fromkeys(curves["statistic"]))
    fig, axes = new_figure(3.0 * len(stats), 2.6, ncols=len(stats), squeeze=False)
    for ax, s in zip(axes[0], stats):
        c = curves[curves["statistic"] == s]
        ax.plot(c["epoch"], c["mean_all_right"], marker="o", ms=3, color=COLORS["trivial"], label="images all models get right")
        ax.plot(c["epoch"], c["mean_all_images"], ls="--", color=COLORS["neutral"], label="all images")
        ax.set_title(s)
        ax.set_xlabel("epoch")
    axes[0, 0].set_ylabel("mean statistic")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def train_agreement_figure(val: pd.DataFrame, train: pd.DataFrame, title: str) -> Any:
    """True-positive agreement per epoch on validation and training images, with its lower bound."""
    fig, ax = new_figure(5.0, 3.2)
    for frame, name, colour in ((val, "validation", CYCLE[0]), (train, "training", CYCLE[1])):
        ax.plot(frame["epoch"], frame["tpa"], marker="o", ms=3, color=colour, label=f"{name}: TPA")
        ax.plot(frame["epoch"], frame["tpa_lower_bound"], ls=":", color=colour, label=f"{name}: lower bound")
    ax.set_xlabel("epoch")
    ax.set_ylabel("true-positive agreement")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    ax.set_title(title)
    return fig


def rsa_figure(per_cond: pd.DataFrame, pairs: pd.DataFrame, ylabel: str, title: str) -> Any:
    """Similarity with base per condition: bars = mean over model pairs, dots = single pairs."""
    fig, ax = new_figure(max(4.0, 0.55 * len(per_cond) + 1.5), 3.2)
    x = np.arange(len(per_cond))
    ax.bar(x, per_cond["mean"], color=COLORS["data"], alpha=0.6)
    for i, c in enumerate(per_cond["condition"]):
        v = pairs.loc[pairs["condition"] == c, "similarity"].to_numpy()
        ax.scatter(np.full(v.size, i), v, s=8, color="#222222", zorder=3)
    ax.set_xticks(x, per_cond["condition"], rotation=40, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(min(0.0, float(np.nanmin(pairs["similarity"])) - 0.05) if len(pairs) else 0.0, 1.02)
    ax.set_title(title)
    return fig


def irt_figure(share_correct: np.ndarray, difficulty: np.ndarray, discrimination: np.ndarray, title: str) -> Any:
    """2PL difficulty against the share of models correct, coloured by discrimination."""
    fig, ax = new_figure(4.6, 3.4)
    pts = ax.scatter(share_correct, difficulty, c=np.log10(discrimination), cmap="viridis", s=7, linewidths=0, alpha=0.8)
    fig.colorbar(pts, ax=ax, label="log10 2PL discrimination")
    ax.set_xlabel("share of models correct (final epoch)")
    ax.set_ylabel("2PL difficulty b")
    ax.set_title(title)
    return fig
