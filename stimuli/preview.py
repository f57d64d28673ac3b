"""Contact sheets of stimulus sets (the paper's Fig. 1 and 12), drawn with PIL.

2AFC: one cell per trial, the pair side by side as shown to observers, each image framed in its
difficulty's colour and labelled with models correct. Questionnaire: one block per difficulty.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labutil.errors import UserError
from labutil.io import atomic_write_bytes
from stimuli.sets import StimulusSet, png_bytes

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

COLOURS = {"trivial": (44, 160, 44), "in-between": (255, 127, 14), "impossible": (214, 39, 40)}
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
FRAME = 5
PAD = 10


def _font(size: int) -> ImageFont.ImageFont:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _thumb(sset: StimulusSet, stim_id: str, size: int) -> Image.Image:
    """The stimulus scaled to `size` px (nearest when enlarging, so digit pixels stay crisp)."""
    from PIL import Image

    with Image.open(sset.image_path(stim_id)) as im:
        im = im.convert("RGB")
        if max(im.size) == size:
            return im.copy()
        factor = size / max(im.size)
        new = (max(1, round(im.width * factor)), max(1, round(im.height * factor)))
        return im.resize(new, Image.NEAREST if factor > 1 else Image.LANCZOS)


def _framed(draw: ImageDraw.ImageDraw, sheet: Image.Image, image: Image.Image, x: int, y: int, colour: tuple[int, int, int]) -> None:
    w, h = image.size
    draw.rectangle([x, y, x + w + 2 * FRAME - 1, y + h + 2 * FRAME - 1], fill=colour)
    sheet.paste(image, (x + FRAME, y + FRAME))


def _header(sset: StimulusSet) -> list[str]:
    prov = sset.meta.get("provenance", {})
    src = prov.get("source", {})
    if src.get("type") == "study":
        origin = f"study {src.get('study')} ({len(src.get('models', []))} models, epoch {src.get('epoch')})"
    elif src.get("type") == "table":
        origin = f"table {Path(str(src.get('path', ''))).name}"
    else:
        origin = "unknown source"
    test = sset.test_trials()
    return [
        f"{sset.name}: {sset.kind}, {len(test)} test + {len(sset.trials) - len(test)} practice trials",
        f"from {origin}, tolerance {prov.get('tolerance', '?')}, seed {sset.meta.get('seed', '?')}",
    ]


def contact_sheet(sset: StimulusSet, thumb: int = 160, columns: int | None = None, phase: str = "all") -> Image.Image:
    """The contact sheet of a set as a PIL image."""
    if sset.kind == "2afc":
        return _sheet_2afc(sset, thumb, columns or 5, phase)
    return _sheet_questionnaire(sset, thumb, columns or 10, phase)


def _trials(sset: StimulusSet, phase: str):  # noqa: ANN202
    return sset.trials if phase == "all" else sset.trials[sset.trials["phase"] == phase]


def _sheet_2afc(sset: StimulusSet, thumb: int, columns: int, phase: str) -> Image.Image:
    from PIL import ImageDraw

    trials = _trials(sset, phase)
    info = sset.stimuli.set_index("stim_id")
    font, small, big = _font(max(11, thumb // 11)), _font(max(10, thumb // 13)), _font(18)
    box = thumb + 2 * FRAME
    line = max(13, thumb // 9)
    cell_w, cell_h = 2 * box + PAD, line + box + 2 * line + PAD
    head_h = 3 * 24 + PAD
    rows = max(1, -(-len(trials) // columns))
    sheet = _new_sheet(PAD + columns * (cell_w + 2 * PAD), head_h + rows * (cell_h + PAD))
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(_header(sset)):
        draw.text((PAD, PAD + 24 * i), text, fill=TEXT, font=big)
    _legend(draw, PAD, PAD + 48, ("trivial", "impossible"), big)
    for k, t in enumerate(trials.itertuples(index=False)):
        x = PAD + (k % columns) * (cell_w + 2 * PAD)
        y = head_h + (k // columns) * (cell_h + PAD)
        draw.text((x, y), f"trial {t.trial} ({t.phase})", fill=TEXT, font=font)
        for j, stim in enumerate((t.left_stim, t.right_stim)):
            s = info.loc[stim]
            bx = x + j * (box + PAD)
            _framed(draw, sheet, _thumb(sset, stim, thumb), bx, y + line, COLOURS[s["difficulty"]])
            draw.text((bx, y + line + box + 2), f"{s['difficulty']} {s['n_correct']}/{s['n_models']}",
                      fill=COLOURS[s["difficulty"]], font=font)
            draw.text((bx, y + 2 * line + box + 2), _fit(f"class {s['class_name']}", draw, small, box), fill=TEXT, font=small)
    return sheet


def _sheet_questionnaire(sset: StimulusSet, thumb: int, columns: int, phase: str) -> Image.Image:
    from PIL import ImageDraw

    trials = _trials(sset, phase)
    info = sset.stimuli.set_index("stim_id")
    font, big = _font(max(10, thumb // 12)), _font(18)
    box = thumb + 2 * FRAME
    line = max(12, thumb // 10)
    cell_w, cell_h = box + PAD, box + 2 * line + PAD
    head_h = 3 * 24 + PAD
    groups = []
    for diff in ("trivial", "in-between", "impossible"):
        ids = [s for s in trials["stim_id"] if info.loc[s, "difficulty"] == diff]
        groups.append((diff, ids))
    height = head_h + sum(30 + max(1, -(-len(ids) // columns)) * cell_h + PAD for _, ids in groups)
    sheet = _new_sheet(PAD + columns * cell_w + PAD, height)
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(_header(sset)):
        draw.text((PAD, PAD + 24 * i), text, fill=TEXT, font=big)
    _legend(draw, PAD, PAD + 48, ("trivial", "in-between", "impossible"), big)
    trial_of = dict(zip(trials["stim_id"], trials["trial"]))
    phase_of = dict(zip(trials["stim_id"], trials["phase"]))
    y = head_h
    for diff, ids in groups:
        draw.text((PAD, y + 4), f"{diff} ({len(ids)})", fill=COLOURS[diff], font=big)
        y += 30
        for k, stim in enumerate(ids):
            x = PAD + (k % columns) * cell_w
            yy = y + (k // columns) * cell_h
            s = info.loc[stim]
            _framed(draw, sheet, _thumb(sset, stim, thumb), x, yy, COLOURS[diff])
            draw.text((x, yy + box + 1), f"#{trial_of[stim]}{' practice' if phase_of[stim] == 'practice' else ''} {s['n_correct']}/{s['n_models']}", fill=TEXT, font=font)
            draw.text((x, yy + box + line), _fit(f"class {s['class_name']}", draw, font, box), fill=TEXT, font=font)
        y += max(1, -(-len(ids) // columns)) * cell_h + PAD
    return sheet


def _legend(draw: ImageDraw.ImageDraw, x: int, y: int, names: tuple[str, ...], font: ImageFont.ImageFont) -> None:
    label = {"trivial": "trivial (frame green)", "in-between": "in-between (orange)", "impossible": "impossible (red)"}
    for name in names:
        draw.rectangle([x, y + 3, x + 14, y + 17], fill=COLOURS[name])
        draw.text((x + 20, y), label[name], fill=TEXT, font=font)
        x += 30 + int(draw.textlength(label[name], font=font))


def _fit(text: str, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, width: int) -> str:
    """Text shortened with an ellipsis to fit `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _new_sheet(width: int, height: int) -> Image.Image:
    """A blank sheet; one larger than MAX_PREVIEW_PIXELS is refused before it is allocated."""
    from PIL import Image

    from labutil.bounds import MAX_PREVIEW_PIXELS

    if width * height > MAX_PREVIEW_PIXELS:
        raise UserError(f"preview sheet {width} x {height} px is larger than {MAX_PREVIEW_PIXELS:,} px; "
                        "use a smaller --thumb, more --columns or --phase test")
    return Image.new("RGB", (width, height), BACKGROUND)


def write_preview(sset: StimulusSet, out: str | Path, thumb: int = 160, columns: int | None = None, phase: str = "all") -> Path:
    """Write the contact sheet as PNG (atomically) and return its path."""
    out = Path(out)
    atomic_write_bytes(out, png_bytes(contact_sheet(sset, thumb, columns, phase)))
    return out
