"""The lab data layout (BIDS-style behavioural data) and the session files' reader and writer.

`lab_data/sub-001/ses-01/beh/sub-001_ses-01_task-2afc_beh.tsv` plus a `_beh.json` sidecar that
describes each column and records the session's status. Every trial row is appended and fsynced
before the next trial starts, so a crash loses nothing that was completed. See docs/formats.md.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from labutil.errors import UserError
from labutil.io import DISK_FULL, atomic_write_text, raise_if_disk_full, read_json, remove_leftovers, write_json

Task = Literal["2afc", "questionnaire"]
TASKS: tuple[str, ...] = ("2afc", "questionnaire")
SessionStatus = Literal["incomplete", "complete", "aborted"]

_PID = re.compile(r"^sub-([0-9]{3,})$")

# Column -> (description, kind) where kind names the check applied by the reader.
COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "2afc": {
        "trial": ("Trial number in the stimulus set's trials.tsv (1-based).", "int"),
        "phase": ("practice or test.", "phase"),
        "pair_id": ("Pair identifier from the stimulus set.", "int"),
        "left_stim": ("stim_id shown on the left.", "str"),
        "right_stim": ("stim_id shown on the right.", "str"),
        "impossible_side": ("Side of the image that all models got wrong: left or right.", "side"),
        "response_side": ("Side the observer chose as harder for a network: left or right.", "side"),
        "chosen_stim": ("stim_id of the chosen image.", "str"),
        "correct": ("1 if the observer chose the impossible image, else 0.", "bool01"),
        "rt": ("Reaction time in seconds from the stimulus-onset flip to the key press.", "float"),
        "onset": ("Stimulus onset in seconds since the session clock started.", "float"),
    },
    "questionnaire": {
        "trial": ("Trial number in the stimulus set's trials.tsv (1-based).", "int"),
        "phase": ("practice or test.", "phase"),
        "stim_id": ("stim_id of the image shown.", "str"),
        "n_categories": ("Q1: number of objects of different categories in the image, 0-9, or 10 for '10+'.", "n_categories"),
        "main_category": ("Q2: is there a main category? yes, maybe or no.", "main_category"),
        "unusual": ("Q3: is the presentation of the objects unusual? no, slightly or very.", "unusual"),
        "rt_q1": ("Seconds from question 1 onset to the answer.", "float"),
        "rt_q2": ("Seconds from question 2 onset to the answer.", "float"),
        "rt_q3": ("Seconds from question 3 onset to the answer.", "float"),
    },
}
# Columns the experiment programs write after those above (sessions recorded before them lack them;
# readers take them when present). The writer adds them with `SessionWriter(..., extended=True)`.
_SHOWN: dict[str, tuple[str, str]] = {
    "n_shown": ("How often the trial's images were shown: 1, or more when they were shown again after a "
                "cancelled quit or in a resumed session (see onsets).", "int"),
    "onsets": ("Every onset of the trial's images (session clock, s), separated by ';'.", "onsets"),
    "n_frames": ("Frame intervals recorded while the trial was on screen.", "int"),
    "dropped_frames": ("Of those, intervals longer than 1.5 nominal frames.", "int"),
}
EXTRA_COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "2afc": {
        "mirrored": ("1 if this observer saw the set's pairs mirrored: left_stim, right_stim, impossible_side "
                     "and response_side are as on screen, the set has the pair the other way round.", "bool01"),
        **_SHOWN,
    },
    "questionnaire": {
        "onset": ("Onset of the image (its latest showing) in seconds since the session clock started.", "float"),
        "answered_before": ("Answers given in an earlier showing of the image, before an interruption (a "
                            "cancelled quit or a resumed session), as column=value;...; n/a if none.", "text"),
        "corrections": ("Answers taken back with the back key to be given again.", "int"),
        **_SHOWN,
    },
}
# Extra columns of sessions run in the browser (experiment.web), after the task's columns; lab
# sessions lack them (a reader treats a missing `setting` as lab).
ONLINE_COLUMNS: dict[str, tuple[str, str]] = {
    "setting": ("Where the trial ran: online (a web browser) or lab.", "str"),
    "browser": ("Browser name and version reported by the page (jsPsych browser-check).", "str"),
    "screen_px": ("Screen size in CSS pixels, width x height, at the trial.", "str"),
    "device_pixel_ratio": ("window.devicePixelRatio at the trial (device pixels per CSS pixel).", "float"),
    "window_px": ("Browser window (viewport) size in CSS pixels, width x height, at the trial.", "str"),
    "fullscreen": ("1 if the page was in full screen when the trial was answered, else 0.", "bool01"),
}
MAIN_CATEGORY_LEVELS = ("no", "maybe", "yes")
UNUSUAL_LEVELS = ("no", "slightly", "very")


def participant_id(number: int) -> str:
    """`sub-001` for 1."""
    return f"sub-{number:03d}"


def check_participant_id(pid: str) -> str:
    if not _PID.match(pid):
        raise UserError(f"participant id '{pid}' must look like sub-001")
    return pid


def session_label(session: int) -> str:
    return f"ses-{session:02d}"


def session_dir(root: Path, pid: str, session: int) -> Path:
    """`<root>/sub-001/ses-01/beh`."""
    return Path(root) / check_participant_id(pid) / session_label(session) / "beh"


def beh_path(root: Path, pid: str, session: int, task: str) -> Path:
    """The session's trial table `..._task-<task>_beh.tsv`."""
    if task not in TASKS:
        raise UserError(f"unknown task '{task}' (one of {', '.join(TASKS)})")
    return session_dir(root, pid, session) / f"{pid}_{session_label(session)}_task-{task}_beh.tsv"


