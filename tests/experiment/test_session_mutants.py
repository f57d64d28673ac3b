"""Session start and resume rules that the mutation run of experiment.session (issue 18) found
unpinned: what `session_is_complete` / `session_is_started` say of every state a run can leave,
the console prompt, finishing a session from the rows on disk, and the refusals of a damaged or
incomplete sidecar, each naming the file and what is wrong."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from experiment_fixtures import make_2afc_set, register, tree_bytes

from experiment.session import (
    console_prompt,
    finish_from_disk,
    plan_session,
    session_is_complete,
    session_is_started,
)
from labutil.errors import UserError
from participants.layout import SessionWriter, beh_path, read_session, sidecar_path

PID = "sub-001"


@pytest.fixture()
def lab(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    register(data, 1)
    return {"data": data, "private": tmp_path / "private",
            "pairs": make_2afc_set(tmp_path / "pairs", 2, 4, size=8).path}


def _plan(lab: dict[str, Path], **kw):
    args = {"task": "2afc", "data_root": lab["data"], "participant": PID, "session": 1,
            "stimuli": lab["pairs"], "private_root": lab["private"]}
    return plan_session(**(args | kw))


def _start(lab: dict[str, Path], rows: int, status: str = "incomplete", tail: bytes = b"",
           drop: tuple[str, ...] = ()) -> Path:
    """A session as the program leaves it (sidecar with order, seed and set; `rows` trials done),
    the sidecar keys in `drop` removed afterwards; whatever session 1 held before is removed."""
    shutil.rmtree(lab["data"] / PID / "ses-01", ignore_errors=True)
    plan = _plan(lab)
    w = SessionWriter(plan.tsv, "2afc")
    w.start({"TrialOrder": plan.order, "TrialOrderSeed": plan.seed,
             "StimulusSet": {"TablesSHA256": plan.stimset.tables_sha256, "Path": str(plan.stimset.path)}})
    trials = plan.trials_by_number
    for t in plan.order[:rows]:
        tr = trials[t]
        w.append({**tr, "response_side": "left", "chosen_stim": tr["left_stim"],
                  "correct": tr["impossible_side"] == "left", "rt": 1.0, "onset": float(t)})
    if status != "incomplete":
        w.set_status(status)
    side = sidecar_path(plan.tsv)
    if drop:
        meta = json.loads(side.read_text())
        for key in drop:
            meta.pop(key)
        side.write_text(json.dumps(meta))
    if tail:
        with open(plan.tsv, "ab") as fh:
            fh.write(tail)
    return plan.tsv


def _refused(lab: dict[str, Path], **kw) -> str:
    """The one-line message of a refused plan; no file of the data root changed."""
    before = tree_bytes(lab["data"])
    with pytest.raises(UserError) as err:
        _plan(lab, **kw)
    assert "\n" not in str(err.value)
    assert tree_bytes(lab["data"]) == before
    return str(err.value)


# ------------------------------------------------------------------------------ complete / started


def test_complete_and_started_for_every_state_a_run_leaves(lab: dict[str, Path]) -> None:
    data = lab["data"]
    tsv = beh_path(data, PID, 1, "2afc")
    assert not session_is_complete(data, PID, 1, "2afc") and not session_is_started(data, PID, 1, "2afc")
    tsv.parent.mkdir(parents=True)
    tsv.write_text("trial\tph")  # a kill while the header was written (no line end)
    assert not session_is_complete(data, PID, 1, "2afc") and not session_is_started(data, PID, 1, "2afc")
    tsv.unlink()
    SessionWriter(tsv, "2afc").start({})
    sidecar_path(tsv).unlink()  # header only, the sidecar not yet written: nothing recorded
    assert not session_is_complete(data, PID, 1, "2afc") and not session_is_started(data, PID, 1, "2afc")
    _start(lab, 0)  # sidecar, no trial
    assert not session_is_complete(data, PID, 1, "2afc") and session_is_started(data, PID, 1, "2afc")
    _start(lab, 1)
    sidecar_path(tsv).unlink()  # a row but no sidecar: started (and damaged)
    assert not session_is_complete(data, PID, 1, "2afc") and session_is_started(data, PID, 1, "2afc")
    _start(lab, 5)  # five of six trials
    assert not session_is_complete(data, PID, 1, "2afc")
    _start(lab, 6)  # every trial on disk, the final status write lost
    assert session_is_complete(data, PID, 1, "2afc") and session_is_started(data, PID, 1, "2afc")
    assert not session_is_complete(data, PID, 2, "2afc") and not session_is_started(data, PID, 2, "2afc")


def test_a_complete_session_needs_its_sidecar_and_a_damaged_row_is_an_error(lab: dict[str, Path]) -> None:
    data = lab["data"]
    tsv = _start(lab, 6, "complete")
    assert session_is_complete(data, PID, 1, "2afc")
    text = tsv.read_text()
    tsv.write_text(text.replace("\t1.000000\t", "\tslow\t", 1))
    with pytest.raises(UserError, match=r"row 2: column 'rt' = 'slow'"):
        session_is_complete(data, PID, 1, "2afc")
    tsv.write_text(text)
    sidecar_path(tsv).unlink()
    assert not session_is_complete(data, PID, 1, "2afc")
    with pytest.raises(UserError, match="must look like sub-001"):
        session_is_complete(data, "001", 1, "2afc")
    with pytest.raises(UserError, match="must look like sub-001"):
        session_is_started(data, "001", 1, "2afc")


# ------------------------------------------------------------------------------ the prompt


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("answer", "tty", "expected"), [
    ("y\n", True, True), ("  YES \n", True, True), ("Yes\n", True, True), ("n\n", True, False),
    ("\n", True, False), ("yep\n", True, False), ("y\n", False, False),
])
def test_the_console_prompt_accepts_only_yes(monkeypatch: pytest.MonkeyPatch, capsys, answer: str, tty: bool,
                                             expected: bool) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(answer, tty))
    assert console_prompt("Resume it?") is expected
    assert capsys.readouterr().out == ("Resume it? [y/N] " if tty else "")


def test_the_console_prompt_without_stdin_says_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", None)
    assert console_prompt("Resume it?") is False


# ------------------------------------------------------------------------------ finish from disk


def _dead_pid() -> int:
    """The id of a process that has ended (a child, reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_finish_from_disk_marks_a_resumed_session_complete_and_removes_leftovers(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 6)
    rows = tsv.read_bytes()
    leftover = tsv.parent / f".{sidecar_path(tsv).name}.{_dead_pid()}-abcdef012345.tmp"  # a killed write's
    leftover.write_text("half")
    plan = _plan(lab, resume=True)
    assert plan.remaining == [] and plan.done == plan.order
    finish_from_disk(plan)
    meta = json.loads(sidecar_path(tsv).read_text())
    assert (meta["SessionStatus"], meta["TrialsCompleted"], meta["FinishedFromDisk"]) == ("complete", 6, True)
    assert meta["TrialOrder"] == plan.order  # the rest of the record is kept
    assert tsv.read_bytes() == rows and not leftover.exists()
    assert read_session(tsv).complete


def test_finish_from_disk_refuses_a_plan_with_trials_left_or_not_resumed(lab: dict[str, Path]) -> None:
    _start(lab, 4)
    plan = _plan(lab, resume=True)
    assert plan.remaining
    message = "finish_from_disk needs a resumed plan with no trial left"
    with pytest.raises(ValueError) as err:
        finish_from_disk(plan)
    assert str(err.value) == message
    plan.done = list(plan.order)
    plan.resume = False
    with pytest.raises(ValueError) as err:
        finish_from_disk(plan)
    assert str(err.value) == message
    assert json.loads(sidecar_path(plan.tsv).read_text())["SessionStatus"] == "incomplete"


# ------------------------------------------------------------------------------ refusals on resume


def test_rows_without_a_sidecar_are_refused_naming_the_sidecar(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 2)
    sidecar_path(tsv).unlink()
    for resume in (False, True):
        assert _refused(lab, resume=resume) == (
            f"{sidecar_path(tsv)}: missing while {tsv.name} holds trials; the session folder is damaged, "
            "move it aside to start again")


def test_a_sidecar_without_a_status_counts_as_incomplete(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 3, drop=("SessionStatus",))
    assert _refused(lab) == f"{tsv}: session incomplete (3 of 6 trials done); pass --resume to continue it"
    asked: list[str] = []
    plan = _plan(lab, prompt=lambda q: asked.append(q) or True)
    assert asked == [f"{tsv.name} is incomplete (3 of 6 trials done). Resume it?"] and plan.done == plan.order[:3]


@pytest.mark.parametrize("drop", [("TrialOrderSeed",), ("TrialOrder",), ("TrialOrder", "TrialOrderSeed")])
def test_a_sidecar_without_order_or_seed_cannot_be_resumed(lab: dict[str, Path], drop: tuple[str, ...]) -> None:
    tsv = _start(lab, 2, drop=drop)
    assert _refused(lab, resume=True) == (
        f"{sidecar_path(tsv)}: no TrialOrder/TrialOrderSeed recorded; cannot resume this session")


def test_a_damaged_trial_order_is_an_error_naming_the_sidecar(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 2)
    side = sidecar_path(tsv)
    meta = json.loads(side.read_text())
    meta["TrialOrder"] = [1, 2, 99]
    side.write_text(json.dumps(meta))
    assert _refused(lab, resume=True).startswith(f"{side}:TrialOrder: trial 99 is not a trial of the stimulus set")


def test_another_or_no_recorded_stimulus_set_is_refused_naming_the_recorded_one(
        lab: dict[str, Path], tmp_path: Path) -> None:
    tsv = _start(lab, 2)
    recorded = json.loads(sidecar_path(tsv).read_text())["StimulusSet"]["Path"]
    other = make_2afc_set(tmp_path / "other", 2, 4, seed=9, size=8).path
    assert _refused(lab, stimuli=other, resume=True) == (
        f"{other}: not the stimulus set this session was started with ({recorded})")
    _start(lab, 2, drop=("StimulusSet",))
    assert _refused(lab, resume=True) == (
        f"{lab['pairs']}: not the stimulus set this session was started with (None)")


def test_every_trial_on_disk_and_a_torn_line_is_complete_without_resume(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 6, tail=b"3\ttest\t3")
    assert _refused(lab) == (f"{tsv}: session already complete (all 6 trials on disk); use another session number")


def test_a_session_number_below_one_and_an_unknown_task(lab: dict[str, Path]) -> None:
    assert _refused(lab, session=0) == "--session 0: must be 1 or more"
    with pytest.raises(ValueError, match="stroop"):
        _plan(lab, task="stroop")


def test_a_resumed_plan_carries_the_recorded_session(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 2)
    plan = _plan(lab, resume=True)
    meta = json.loads(sidecar_path(tsv).read_text())
    assert (plan.task, plan.data_root, plan.participant, plan.session, plan.tsv) == ("2afc", lab["data"], PID, 1, tsv)
    assert plan.stimset.tables_sha256 == meta["StimulusSet"]["TablesSHA256"] and plan.resume
    assert plan.seed == meta["TrialOrderSeed"] and isinstance(plan.seed, int) and plan.order == meta["TrialOrder"]
    assert plan.meta == meta and plan.done == plan.order[:2] and plan.remaining == plan.order[2:]


def test_the_given_private_folder_is_the_one_checked(lab: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from inside the data root with the private folder elsewhere: the default ./lab_private
    (which would lie inside the data root) plays no part."""
    monkeypatch.chdir(lab["data"])
    plan = plan_session("2afc", Path("."), PID, 1, lab["pairs"], private_root=lab["private"])
    assert plan.participant == PID and not plan.resume


def test_a_set_without_test_trials_is_refused(lab: dict[str, Path], tmp_path: Path) -> None:
    only_practice = make_2afc_set(tmp_path / "practice_only", 2, 0, size=8).path
    assert _refused(lab, stimuli=only_practice) == f"{only_practice / 'trials.tsv'}: no test trials"


def test_a_fresh_plan_carries_the_session_asked_for(lab: dict[str, Path]) -> None:
    plan = _plan(lab, session=3)
    assert (plan.task, plan.data_root, plan.participant, plan.session) == ("2afc", lab["data"], PID, 3)
    assert plan.tsv == beh_path(lab["data"], PID, 3, "2afc") and plan.resume is False and plan.meta == {}


def test_a_sidecar_with_no_trial_yet_is_resumed_not_started_again(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 0)
    seed = json.loads(sidecar_path(tsv).read_text())["TrialOrderSeed"]
    plan = _plan(lab, resume=True)
    assert plan.resume is True and plan.done == [] and plan.seed == seed
    assert _refused(lab) == f"{tsv}: session incomplete (0 of 6 trials done); pass --resume to continue it"
