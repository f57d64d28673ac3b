"""Starting or resuming a session: every check that must pass before a file is touched.

`plan_session` refuses (one-line UserError, nothing written) when the participant is not
registered, the stimulus set fails verification or is of the other task, the session already
exists complete or holds another task, or an incomplete session is found and resuming was not
asked for. It returns the trial order: a new seeded order, or the one recorded in the sidecar
with the trials already completed.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labutil.errors import UserError
from labutil.io import remove_leftovers
from participants.layout import (
    TASKS,
    SessionWriter,
    beh_path,
    check_participant_id,
    data_rows,
    has_header,
    read_session,
    read_sidecar,
    repair_truncated_tail,
    resume_state,
    session_dir,
    sidecar_path,
)
from participants.registry import Registry
from stimuli.sets import TRIALS_FILE, StimulusSet, open_verified_set


def default_seed(pid: str, session: int, task: str) -> int:
    """The trial-order seed used when none is given: a fixed function of participant, session, task."""
    digest = hashlib.sha256(f"{pid}/ses-{session:02d}/task-{task}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def trial_order(trials: pd.DataFrame, seed: int) -> list[int]:
    """Practice trials in the set's order, then the test trials in a seeded random order."""
    practice = trials.loc[trials["phase"] == "practice", "trial"].astype(int).tolist()
    test = trials.loc[trials["phase"] == "test", "trial"].astype(int).to_numpy()
    rng = np.random.default_rng(seed)
    return practice + [int(t) for t in rng.permutation(test)]


def session_is_complete(data_root: Path, participant: str, session: int, task: str) -> bool:
    """True if the sidecar says complete or every trial of the recorded order is on disk (the TSV
    is validated on the way)."""
    tsv = beh_path(data_root, check_participant_id(participant), session, task)
    return tsv.is_file() and sidecar_path(tsv).is_file() and has_header(tsv) and read_session(tsv).complete


def session_is_started(data_root: Path, participant: str, session: int, task: str) -> bool:
    """True if an earlier run left anything to resume: a sidecar or trial rows (the test that
    plan_session makes before it starts a session afresh)."""
    tsv = beh_path(data_root, check_participant_id(participant), session, task)
    return sidecar_path(tsv).exists() or data_rows(tsv) > 0


@dataclass
class SessionPlan:
    """What the program will run: where, which set, in which order, and what is already done."""

    task: str
    data_root: Path
    participant: str
    session: int
    tsv: Path
    stimset: StimulusSet
    seed: int
    order: list[int]
    done: list[int]
    resume: bool
    meta: dict[str, Any] = field(default_factory=dict)  # the existing sidecar when resuming

    @property
    def remaining(self) -> list[int]:
        return self.order[len(self.done):]

    @property
    def trials_by_number(self) -> dict[int, dict[str, Any]]:
        """trials.tsv rows keyed by trial number."""
        return {int(r["trial"]): r for r in self.stimset.trials.to_dict("records")}


Prompt = Callable[[str], bool]