def sidecar_path(tsv: Path) -> Path:
    return tsv.with_suffix(".json")


def find_sessions(root: Path, task: str | None = None) -> list[Path]:
    """All session TSVs under a data root (optionally of one task), sorted."""
    pattern = f"sub-*/ses-*/beh/*_task-{task or '*'}_beh.tsv"
    return sorted(Path(root).glob(pattern))


# --------------------------------------------------------------------------------------------
# Writing


class SessionWriter:
    """Appends trial rows to a session TSV, each flushed and fsynced before returning."""

    def __init__(self, tsv: Path, task: str, extended: bool = False,
                 extra_columns: dict[str, tuple[str, str]] | None = None) -> None:
        """`extended`: add EXTRA_COLUMNS[task]; `extra_columns`: further columns of another writer (e.g.
        experiment.web's ONLINE_COLUMNS), after those."""
        self.tsv = Path(tsv)
        self.task = task
        self.extra = dict(extra_columns or {})
        known = self.known_columns()
        self.columns = list(COLUMNS[task]) + (list(EXTRA_COLUMNS[task]) if extended else [])
        self.columns += [c for c in self.extra if c not in self.columns]
        if self.tsv.is_file() and self.tsv.stat().st_size:  # an existing session keeps its own header
            header = self.tsv.read_text(encoding="utf-8").split("\n", 1)[0].split("\t")
            self.columns = [c for c in header if c in known]

    def known_columns(self) -> dict[str, tuple[str, str]]:
        return {**COLUMNS[self.task], **EXTRA_COLUMNS[self.task], **self.extra}

    def start(self, sidecar_fields: dict[str, Any]) -> None:
        """Create the session folder, the TSV header if new, then the sidecar (status incomplete).

        The header comes first and in one atomic step, so a kill at any point leaves a state that
        a fresh start (header only, no sidecar: nothing recorded) or --resume (sidecar with the
        order: continue from the rows on disk) accepts. Temporary files that a killed writer left
        in the session folder are removed first."""
        self.tsv.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.tsv.parent)
        if not has_header(self.tsv):
            atomic_write_text(self.tsv, "\t".join(self.columns) + "\n")
        side = sidecar_path(self.tsv)
        meta = read_json(side) if side.is_file() else {}
        meta.update(sidecar_fields)
        meta.setdefault("SessionStatus", "incomplete")
        known = self.known_columns()
        for col in self.columns:
            desc, kind = known[col]
            meta[col] = {"Description": desc, **_levels(kind)}
        write_json(side, meta)

    def append(self, row: dict[str, Any]) -> None:
        """Append one completed trial and make it durable."""
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise ValueError(f"trial row lacks {missing}")
        self._append("\t".join(_cell(row[c]) for c in self.columns) + "\n")

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append many completed trials with one fsync (bulk imports of finished sessions)."""
        lines = []
        for row in rows:
            missing = [c for c in self.columns if c not in row]
            if missing:
                raise ValueError(f"trial row lacks {missing}")
            lines.append("\t".join(_cell(row[c]) for c in self.columns) + "\n")
        if lines:
            self._append("".join(lines))

    def set_status(self, status: SessionStatus, **fields: Any) -> None:
        side = sidecar_path(self.tsv)
        meta = read_json(side)
        meta.update(fields)
        meta["SessionStatus"] = status
        write_json(side, meta)

    def _append(self, text: str) -> None:
        """Append and fsync; a full disk truncates the file back to its rows before (no half row)."""
        size = self.tsv.stat().st_size if self.tsv.exists() else 0
        try:
            with open(self.tsv, "a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            if exc.errno in DISK_FULL:
                with open(self.tsv, "r+b") as fh:
                    fh.truncate(size)  # shrinking needs no space
                    with contextlib.suppress(OSError):
                        os.fsync(fh.fileno())
            raise_if_disk_full(exc, self.tsv)
            raise


def has_header(tsv: Path) -> bool:
    """True if the TSV exists and its first line is complete (ends with a newline)."""
    try:
        with open(tsv, "rb") as fh:
            return fh.readline().endswith(b"\n")
    except FileNotFoundError:
        return False


def data_rows(tsv: Path) -> int:
    """Newline-terminated data rows (without the header) of a session TSV; 0 if it is missing."""
    try:
        data = Path(tsv).read_bytes()
    except FileNotFoundError:
        return 0
    return max(data.count(b"\n") - 1, 0)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6f}"
    if value is None:
        return "n/a"
    return str(value)


def _levels(kind: str) -> dict[str, Any]:
    if kind == "main_category":
        return {"Levels": {v: v for v in MAIN_CATEGORY_LEVELS}}
    if kind == "unusual":
        return {"Levels": {v: v for v in UNUSUAL_LEVELS}}
    if kind == "side":
        return {"Levels": {"left": "left", "right": "right"}}
    if kind in ("float",):
        return {"Units": "s"}
    return {}


def repair_truncated_tail(tsv: Path) -> int:
    """Drop a partial last line left by a crash mid-write; returns the bytes removed."""
    data = Path(tsv).read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(tsv, "r+b") as fh:
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return len(data) - keep


# --------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Session:
    """One session's trials and sidecar, as validated by `read_session`."""

    path: Path
    participant_id: str
    session: int
    task: str
    trials: pd.DataFrame
    meta: dict[str, Any]

    @property
    def recorded_status(self) -> str:
        """SessionStatus as the sidecar records it."""
        return str(self.meta.get("SessionStatus", "incomplete"))

    @property
    def all_trials_done(self) -> bool:
        """True if the rows on disk are exactly the recorded TrialOrder: every trial was written,
        whatever happened to the final status write."""
        order = self.meta.get("TrialOrder")
        if not isinstance(order, list) or not order:
            return False
        return [int(t) for t in self.trials["trial"]] == [int(t) for t in order]

    @property
    def status(self) -> str:
        """complete when every trial of the recorded order is on disk, else the recorded status."""
        return "complete" if self.all_trials_done else self.recorded_status

    @property
    def complete(self) -> bool:
        return self.status == "complete"


