"""What a DDD analysis writes: figures (PNG + SVG, caption), tables (CSV + DataFrame), the headline
numbers, and the writer that stages them and moves them into the output folder only on success."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labutil.io import make_temp_dir, raise_if_disk_full, remove_leftovers

__all__ = ["DDDResult", "FigureOut", "TableOut", "Writer"]


@dataclass(frozen=True)
class FigureOut:
    """One written figure."""

    name: str
    png: Path
    svg: Path
    caption: str


@dataclass(frozen=True)
class TableOut:
    """One written table."""

    name: str
    csv: Path
    frame: pd.DataFrame


@dataclass
class DDDResult:
    """Everything `analyse_study` / `summarise_table` wrote, and the headline numbers."""

    out_dir: Path
    figures: list[FigureOut] = field(default_factory=list)
    tables: list[TableOut] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def figure(self, name: str) -> FigureOut:
        return next(f for f in self.figures if f.name == name)

    def table(self, name: str) -> pd.DataFrame:
        return next(t.frame for t in self.tables if t.name == name)


class Writer:
    """Collects outputs into a DDDResult; writes them into a staging folder next to the output
    folder and moves them in only when the whole analysis succeeded (`finish`), so a failed run
    leaves an earlier run's files as they were. Files that an earlier run listed in its
    headline.json and this run did not write are removed, so no stale figure stays behind.
    """

    MANIFEST = "headline.json"

    def __init__(self, out_dir: Path, figures: bool | Collection[str] = True) -> None:
        self.result = DDDResult(Path(out_dir))
        self.figures = figures
        self.out = Path(out_dir)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.out.parent, legacy=False)  # the staging folders of killed runs
        self.stage = make_temp_dir(self.out)
        self.written: list[str] = []

    def figure(self, draw: Callable[[], Any], name: str, caption: str) -> None:
        """Draw (only if this figure is wanted) and save a figure."""
        if self.figures is False or (self.figures is not True and name not in self.figures):
            return
        from analysis.plotting import save_figure

        try:
            save_figure(draw(), self.stage, name)
        except OSError as exc:
            raise_if_disk_full(exc, self.out / f"{name}.png")
            raise
        self.written += [f"{name}.png", f"{name}.svg"]
        self.result.figures.append(FigureOut(name, self.out / f"{name}.png", self.out / f"{name}.svg", caption))

    def table(self, frame: pd.DataFrame, name: str) -> None:
        try:
            (self.stage / f"{name}.csv").write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
        except OSError as exc:
            raise_if_disk_full(exc, self.out / f"{name}.csv")
            raise
        self.written.append(f"{name}.csv")
        self.result.tables.append(TableOut(name, self.out / f"{name}.csv", frame))

    def finish(self) -> DDDResult:
        """Move the staged files into the output folder, drop stale ones, write headline.json."""
        import os
        import shutil

        from analysis.plotting import wait_for_figures
        from labutil.io import fsync_dir, read_json, write_json

        try:
            wait_for_figures()  # figures written in the background are complete before they are moved
        except OSError as exc:
            raise_if_disk_full(exc, self.out / Path(exc.filename or "").name)
            raise
        self.out.mkdir(parents=True, exist_ok=True)
        old: list[str] = []
        if (self.out / self.MANIFEST).is_file():
            try:
                old = list(read_json(self.out / self.MANIFEST).get("files", []))
            except Exception:  # an unreadable manifest only means nothing is known to be stale
                old = []
        for name in self.written:
            os.replace(self.stage / name, self.out / name)
        for name in set(old) - set(self.written):
            if "/" not in name and name != self.MANIFEST:
                (self.out / name).unlink(missing_ok=True)
        fsync_dir(self.out)
        write_json(self.out / self.MANIFEST, {"headline": self.result.headline, "notes": self.result.notes,
                                              "files": self.written})
        shutil.rmtree(self.stage, ignore_errors=True)
        return self.result

    def abort(self) -> None:
        """Forget everything staged (after an error)."""
        import shutil

        shutil.rmtree(self.stage, ignore_errors=True)
