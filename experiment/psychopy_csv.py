"""The attempt's PsychoPy csv, in the layout PsychoPy Builder writes, appended as trials complete.

PsychoPy's ExperimentHandler writes its wide csv only when the experiment ends, so a killed
attempt had none. This file has the same conventions (one row per trial, the trial's data
columns, the loop counters `<loop>.thisN`, then the session's extra info `participant`,
`session`, `date`, `expName`, `psychopyVersion`, `frameRate`), but each row is written and
fsynced when its trial completes, so it survives a kill. It also holds each trial's frame
intervals (`frameIntervalsMs`, separated by ';').
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

BUILDER_INFO = ("participant", "session", "date", "expName", "psychopyVersion", "frameRate")


class TrialCsv:
    """Appends one row per completed trial to `path` (header first)."""

    def __init__(self, path: Path, data_columns: list[str], info: dict[str, Any]) -> None:
        self.path = Path(path)
        self.info = dict(info)
        self.columns = [*data_columns, "frameIntervalsMs", "practice.thisN", "test.thisN",
                        *BUILDER_INFO, *[k for k in info if k not in BUILDER_INFO]]
        missing = [k for k in BUILDER_INFO if k not in info]
        if missing:
            raise ValueError(f"PsychoPy csv info lacks {missing}")
        self._write(self.columns)

    def append(self, row: dict[str, Any], frame_intervals_s: list[float], phase: str, this_n: int) -> None:
        values = {**row, **self.info, "frameIntervalsMs": ";".join(f"{v * 1000:.3f}" for v in frame_intervals_s),
                  f"{phase}.thisN": this_n}
        self._write([_cell(values.get(c, "")) for c in self.columns])

    def _write(self, cells: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        with open(self.path, "a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())


def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, list):
        return ";".join(f"{x:.6f}" if isinstance(x, float) else str(x) for x in v)
    return v


def complete_from_rows(path: Path, data_columns: list[str], rows: list[dict[str, str]],
                       info: dict[str, Any]) -> int:
    """Append to an earlier attempt's csv the trials it completed but has no row for (a kill that
    came between the TSV row and the csv row); their frame intervals are unknown (left empty).
    Returns how many rows were added."""
    existing: list[dict[str, str]] = []
    if path.is_file() and path.stat().st_size:
        with open(path, encoding="utf-8", newline="") as fh:
            existing = list(csv.DictReader(fh))
    missing = rows[len(existing):]
    if not missing:
        return 0
    if existing:  # the values the attempt itself wrote win over those rebuilt from its record
        info = {k: existing[0].get(k, v) for k, v in info.items()}
    out = TrialCsv.__new__(TrialCsv)
    out.path, out.info = path, dict(info)
    out.columns = [*data_columns, "frameIntervalsMs", "practice.thisN", "test.thisN",
                   *BUILDER_INFO, *[k for k in info if k not in BUILDER_INFO]]
    if not path.is_file() or not path.stat().st_size:
        out._write(out.columns)
    else:
        with open(path, encoding="utf-8", newline="") as fh:
            out.columns = next(csv.reader(fh))
    for row in missing:
        out._write([_cell({**row, **out.info}.get(c, "")) for c in out.columns])
    return len(missing)
