"""What was on screen: trials shown more than once, and mirrored 2AFC sessions mapped back to the set.

The experiment records every showing of a trial (`n_shown`, `onsets`): a trial is shown again
after a cancelled quit or when a session resumes after a kill, a crash or a quit, and a
questionnaire image may then have had answers before (`answered_before`). Such trials are listed
per session and can be left out. In a mirrored 2AFC session (`mirrored` 1) the TSV holds the
layout as shown; `to_set_layout` adds the set's sides, and `correct_from_set` recomputes
correctness from the chosen image alone, independently of any side.
"""

from __future__ import annotations

import pandas as pd

RESHOWN_COLUMNS = ["participant_id", "session", "trial", "phase", "n_shown", "onsets", "answered_before"]


def _flip(side: pd.Series) -> pd.Series:
    return side.map({"left": "right", "right": "left"})


def reshown_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The rows whose images were shown more than once, one line each (empty for sessions recorded
    before `n_shown` existed)."""
    if "n_shown" not in trials.columns or trials.empty:
        return pd.DataFrame(columns=RESHOWN_COLUMNS)
    shown = pd.to_numeric(trials["n_shown"], errors="coerce")
    rows = trials.loc[shown > 1].copy()
    for col in RESHOWN_COLUMNS:
        if col not in rows.columns:
            rows[col] = "n/a"
    rows["onsets"] = [";".join(f"{v:.3f}" for v in o) if isinstance(o, list) else str(o) for o in rows["onsets"]]
    return rows[RESHOWN_COLUMNS].reset_index(drop=True)


def without_reshown(trials: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows shown exactly once (rows without the column count as shown once), and how many left out."""
    if "n_shown" not in trials.columns:
        return trials, 0
    keep = ~(pd.to_numeric(trials["n_shown"], errors="coerce") > 1)
    return trials.loc[keep].reset_index(drop=True), int((~keep).sum())


def to_set_layout(trials: pd.DataFrame) -> pd.DataFrame:
    """2AFC rows with the stimulus set's layout beside the one shown: `set_left_stim`,
    `set_right_stim`, `set_impossible_side`, `set_response_side` (exchanged where `mirrored`)."""
    out = trials.copy()
    mirrored = out["mirrored"].fillna(False).astype(bool) if "mirrored" in out.columns else pd.Series(False, index=out.index)
    out["mirrored"] = mirrored
    out["set_left_stim"] = out["left_stim"].where(~mirrored, out["right_stim"])
    out["set_right_stim"] = out["right_stim"].where(~mirrored, out["left_stim"])
    out["set_impossible_side"] = out["impossible_side"].where(~mirrored, _flip(out["impossible_side"]))
    out["set_response_side"] = out["response_side"].where(~mirrored, _flip(out["response_side"]))
    return out


def correct_from_set(trials: pd.DataFrame, set_trials: pd.DataFrame) -> pd.Series:
    """Correctness recomputed from the set: the chosen image is the pair's impossible image."""
    t = set_trials.set_index("trial")
    imp = t["left_stim"].where(t["impossible_side"] == "left", t["right_stim"])
    return pd.Series([chosen == imp.loc[int(tr)] for tr, chosen in zip(trials["trial"], trials["chosen_stim"])],
                     index=trials.index, name="correct")


def layout_mismatches(trials: pd.DataFrame, set_trials: pd.DataFrame) -> pd.DataFrame:
    """Rows whose set layout (after mapping mirrored rows back) differs from the set's trials.tsv."""
    mapped = to_set_layout(trials)
    t = set_trials.set_index("trial")
    want = t.loc[mapped["trial"].astype(int), ["left_stim", "right_stim", "impossible_side"]].to_numpy()
    got = mapped[["set_left_stim", "set_right_stim", "set_impossible_side"]].to_numpy()
    bad = (want != got).any(axis=1)
    return mapped.loc[bad, ["participant_id", "session", "trial", "mirrored"]] if "participant_id" in mapped else mapped.loc[bad]
