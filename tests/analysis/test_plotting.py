"""save_figure writes a 150-dpi PNG and an SVG and closes the figure."""

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
