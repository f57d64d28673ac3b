"""One figure style for every analysis figure, and `save_figure` that writes PNG + SVG.

matplotlib is imported lazily (inside the functions) with the non-interactive Agg backend, so
importing `analysis` stays fast and never needs a display.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    """Write `name.png` (150 dpi) and `name.svg` into out_dir, close the figure, return both paths.
    Inside a `figures_in_background` block a forked child writes both while the caller goes on."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    if _BACKGROUND is not None:
        _BACKGROUND.save(fig, png, svg)
    else:
        _save_png_and_svg(fig, png, svg)
    pyplot().close(fig)
    return {"png": png, "svg": svg}


def _save_png_and_svg(fig: Any, png: Path, svg: Path) -> None:
    _save_png(fig, png)
    # the layout computed for the PNG holds for the SVG too (sizes are in inches and points):
    # freezing it halves the cost of the second save.
    fig.set_layout_engine("none")
    _save_svg(fig, svg)


def _save_svg(fig: Any, path: Path) -> None:
    # metadata without dates keeps re-runs byte-identical.
    fig.savefig(path, metadata={"Date": None, "Creator": None})


class _FigureChildren:
    """Figures being written by forked children (a copy of the figure each), at most `limit` at once;
    a child that fails tells its parent through a pipe: "file <name>" (an OSError, its errno the
    exit code) or "bug <traceback>"."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending: dict[int, tuple[int, Path]] = {}  # child id -> (read end of its pipe, its PNG)
        self.failed: list[tuple[Path, int, str, str]] = []  # (figure, exit code, "file" or "bug", what the child said)

    def save(self, fig: Any, png: Path, svg: Path) -> None:
        """Write the PNG and the SVG in a child process (the parent goes on with the next figure)."""
        import os
        import traceback

        import matplotlib.backends.backend_svg  # noqa: F401 - imported once here, not in every child

        while len(self.pending) >= self.limit:
            self._wait_one()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: write, and leave without running the parent's exit handlers
            os.close(read)
            code, said = 0, ""
            try:
                _save_png_and_svg(fig, png, svg)
            except OSError as exc:
                code = exc.errno if exc.errno and 0 < exc.errno < 256 else 255
                said = f"file {exc.filename or png}"
            except BaseException:  # noqa: BLE001 - any failure is the parent's to report
                code, said = 255, f"bug {traceback.format_exc()}"
            try:
                os.write(write, said.encode("utf-8", "replace")[:60000])
            finally:
                os._exit(code)
        os.close(write)
        self.pending[pid] = (read, png)

    def _wait_one(self) -> None:
        """Wait for the oldest child (by its id: other children of the process are not touched)."""
        import os

        pid, (read, png) = next(iter(self.pending.items()))
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        del self.pending[pid]
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            kind, _, said = b"".join(chunks).decode("utf-8", "replace").partition(" ")
            self.failed.append((png, code, kind, said))

    def wait(self) -> None:
        """Wait for every child; a file that could not be written raises OSError (its errno and
        name), a figure that could not be drawn RuntimeError with the child's traceback."""
        import errno
        import os

        while self.pending:
            self._wait_one()
        if self.failed:
            png, code, kind, said = self.failed[0]
            if kind == "file" and code in errno.errorcode:
                raise OSError(code, os.strerror(code), said)
            raise RuntimeError(f"{png}: the figure could not be written (exit {code}){': ' + said if said else ''}")


_BACKGROUND: _FigureChildren | None = None


def wait_for_figures() -> None:
    """Every figure that `save_figure` handed to a child so far is on disk (or an error): call
    before moving or reading figure files inside a `figures_in_background` block."""
    if _BACKGROUND is not None:
        _BACKGROUND.wait()


@contextmanager
def figures_in_background(limit: int | None = None) -> Iterator[None]:
    """Within this block, `save_figure` draws and writes each figure (PNG and SVG) in a forked
    child while the caller computes the next one (POSIX only; elsewhere nothing changes); on leaving
    (an inner block too), every file is on disk, or OSError / RuntimeError says which could not be
    written. `limit` children at once (default: the CPUs, at least 1)."""
    import os

    global _BACKGROUND
    if not hasattr(os, "fork"):
        yield
        return
    if _BACKGROUND is not None:  # inside another such block: this block's figures are on disk at its end too
        yield
        _BACKGROUND.wait()
        return
    _BACKGROUND = _FigureChildren(limit or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
    children = _BACKGROUND
    try:
        yield
    except BaseException:
        _BACKGROUND = None
        try:
            children.wait()  # no child outlives the block; the first error is the one that counts
        except (OSError, RuntimeError):
            pass
        raise
    _BACKGROUND = None
    children.wait()