_NAME = re.compile(r"^(sub-[0-9]{3,})_ses-([0-9]+)_task-([A-Za-z0-9]+)_beh\.tsv$")


def session_name_parts(tsv: str | Path) -> tuple[str, int, str]:
    """(participant_id, session, task) from a session file name `sub-XXX_ses-XX_task-T_beh.tsv`."""
    m = _NAME.match(Path(tsv).name)
    if not m:
        raise UserError(f"{tsv}: not a session file name (sub-XXX_ses-XX_task-T_beh.tsv)")
    return m.group(1), int(m.group(2)), m.group(3)


def read_session(tsv: str | Path, drop_torn_tail: bool = False) -> Session:
    """Read and validate a session TSV; a missing column, bad value or truncated line is a
    UserError naming the file and row. `drop_torn_tail` reads past a partial last line (a kill
    mid-append) without changing the file."""
    tsv = Path(tsv)
    pid, ses, task = session_name_parts(tsv)
    if task not in COLUMNS:
        raise UserError(f"{tsv}: unknown task '{task}'")
    try:
        raw = tsv.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{tsv}: file not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{tsv}: not UTF-8 text") from None
    if drop_torn_tail:
        raw = raw[: raw.rfind("\n") + 1]
    if raw and not raw.endswith("\n"):
        raise UserError(f"{tsv}: row {raw.count(chr(10)) + 1}: truncated line (no line end)")
    lines = raw.split("\n")[:-1] if raw else []
    if not lines:
        raise UserError(f"{tsv}: empty file (no header)")
    header = lines[0].split("\t")
    spec = COLUMNS[task]
    missing = [c for c in spec if c not in header]
    if missing:
        raise UserError(f"{tsv}: missing column(s) {', '.join(missing)}")
    records = []
    for i, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise UserError(f"{tsv}: row {i}: {len(cells)} fields, expected {len(header)} (truncated or malformed line)")
        rec = dict(zip(header, cells))
        for col, (_, kind) in spec.items():
            rec[col] = _parse(rec[col], kind, tsv, i, col)
        for col, (_, kind) in EXTRA_COLUMNS[task].items():
            if col in rec:
                rec[col] = _parse(rec[col], kind, tsv, i, col)
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=header)
    return Session(tsv, pid, ses, task, df, read_sidecar(tsv))


