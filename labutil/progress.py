"""Progress bars that suit where stderr goes: a live tqdm bar on a terminal, a few plain lines in a pipe or log.

On a terminal every command shows tqdm bars as before. When stderr is not a terminal (a pipe,
`> log 2>&1`, a Slurm output file, a test), redrawing a bar with carriage returns floods the file
with thousands of updates, so instead:

- inner bars (`leave=False`: the batches of one epoch, images being rendered) are not shown;
- outer bars print one plain line at most every PIPED_INTERVAL seconds, and a last line when done.

LAB_PROGRESS=bar forces live bars, LAB_PROGRESS=off hides every bar, LAB_PROGRESS=lines forces the
plain lines (e.g. to look at them on a terminal).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from typing import IO, Any

#: seconds between the plain lines an outer bar prints when stderr is not a terminal
PIPED_INTERVAL = 30.0
ENV = "LAB_PROGRESS"
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # cursor moves of nested bars


def stderr_mode(stream: IO[str] | None = None) -> str:
    """'bar' (a live bar), 'lines' (plain lines) or 'off', from LAB_PROGRESS or whether stderr is a terminal."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced in ("bar", "lines", "off"):
        return forced
    stream = stream if stream is not None else sys.stderr
    try:
        return "bar" if stream.isatty() else "lines"
    except (AttributeError, ValueError):  # closed or replaced stream
        return "lines"


class _Lines:
    """A file for tqdm that turns redraws into plain lines, at most one per `interval` seconds, and the last
    line when the bar closes (tqdm ends a kept bar with a bare newline); no carriage returns, no clear-outs."""

    def __init__(self, stream: IO[str], interval: float = PIPED_INTERVAL) -> None:
        self.stream = stream
        self.interval = interval
        self.last = float("-inf")
        self.pending = ""
        self.after_status = False

    def write(self, text: str) -> int:
        import time

        line = _ESCAPES.sub("", text.replace("\r", "")).rstrip()
        now = time.monotonic()
        if line and now - self.last >= self.interval:
            self._emit(line, now)
        elif line:
            self.pending = line
        elif text == "\n" and self.after_status and self.pending:  # a kept bar closed: its final state
            self._emit(self.pending, now)
        self.after_status = bool(line)  # a nested bar's cursor moves ('\n' before, escapes after) are not a close
        return len(text)

    def _emit(self, line: str, now: float) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
        self.last, self.pending = now, ""

    def flush(self) -> None:
        self.stream.flush()


def progress(iterable: Iterable[Any] | None = None, *, disable: bool = False, leave: bool = True, **kwargs: Any) -> Any:
    """A tqdm bar (same arguments) that is live on a terminal and condensed to a few lines elsewhere."""
    from tqdm import tqdm

    mode = stderr_mode(kwargs.get("file"))
    if disable or mode == "off" or (mode == "lines" and not leave):
        return tqdm(iterable, disable=True, leave=leave, **kwargs)
    if mode == "bar":
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, leave=leave, **kwargs)
    kwargs.pop("dynamic_ncols", None)
    stream = kwargs.pop("file", None) or sys.stderr
    return tqdm(iterable, leave=leave, file=_Lines(stream, PIPED_INTERVAL), mininterval=PIPED_INTERVAL, maxinterval=PIPED_INTERVAL,
                miniters=1, ncols=100, ascii=True, **kwargs)
