"""Loading the sessions of one task for analysis, with every exclusion listed, never silent.

Sessions are read through `participants.layout` (which validates every row). By default only
`complete` sessions are analysed; incomplete and aborted ones, sessions whose row count falls
short of the sidecar's `ExpectedTrials`, pilot sessions (`Pilot: true`), repeated sessions of a participant (the first complete
one is kept) and sessions run on another stimulus set are listed in `excluded` with a reason.
Practice trials are dropped (and counted) unless asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from participants.layout import Session, find_sessions, read_session

EXCLUDED_COLUMNS = ["participant_id", "session", "task", "status", "n_rows", "stimulus_set", "reason", "path"]


def session_set_name(meta: dict[str, Any]) -> str | None:
    """Name of the stimulus set a session ran on, from its sidecar (`StimulusSet`: {name, path})."""
    ref = meta.get("StimulusSet", meta.get("stimulus_set"))
    if isinstance(ref, dict):
        name = ref.get("name") or ref.get("Name")
        path = ref.get("path") or ref.get("Path")
        if name:
            return str(name)
        if path:
            return Path(str(path)).name
        return None
    if isinstance(ref, str) and ref:
        return Path(ref).name
    return None


@dataclass
class LoadedSessions:
    """The sessions of one task that enter the analysis, and those that were left out."""

    task: str
    data_root: Path
    sessions: list[Session]
    trials: pd.DataFrame  # included sessions' rows + participant_id, session (test phase unless asked)
    excluded: pd.DataFrame  # one row per session left out: EXCLUDED_COLUMNS
    practice_rows: int  # practice rows found (dropped from `trials` unless include_practice)
    stimulus_set: str | None  # the set all included sessions ran on (None if unrecorded)
    notes: list[str] = field(default_factory=list)

    @property
    def participants(self) -> list[str]:
        return [s.participant_id for s in self.sessions]

    @property
    def n_simulated(self) -> int:
        """Included sessions run by a simulated observer (`Simulated: true`), not by a person."""
        return sum(bool(s.meta.get("Simulated")) for s in self.sessions)


def _expected_rows(meta: dict[str, Any]) -> int | None:
    value = meta.get("ExpectedTrials")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def load_sessions(
    data_root: str | Path,
    task: str,
    stimulus_set: str | None = None,
    include_incomplete: bool = False,
    include_practice: bool = False,
    include_pilot: bool = False,
) -> LoadedSessions:
    """Read every session of `task` under the data root and decide which enter the analysis.

    `stimulus_set` restricts the analysis to sessions run on that set; by default the set used by
    most complete sessions is chosen (sessions on other sets are listed as excluded).
    A malformed session file raises the reader's one-line UserError naming the file and row.
    """
    root = Path(data_root)
    found = [read_session(p) for p in find_sessions(root, task)]
    excluded: list[dict[str, Any]] = []

    def exclude(s: Session, reason: str) -> None:
        excluded.append({
            "participant_id": s.participant_id, "session": s.session, "task": s.task, "status": s.status,
            "n_rows": len(s.trials), "stimulus_set": session_set_name(s.meta) or "n/a", "reason": reason,
            "path": str(s.path),
        })

    usable: list[Session] = []
    for s in found:
        expected = _expected_rows(s.meta)
        if not s.complete and not include_incomplete:
            exclude(s, f"session status '{s.status}' (only complete sessions are analysed)")
        elif s.complete and expected is not None and len(s.trials) < expected and not include_incomplete:
            exclude(s, f"marked complete but has {len(s.trials)} of {expected} expected rows")
        elif s.meta.get("Pilot") and not include_pilot:
            exclude(s, "pilot session (not analysed unless asked for)")
        else:
            usable.append(s)

    if stimulus_set is None:
        names = pd.Series([session_set_name(s.meta) for s in usable], dtype=object).dropna()
        if not names.empty:
            counts = names.value_counts()
            stimulus_set = str(sorted(counts[counts == counts.max()].index)[0])
    chosen: list[Session] = []
    seen: dict[str, Session] = {}
    for s in usable:
        name = session_set_name(s.meta)
        if stimulus_set is not None and name is not None and name != stimulus_set:
            exclude(s, f"ran on stimulus set '{name}', the analysis uses '{stimulus_set}'")
        elif s.participant_id in seen:
            exclude(s, f"repeat: {s.participant_id} already has an analysed session (ses-{seen[s.participant_id].session:02d})")
        else:
            seen[s.participant_id] = s
            chosen.append(s)

    frames = []
    for s in chosen:
        df = s.trials.copy()
        df.insert(0, "session", s.session)
        df.insert(0, "participant_id", s.participant_id)
        frames.append(df)
    trials = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["participant_id", "session", "phase"])
    practice = trials["phase"] == "practice"
    practice_rows = int(practice.sum())
    if not include_practice:
        trials = trials.loc[~practice].reset_index(drop=True)
    return LoadedSessions(
        task=task, data_root=root, sessions=chosen, trials=trials,
        excluded=pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS), practice_rows=practice_rows,
        stimulus_set=stimulus_set,
    )
