"""Dataset cartography (Swayamdipta et al. 2020) of each image from one model's per-epoch
true-class probabilities: confidence (mean over epochs), variability (standard deviation over
epochs, ddof = 0 as allenai/cartography's `np.std`) and correctness (share of epochs at which the
image is predicted correctly; cartography stores the count, and plots count / max).

Regions of the map (the paper's names): easy to learn (high confidence, low variability), hard to
learn (low confidence, low variability), ambiguous (high variability, confidence near 0.5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def cartography(probabilities: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """Per image: confidence, variability and correctness from (n_epochs, n_images) arrays."""
    p = np.asarray(probabilities, dtype=np.float64)
    c = np.asarray(correct, dtype=bool)
    if p.ndim != 2 or p.shape != c.shape:
        raise ValueError(f"probabilities {p.shape} and correctness {c.shape} must both be (n_epochs, n_images)")
    if p.shape[0] == 0:
        raise ValueError("cartography needs at least one epoch")
    return pd.DataFrame({
        "image_index": np.arange(p.shape[1]),
        "confidence": p.mean(axis=0),
        "variability": p.std(axis=0),
        "correctness": c.mean(axis=0),
    })


def region(confidence: np.ndarray, variability: np.ndarray) -> np.ndarray:
    """Each image's region: 'ambiguous' (variability in the top third), else 'easy to learn'
    (confidence >= 0.5) or 'hard to learn' (the split Swayamdipta et al. use for their subsets:
    the top 33 % by variability are ambiguous)."""
    v = np.asarray(variability, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    top = np.quantile(v, 2 / 3) if v.size else 0.0
    out = np.where(conf >= 0.5, "easy to learn", "hard to learn").astype(object)
    out[v > top] = "ambiguous"
    return out


def data_map_figure(table: pd.DataFrame, title: str, levels: np.ndarray | None = None) -> Any:
    """The familiar data map: variability (x) against confidence (y), coloured by correctness;
    with `levels` (trivial / in-between / impossible) a second panel coloured by them."""
    from analysis.plotting import COLORS, new_figure

    ncols = 2 if levels is not None else 1
    fig, axes = new_figure(4.2 * ncols, 3.6, ncols=ncols, squeeze=False)
    ax = axes[0, 0]
    pts = ax.scatter(table["variability"], table["confidence"], c=table["correctness"], cmap="coolwarm_r",
                     vmin=0, vmax=1, s=6, alpha=0.7, linewidths=0)
    fig.colorbar(pts, ax=ax, label="correctness (share of epochs correct)")
    ax.set_title(title)
    if levels is not None:
        ax2 = axes[0, 1]
        for lvl in ("in-between", "trivial", "impossible"):
            sel = np.asarray(levels) == lvl
            ax2.scatter(table["variability"][sel], table["confidence"][sel], s=6, alpha=0.7, linewidths=0,
                        color=COLORS[lvl], label=f"{lvl} ({int(sel.sum())})")
        ax2.legend(loc="lower right", markerscale=2)
        ax2.set_title("coloured by DDD category")
    for a in axes[0]:
        a.set_xlabel("variability (SD of true-class probability over epochs)")
        a.set_ylabel("confidence (mean true-class probability)")
        a.set_ylim(-0.02, 1.02)
        a.set_xlim(left=0)
    return fig


def save_data_map(table: pd.DataFrame, out_dir: str | Path, name: str, title: str, levels: np.ndarray | None = None) -> dict[str, Path]:
    """Draw and write the data map (PNG + SVG)."""
    from analysis.plotting import save_figure

    return save_figure(data_map_figure(table, title, levels), out_dir, name)