def read_sidecar(tsv: str | Path) -> dict[str, Any]:
    """The session's `_beh.json` record ({} if absent); anything but a JSON object is a UserError."""
    side = sidecar_path(Path(tsv))
    meta = read_json(side) if side.is_file() else {}
    if not isinstance(meta, dict):
        raise UserError(f"{side}: not a JSON object")
    return meta


def _parse(value: str, kind: str, tsv: Path, row: int, col: str) -> Any:
    def bad(expected: str) -> UserError:
        return UserError(f"{tsv}: row {row}: column '{col}' = '{value}', expected {expected}")

    if kind == "int":
        if not re.fullmatch(r"-?[0-9]+", value):
            raise bad("an integer")
        return int(value)
    if kind == "float":
        if value == "n/a":
            return float("nan")
        try:
            return float(value)
        except ValueError:
            raise bad("a number or n/a") from None
    if kind == "bool01":
        if value not in ("0", "1"):
            raise bad("0 or 1")
        return value == "1"
    if kind == "phase":
        if value not in ("practice", "test"):
            raise bad("practice or test")
        return value
    if kind == "side":
        if value not in ("left", "right"):
            raise bad("left or right")
        return value
    if kind == "n_categories":
        if not re.fullmatch(r"[0-9]+", value) or not 0 <= int(value) <= 10:
            raise bad("an integer 0-10")
        return int(value)
    if kind == "main_category":
        if value not in MAIN_CATEGORY_LEVELS:
            raise bad("yes, maybe or no")
        return value
    if kind == "unusual":
        if value not in UNUSUAL_LEVELS:
            raise bad("no, slightly or very")
        return value
    if kind == "onsets":
        try:
            return [float(v) for v in value.split(";")] if value != "n/a" else []
        except ValueError:
            raise bad("numbers separated by ';'") from None
    if kind == "text":
        return value
    if not value:
        raise bad("a value")
    return value


def resume_state(meta: dict[str, Any], side: Path, trials: Any) -> tuple[list[int], int | None]:
    """The recorded TrialOrder and TrialOrderSeed of a session sidecar, checked against the set's
    `trials` numbers: an edited sidecar (order not a list, repeated or unknown trials, a seed or
    stimulus-set record of the wrong kind) is a UserError `FILE:KEY: what is wrong (what is allowed)`."""
    from labutil.validate import field, int_list, integer, obj, one_of

    where = str(side)
    order = field(meta, "TrialOrder", where, int_list(lo=1, unique=True), default=[])
    seed = field(meta, "TrialOrderSeed", where, integer(lo=0), default=None)
    field(meta, "StimulusSet", where, obj, default={})
    field(meta, "SessionStatus", where, one_of("incomplete", "complete", "aborted"), default="incomplete")
    known = {int(t) for t in trials}
    unknown = [t for t in order if t not in known]
    if unknown:
        raise UserError(f"{where}:TrialOrder: trial {unknown[0]} is not a trial of the stimulus set "
                        f"(allowed: {min(known)}..{max(known)}, each once)")
    return order, seed
