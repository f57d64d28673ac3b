"""Loading the sessions of one task for analysis, with every exclusion listed, never silent.

Sessions are read through `participants.layout` (which validates every row). By default only
`complete` sessions of people are analysed; incomplete and aborted ones (also unreadable ones,
such as a crash's torn last line), sessions whose row count differs from the sidecar's
`ExpectedTrials`, sessions with a repeated trial number or no recorded stimulus set, pilot
sessions (`Pilot: true`), simulated observers (`Simulated: true`), repeated sessions of a
participant (the first is kept) and sessions run on another stimulus set, or on another version
of it (tables' checksum), are listed in `excluded` with a reason.
Practice trials are dropped (and counted) unless asked for. Sessions run in the browser
(`experiment.web`) are read like lab sessions; every trial row carries `setting` (lab | online), so
lab and online observers can be shown side by side (`setting_summary`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labutil.errors import UserError
from analysis.humans.shown import RESHOWN_COLUMNS, reshown_trials, to_set_layout, without_reshown
from participants.layout import Session, find_sessions, read_session, read_sidecar, session_name_parts

EXCLUDED_COLUMNS = ["participant_id", "session", "task", "status", "n_rows", "stimulus_set", "reason", "path"]


def _set_ref(meta: dict[str, Any]) -> dict[str, Any]:
    ref = meta.get("StimulusSet", meta.get("stimulus_set"))
    if isinstance(ref, str):
        return {"Path": ref}
    return ref if isinstance(ref, dict) else {}


def session_set_name(meta: dict[str, Any]) -> str | None:
    """Name of the stimulus set a session ran on, from its sidecar (`StimulusSet`: {Name, Path})."""
    ref = _set_ref(meta)
    name = ref.get("name") or ref.get("Name")
    path = ref.get("path") or ref.get("Path")
    if name:
        return str(name)
    return Path(str(path)).name if path else None


def session_set_checksum(meta: dict[str, Any]) -> str | None:
    """The checksum of the set's tables recorded by the session (`StimulusSet.TablesSHA256`)."""
    value = _set_ref(meta).get("TablesSHA256")
    return str(value) if value else None


def session_setting(meta: dict[str, Any]) -> str:
    """Where a session ran: `online` (experiment.web records `Setting: online`) or `lab` (anything else)."""
    return "online" if str(meta.get("Setting", "")).lower() == "online" else "lab"


def _flag(value: Any) -> bool:
    """A sidecar's boolean (`true`, or the strings 'true'/'1'); anything else is false."""
    return value is True or (isinstance(value, int | str) and str(value).strip().lower() in ("true", "1"))


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
    set_checksum: str | None = None  # its tables' checksum as the sessions recorded it
    notes: list[str] = field(default_factory=list)
    # trials of the included sessions whose images were shown more than once (analysis.humans.shown)
    reshown: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RESHOWN_COLUMNS))
    reshown_left_out: int = 0  # of those, rows left out (load_sessions(..., leave_out_reshown=True))

    @property
    def participants(self) -> list[str]:
        return [s.participant_id for s in self.sessions]

    @property
    def settings(self) -> dict[str, str]:
        """Participant id -> lab | online, for the included sessions."""
        return {s.participant_id: session_setting(s.meta) for s in self.sessions}

    @property
    def n_simulated(self) -> int:
        """Included sessions run by a simulated observer (`Simulated: true`), not by a person."""
        return sum(_flag(s.meta.get("Simulated")) for s in self.sessions)


def _expected_rows(meta: dict[str, Any]) -> int | None:
    value = meta.get("ExpectedTrials")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def read_sessions(data_root: str | Path, task: str | None = None) -> tuple[list[Session], list[dict[str, Any]]]:
    """Every session (of `task`) under the data root, and exclusion rows for the unreadable ones.

    A malformed file of a session marked complete is the reader's one-line UserError naming the
    file and row; one of a session that is not complete (crashed or still running, so a torn last
    line is expected) is left out and listed instead.
    """
    sessions, unreadable = [], []
    for path in find_sessions(Path(data_root), task):
        try:
            sessions.append(read_session(path))
        except UserError as exc:
            status = str(read_sidecar(path).get("SessionStatus", "incomplete"))
            if status == "complete":
                raise
            pid, ses, tsk = session_name_parts(path)
            unreadable.append({"participant_id": pid, "session": ses, "task": tsk, "status": status, "n_rows": None,
                               "stimulus_set": "n/a", "reason": f"unreadable {status} session: {exc}", "path": str(path)})
    return sessions, unreadable


def _problem(s: Session, include_incomplete: bool, include_pilot: bool, include_simulated: bool) -> str | None:
    """Why a session may not enter the analysis, or None."""
    trials = s.trials["trial"]
    if trials.duplicated().any():
        return f"trial {int(trials[trials.duplicated()].iloc[0])} recorded more than once"
    if session_set_name(s.meta) is None:
        return "no stimulus set recorded in the sidecar"
    if not include_incomplete:
        expected = _expected_rows(s.meta)
        if not s.complete:
            return f"session status '{s.status}' (only complete sessions are analysed)"
        if expected is None:
            return "marked complete but records no ExpectedTrials"
        if len(s.trials) != expected:
            return f"marked complete but has {len(s.trials)} of {expected} expected rows"
    if _flag(s.meta.get("Pilot")) and not include_pilot:
        return "pilot session (not analysed unless asked for)"
    if _flag(s.meta.get("Simulated")) and not include_simulated:
        return "simulated observer (not analysed unless asked for)"
    return None


