"""The session's event log `..._task-T_events.tsv` (BIDS events): every showing of a trial's images
and every questionnaire answer, appended and fsynced as it happens.

It is what lets a resumed session know that the trial it shows first had been on screen before
(at a kill, a crash or a confirmed Escape) and which of its questions had been answered, and it
keeps every onset of a trial shown more than once. See docs/formats.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

EVENT_COLUMNS: tuple[str, ...] = ("onset", "duration", "trial_type", "attempt", "trial", "phase", "question", "value")
# trial_type: stimulus (the trial's images appeared; value: first | after_quit_cancel | after_resume),
# answer (questionnaire: value '<column>=<answer>'), back (an answer taken back to be corrected),
# quit_confirm (the quit confirmation appeared; duration: how long it stayed).
STIMULUS, ANSWER, BACK, QUIT_CONFIRM = "stimulus", "answer", "back", "quit_confirm"


def events_path(tsv: Path) -> Path:
    """`..._task-T_events.tsv` beside the session's `..._task-T_beh.tsv`."""
    tsv = Path(tsv)
    return tsv.with_name(tsv.name[: -len("_beh.tsv")] + "_events.tsv")


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "n/a"
    if isinstance(v, float):
        return f"{v:.6f}"
    return str(v).replace("\t", " ").replace("\n", " ")


class EventWriter:
    """Appends events to the session's event log, each flushed and fsynced."""

    def __init__(self, tsv: Path) -> None:
        self.path = events_path(tsv)

    def start(self) -> None:
        """Write the header of a new log, or drop a partial last line a kill left."""
        if self.path.exists() and self.path.stat().st_size:
            data = self.path.read_bytes()
            if not data.endswith(b"\n"):
                with open(self.path, "r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
            return
        self._append("\t".join(EVENT_COLUMNS) + "\n")

    def add(self, **event: Any) -> None:
        self._append("\t".join(_cell(event.get(c)) for c in EVENT_COLUMNS) + "\n")

    def _append(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def read_events(tsv: Path) -> list[dict[str, str]]:
    """The complete lines of a session's event log as text cells ([] if there is none)."""
    path = events_path(tsv)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # a partial last line is left out
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:] if line.count("\t") == len(header) - 1]


def earlier_showings(tsv: Path, trial: int) -> tuple[list[float], dict[int, str]]:
    """Onsets at which `trial` was shown before, and the answers given then (question -> 'col=value')."""
    onsets: list[float] = []
    answers: dict[int, str] = {}
    for e in read_events(tsv):
        if e.get("trial") != str(trial):
            continue
        if e["trial_type"] == STIMULUS:
            onsets.append(float(e["onset"]))
        elif e["trial_type"] == ANSWER:
            answers[int(e["question"])] = e["value"]
        elif e["trial_type"] == BACK:
            answers.pop(int(e["question"]), None)
    return onsets, answers
