"""save_figure writes a 150-dpi PNG and an SVG and closes the figure; in the background, forked children write the same files."""

from __future__ import annotations

from analysis.plotting import new_figure, pyplot, save_figure


def test_save_figure_writes_png_and_svg(tmp_path):
    fig, ax = new_figure(2.0, 1.0)
    ax.plot([0, 1], [0, 1])
    paths = save_figure(fig, tmp_path / "figs", "line")
    assert paths["png"] == tmp_path / "figs" / "line.png"
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths["svg"].read_bytes()[:2000]
    from PIL import Image

    with Image.open(paths["png"]) as im:
        assert im.size == (300, 150)  # 2 x 1 inch at 150 dpi
    assert not pyplot().fignum_exists(fig.number)


def _busy_figure(title: str):
    """A figure with what the report's figures hold: subplots under constrained layout, a legend,
    titles, an image, tick labels."""
    import numpy as np

    fig, axes = new_figure(5.0, 3.0, 1, 2)
    axes[0].plot(np.arange(10), np.arange(10) ** 2, label="squares")
    axes[0].legend(loc="best")
    axes[0].set_title(title)
    axes[1].imshow(np.arange(12.0).reshape(3, 4))
    axes[1].set_xticks(range(4), ["a long label", "b", "c", "d"], rotation=45)
    fig.suptitle("a suptitle")
    return fig


def test_save_figure_png_is_what_savefig_writes(tmp_path):
    """The one-pass PNG is byte for byte the PNG that `fig.savefig(dpi=150)` writes."""
    fig = _busy_figure("one")
    fig.savefig(tmp_path / "savefig.png", dpi=150, metadata={"Software": None})
    pyplot().close(fig)
    paths = save_figure(_busy_figure("one"), tmp_path, "fast")
    assert paths["png"].read_bytes() == (tmp_path / "savefig.png").read_bytes()


def test_figures_in_background_are_the_same_files(tmp_path):
    """PNGs and SVGs written by forked children are byte for byte those written in the process; on
    leaving the block (an inner one too) every file is complete."""
    from analysis.plotting import figures_in_background

    save_figure(_busy_figure("two"), tmp_path / "plain", "f")
    with figures_in_background(limit=2):
        with figures_in_background():
            for k in range(4):
                save_figure(_busy_figure("two"), tmp_path / "children", f"f{k}")
        assert all((tmp_path / "children" / f"f{k}.svg").read_bytes().rstrip().endswith(b"</svg>") for k in range(4))
        assert all((tmp_path / "children" / f"f{k}.png").read_bytes().endswith(b"IEND\xaeB`\x82") for k in range(4))
    for k in range(4):
        assert (tmp_path / "children" / f"f{k}.svg").read_bytes() == (tmp_path / "plain" / "f.svg").read_bytes()
        assert (tmp_path / "children" / f"f{k}.png").read_bytes() == (tmp_path / "plain" / "f.png").read_bytes()


def test_an_svg_that_cannot_be_written_raises_on_leaving(tmp_path):
    import errno
    import os

    import pytest

    from analysis.plotting import figures_in_background

    out = tmp_path / "figs"
    out.mkdir()
    (out / "f.svg").mkdir()  # a folder where the SVG should go: the child cannot write it
    with pytest.raises(OSError) as exc, figures_in_background():
        save_figure(_busy_figure("three"), out, "f")
    assert exc.value.errno == errno.EISDIR and "f.svg" in str(exc.value)
    with pytest.raises(ChildProcessError):  # no child left behind
        os.waitpid(-1, os.WNOHANG)


def test_a_png_that_cannot_be_written_is_named_on_leaving(tmp_path):
    import errno

    import pytest

    from analysis.plotting import figures_in_background

    out = tmp_path / "figs"
    out.mkdir()
    (out / "f.png").mkdir()
    with pytest.raises(OSError) as exc, figures_in_background():
        save_figure(_busy_figure("four"), out, "f")
    assert exc.value.errno == errno.EISDIR and exc.value.filename == str(out / "f.png")
    assert not (out / "f.svg").exists()  # the child stopped at the PNG


def test_a_figure_that_cannot_be_drawn_raises_with_the_childs_traceback(tmp_path):
    """A drawing bug in a child is no file error: RuntimeError with the child's traceback."""
    import pytest

    from analysis.plotting import figures_in_background

    fig = _busy_figure("five")
    fig.axes[0].text(0, 0, "$\\frac{$")  # mathtext that cannot be parsed: fails when drawn
    with pytest.raises(RuntimeError, match=r"f\.png: the figure could not be written \(exit 255\): Traceback") as exc, \
            figures_in_background():
        save_figure(fig, tmp_path, "f")
    assert "_save_png_and_svg" in str(exc.value) and "ValueError" in str(exc.value)
