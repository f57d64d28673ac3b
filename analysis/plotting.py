"""One figure style for every analysis figure, and `save_figure` that writes PNG + SVG.

matplotlib is imported lazily (inside the functions) with the non-interactive Agg backend, so
importing `analysis` stays fast and never needs a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Colours used across the analysis figures (colour-blind safe, Okabe-Ito palette).
COLORS: dict[str, str] = {
    "trivial": "#009E73",  # green
    "in-between": "#E69F00",  # orange
    "impossible": "#CC79A7",  # purple
    "data": "#0072B2",  # blue
    "null": "#009E73",  # green: the paper's binomial null bars
    "null2": "#555555",  # grey: second null model
    "label_issue": "#D55E00",  # red: the paper's label-error bars
    "human": "#56B4E9",
    "model": "#0072B2",
    "neutral": "#999999",
}

#: A cycle of distinct colours for conditions / models.
CYCLE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")

STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "svg.fonttype": "none",  # keep text as text in SVG
    "svg.hashsalt": "trivial-or-impossible",  # deterministic SVG ids
    "figure.constrained_layout.use": True,
}


def pyplot() -> Any:
    """Return matplotlib.pyplot with the Agg backend and the project style applied."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    plt.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=list(CYCLE))
    return plt


def new_figure(width: float = 5.0, height: float = 3.5, nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
    """Create a styled figure and axes (inches); kwargs go to `plt.subplots`."""
    plt = pyplot()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def _save_png(fig: Any, path: Path, dpi: int = 150) -> None:
    """Write the figure as PNG in one rendering pass: what `fig.savefig(path, dpi=dpi)` writes, less
    its second, non-rendering draw (savefig draws a figure with a layout engine twice)."""
    import matplotlib.image as mimage

    old_dpi = fig.dpi
    fig.set_dpi(dpi)
    try:
        fig.canvas.draw()  # the constrained layout, then the rendering
        # metadata without dates keeps re-runs byte-identical.
        mimage.imsave(path, fig.canvas.buffer_rgba(), format="png", origin="upper", dpi=fig.dpi,
                      metadata={"Software": None})
    finally:
        fig.set_dpi(old_dpi)


def save_figure(fig: Any, out_dir: str | Path, name: str) -> dict[str, Path]:
    """Write `name.png` (150 dpi) and `name.svg` into out_dir, close the figure, return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    _save_png(fig, png)
    # the layout computed for the PNG holds for the SVG too (sizes are in inches and points):
    # freezing it halves the cost of the second save.
    fig.set_layout_engine("none")
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    pyplot().close(fig)
    return {"png": png, "svg": svg}