def load_sessions(
    data_root: str | Path,
    task: str,
    stimulus_set: str | None = None,
    include_incomplete: bool = False,
    include_practice: bool = False,
    include_pilot: bool = False,
    include_simulated: bool = False,
    leave_out_reshown: bool = False,
) -> LoadedSessions:
    """Read every session of `task` under the data root and decide which enter the analysis.

    `stimulus_set` restricts the analysis to sessions run on that set; by default the set used by
    most usable sessions is chosen. Sessions on another set, or on another version of the chosen
    set (its tables' checksum differs: the set was rebuilt under the same name), are listed as
    excluded. A malformed file of a complete session raises the reader's one-line UserError.
    2AFC trials get the set's layout beside the one shown (mirrored sessions mapped back); trials
    shown more than once are listed in `reshown` and, with `leave_out_reshown`, left out.
    """
    root = Path(data_root)
    found, excluded = read_sessions(root, task)

    def exclude(s: Session, reason: str) -> None:
        excluded.append({
            "participant_id": s.participant_id, "session": s.session, "task": s.task, "status": s.status,
            "n_rows": len(s.trials), "stimulus_set": session_set_name(s.meta) or "n/a", "reason": reason,
            "path": str(s.path),
        })

    usable: list[Session] = []
    for s in found:
        problem = _problem(s, include_incomplete, include_pilot, include_simulated)
        if problem:
            exclude(s, problem)
        else:
            usable.append(s)

    keys = pd.Series([(session_set_name(s.meta), session_set_checksum(s.meta)) for s in usable], dtype=object)
    if stimulus_set is not None:
        keys = keys[[k[0] == stimulus_set for k in keys]]
    chosen_key = None
    if not keys.empty:
        counts = keys.value_counts()
        chosen_key = sorted(counts[counts == counts.max()].index, key=lambda k: (k[0], k[1] or ""))[0]
    stimulus_set = chosen_key[0] if chosen_key else stimulus_set
    checksum = chosen_key[1] if chosen_key else None
    chosen: list[Session] = []
    seen: dict[str, Session] = {}
    for s in usable:
        name, sha = session_set_name(s.meta), session_set_checksum(s.meta)
        if name != stimulus_set:
            exclude(s, f"ran on stimulus set '{name}', the analysis uses '{stimulus_set}'")
        elif sha != checksum:
            exclude(s, f"ran on another version of stimulus set '{name}' (its tables' checksum differs)")
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
        df["setting"] = session_setting(s.meta)  # online sessions also carry it per row; lab ones get 'lab'
        frames.append(df)
    trials = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["participant_id", "session", "phase"])
    if task == "2afc" and len(trials):
        trials = to_set_layout(trials)
    practice = trials["phase"] == "practice"
    practice_rows = int(practice.sum())
    if not include_practice:
        trials = trials.loc[~practice].reset_index(drop=True)
    reshown = reshown_trials(trials)
    notes: list[str] = []
    left_out = 0
    if leave_out_reshown:
        trials, left_out = without_reshown(trials)
        notes.append(f"{left_out} trials shown more than once (after a cancelled quit or a resume) left out")
    return LoadedSessions(
        task=task, data_root=root, sessions=chosen, trials=trials,
        excluded=pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS), practice_rows=practice_rows,
        stimulus_set=stimulus_set, set_checksum=checksum, notes=notes, reshown=reshown, reshown_left_out=left_out,
    )


def setting_summary(loaded: LoadedSessions) -> pd.DataFrame:
    """One row per setting (lab, online): observers, trials and, for the 2AFC, the mean and SD over
    observers of the proportion correct."""
    rows = []
    trials = loaded.trials
    for setting in ("lab", "online"):
        part = trials.loc[trials["setting"] == setting] if "setting" in trials else trials.iloc[:0]
        row: dict[str, Any] = {"setting": setting, "n_observers": int(part["participant_id"].nunique()),
                               "n_trials": len(part)}
        if loaded.task == "2afc":
            per = part.groupby("participant_id")["correct"].mean() if len(part) else pd.Series(dtype=float)
            row["accuracy_mean"] = float(per.mean()) if len(per) else float("nan")
            row["accuracy_sd"] = float(per.std(ddof=1)) if len(per) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def compare_settings(loaded: LoadedSessions) -> dict[str, float] | None:
    """2AFC: online minus lab mean observer accuracy with Welch's t-test over observers (the unit of
    a claim about observers); None for the questionnaire or with fewer than two observers in a setting."""
    from scipy import stats

    trials = loaded.trials
    if loaded.task != "2afc" or "setting" not in trials:
        return None
    per = trials.groupby(["setting", "participant_id"])["correct"].mean()
    lab, online = (per.get(s, pd.Series(dtype=float)) for s in ("lab", "online"))
    if len(lab) < 2 or len(online) < 2:
        return None
    res = stats.ttest_ind(online.to_numpy(float), lab.to_numpy(float), equal_var=False)
    return {"difference": float(online.mean() - lab.mean()), "t": float(res.statistic), "df": float(res.df),
            "p_value": float(res.pvalue), "n_lab": len(lab), "n_online": len(online)}