def console_prompt(question: str) -> bool:
    """Ask a yes/no question on the console; False when stdin is not a terminal."""
    if not sys.stdin or not sys.stdin.isatty():
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def plan_session(
    task: str,
    data_root: Path,
    participant: str,
    session: int,
    stimuli: Path,
    seed: int | None = None,
    resume: bool = False,
    prompt: Prompt | None = None,
    private_root: Path | None = None,
) -> SessionPlan:
    """Check everything and decide the trial order; writes nothing except, when resuming, the
    removal of a partial last line that a crash left in the TSV."""
    if task not in TASKS:
        raise ValueError(task)
    check_participant_id(participant)
    if session < 1:
        raise UserError(f"--session {session}: must be 1 or more")
    Registry(data_root, private_root).require(participant)
    stimset = open_verified_set(stimuli)
    if stimset.kind != task:
        raise UserError(f"{stimset.path}: a {stimset.kind} stimulus set, but this program runs the {task} task")
    if stimset.test_trials().empty:
        raise UserError(f"{stimset.path / TRIALS_FILE}: no test trials")
    tsv = beh_path(data_root, participant, session, task)
    others = [p.name for p in sorted(session_dir(data_root, participant, session).glob("*_beh.tsv")) if p != tsv]
    if others:
        raise UserError(f"{session_dir(data_root, participant, session)} already holds {others[0]}; "
                        f"use another session number for the {task} task")
    side = sidecar_path(tsv)
    if not side.exists() and data_rows(tsv) == 0:  # nothing, or a header a killed start left
        if resume:
            raise UserError(f"{tsv}: no session to resume (start it without --resume)")
        seed = default_seed(participant, session, task) if seed is None else seed
        return SessionPlan(task, Path(data_root), participant, session, tsv, stimset, seed,
                           trial_order(stimset.trials, seed), [], False)
    return _plan_resume(task, Path(data_root), participant, session, tsv, stimset, seed, resume, prompt)


def _plan_resume(task: str, data_root: Path, participant: str, session: int, tsv: Path, stimset: StimulusSet,
                 seed: int | None, resume: bool, prompt: Prompt | None) -> SessionPlan:
    side = sidecar_path(tsv)
    if not side.is_file():
        raise UserError(f"{side}: missing while {tsv.name} holds trials; the session folder is damaged, "
                        "move it aside to start again")
    meta = read_sidecar(tsv)
    order, recorded_seed = resume_state(meta, side, stimset.trials["trial"])
    status = meta.get("SessionStatus", "incomplete")
    if status == "complete":
        raise UserError(f"{tsv}: session already complete; use another session number")
    if not order or recorded_seed is None:
        raise UserError(f"{side}: no TrialOrder/TrialOrderSeed recorded; cannot resume this session")
    if seed is not None and seed != recorded_seed:
        raise UserError(f"--seed {seed}: the session was started with seed {recorded_seed}; resume without --seed")
    recorded_set = meta.get("StimulusSet", {}).get("TablesSHA256")
    if recorded_set != stimset.tables_sha256:
        raise UserError(f"{stimset.path}: not the stimulus set this session was started with "
                        f"({meta.get('StimulusSet', {}).get('Path')})")
    n_rows = data_rows(tsv)
    if n_rows >= len(order) and not resume and _done_on_disk(tsv) == order:
        raise UserError(f"{tsv}: session already complete (all {len(order)} trials on disk); "
                        "use another session number")
    if not resume:
        question = (f"{tsv.name} is {status} ({n_rows} of {len(order)} trials done). Resume it?")
        if prompt is None or not prompt(question):
            raise UserError(f"{tsv}: session {status} ({n_rows} of {len(order)} trials done); "
                            "pass --resume to continue it")
    if has_header(tsv):
        repair_truncated_tail(tsv)
    done = _done_on_disk(tsv)
    if done != order[: len(done)]:
        raise UserError(f"{tsv}: completed trials do not follow the recorded TrialOrder; cannot resume")
    return SessionPlan(task, data_root, participant, session, tsv, stimset, int(recorded_seed), order, done,
                       True, meta)


def _done_on_disk(tsv: Path) -> list[int]:
    """Trial numbers of the complete rows on disk ([] when a kill left no header yet); a torn
    last line is not counted."""
    if not has_header(tsv):
        return []
    return [int(t) for t in read_session(tsv, drop_torn_tail=True).trials["trial"]]


def finish_from_disk(plan: SessionPlan) -> None:
    """Mark a resumed session whose every trial is on disk complete, showing no trial: the kill
    (or full disk) came after its last row and before its final status write."""
    if plan.remaining or not plan.resume:
        raise ValueError("finish_from_disk needs a resumed plan with no trial left")
    writer = SessionWriter(plan.tsv, plan.task)
    remove_leftovers(plan.tsv.parent)
    writer.set_status("complete", TrialsCompleted=len(plan.done), FinishedFromDisk=True)
