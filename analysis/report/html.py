"""HTML building blocks of the report: one self-contained page (inline CSS, figures as base64
PNG data URIs, no scripts, no external references), so it can be mailed or archived as one file."""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #0072B2; padding-bottom: .2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; font-size: .82em; margin: .6em 0 1em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f4f8; }
td.text, th.text { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
.scroll { overflow-x: auto; max-width: 100%; }
figcaption { font-size: .85em; color: #444; }
.missing { background: #fff4e5; border-left: 4px solid #E69F00; padding: .4em .8em; }
.note { font-size: .9em; color: #444; }
.files { font-size: .8em; color: #666; font-family: monospace; }
details { margin: .5em 0; }
summary { cursor: pointer; color: #0072B2; }
code { background: #f4f4f4; padding: 0 3px; }
nav ul { columns: 2; }
"""


@dataclass
class Section:
    """One report section: an anchor, a title and its HTML body parts (already escaped)."""

    anchor: str
    title: str
    parts: list[str] = field(default_factory=list)
    available: bool = True

    def add(self, part: str) -> None:
        self.parts.append(part)


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def paragraph(text: str, cls: str | None = None) -> str:
    """A paragraph of plain text (escaped)."""
    c = f' class="{cls}"' if cls else ""
    return f"<p{c}>{esc(text)}</p>"


def missing(text: str) -> str:
    """A highlighted note saying what is missing and how to provide it."""
    return f'<p class="missing">{esc(text)}</p>'


def heading(text: str, level: int = 3) -> str:
    return f"<h{level}>{esc(text)}</h{level}>"


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers to short text: floats with `digits` significant decimals, NaN as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3g}"
        text = f"{value:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    try:
        if pd.isna(value):
            return "n/a"
    except (TypeError, ValueError):
        pass
    return str(value)


def table(df: pd.DataFrame, caption: str | None = None, max_rows: int | None = 40, digits: int = 4,
          csv_name: str | None = None) -> str:
    """An HTML table of a DataFrame; long tables are folded into <details> after `max_rows` rows."""
    cols = list(df.columns)
    text_cols = {c for c in cols if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c])}
    head = "".join(f'<th class="{"text" if c in text_cols else ""}">{esc(c)}</th>' for c in cols)

    def rows(frame: pd.DataFrame) -> str:
        out = []
        for rec in frame.itertuples(index=False):
            cells = []
            for c, v in zip(cols, rec):
                v = v.item() if hasattr(v, "item") else v
                cls = ' class="text"' if c in text_cols else ""
                cells.append(f"<td{cls}>{esc(fmt(v, digits))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        return "".join(out)

    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    file_note = f'<div class="files">{esc(csv_name)}</div>' if csv_name else ""
    if max_rows is None or len(df) <= max_rows:
        return f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows(df)}</tbody></table></div>{file_note}'
    return (f"<details><summary>{esc(caption or 'table')} ({len(df)} rows; show)</summary>"
            f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows(df)}</tbody></table></div></details>{file_note}')


def key_values(pairs: list[tuple[str, Any]], digits: int = 4) -> str:
    """A two-column table of named values."""
    body = "".join(f'<tr><th class="text">{esc(k)}</th><td>{esc(fmt(v, digits))}</td></tr>' for k, v in pairs)
    return f"<table><tbody>{body}</tbody></table>"


#: Stands for a PNG's base64 data until `page` embeds it: figures may still be drawn in the
#: background while the sections are built (`analysis.plotting.figures_in_background`); a NUL
#: never occurs in a path or in escaped text.
_PNG_TOKEN = re.compile("\x00png:([^\x00]*)\x00")


def figure(png: str | Path, caption: str, name: str, svg: str | Path | None = None) -> str:
    """An embedded PNG figure (base64 data URI, filled in by `page`) with its caption and the
    names of its files."""
    files = f"{Path(png).name}" + (f", {Path(svg).name}" if svg else "")
    return (f'<figure id="fig-{esc(name)}"><img alt="{esc(caption)}" src="data:image/png;base64,\x00png:{png}\x00">'
            f"<figcaption>{esc(caption)} <span class=\"files\">[{esc(files)}]</span></figcaption></figure>")


def embed_pngs(text: str) -> str:
    """Replace each figure's placeholder by the base64 data of its PNG (written by now)."""
    return _PNG_TOKEN.sub(lambda m: base64.b64encode(Path(m.group(1)).read_bytes()).decode("ascii"), text)


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole HTML document, every figure's PNG embedded."""
    nav = "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a>{"" if s.available else " (missing)"}</li>'
                  for s in sections)
    body = "".join(f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{"".join(s.parts)}</section>' for s in sections)
    return embed_pngs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
                      f"<h1>{esc(title)}</h1><p class=\"note\">{esc(subtitle)}</p><nav><ul>{nav}</ul></nav>{body}"
                      "</body></html>\n")
