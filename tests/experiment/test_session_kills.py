"""A session killed at every write of its life cycle, then resumed (or, where nothing was recorded,
started afresh), ends complete with every trial once, the uninterrupted run's rows, and no
temporary file left: no state is refused by both --resume and a fresh start.

The kill is `os._exit` (no `finally`, no flush, like SIGKILL) in a forked child at the N-th write
event: before each `os.replace` and `os.fsync`, and half-way through each appended row. The
write sequence is the runner's (`experiment.runner._run`): claim the session number, start the
record (header, then sidecar), append each trial, write the final status.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from experiment.session import finish_from_disk, plan_session
from experiment_fixtures import make_2afc_set, register
from labutil.errors import UserError
from labutil.io import find_temp_files
from participants.layout import SessionWriter, beh_path, read_session, sidecar_path
from participants.registry import Registry

KILLED = 137


class _Kill:
    """Counts write events and ends the process at event number `at` (1-based)."""

    def __init__(self, at: int) -> None:
        self.at, self.n = at, 0

    def tick(self) -> None:
        self.n += 1
        if self.n == self.at:
            os._exit(KILLED)


def _instrument(kill: _Kill, monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace, real_fsync, real_append = os.replace, os.fsync, SessionWriter._append

    def replace(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
        kill.tick()
        real_replace(src, dst, *a, **kw)

    def fsync(fd: int) -> None:
        kill.tick()
        real_fsync(fd)

    def append(self: SessionWriter, text: str) -> None:
        if kill.n + 1 == kill.at:  # this event: half the text reaches the file, then the kill
            with open(self.tsv, "a", encoding="utf-8") as fh:
                fh.write(text[: max(len(text) // 2, 1)])
        kill.tick()
        real_append(self, text)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(SessionWriter, "_append", append)


def _row(trial: dict[str, Any], t: int) -> dict[str, Any]:
    return {**trial, "response_side": "left", "chosen_stim": trial["left_stim"],
            "correct": trial["impossible_side"] == "left", "rt": 0.5 + t / 100, "onset": float(t)}


def _life(lab: dict[str, Path], resume: bool) -> None:
    """One run of the session program's write sequence (UserError when it refuses)."""
    plan = plan_session("2afc", lab["data"], "sub-001", 1, lab["pairs"], resume=resume,
                        private_root=lab["private"])
    if not plan.remaining:
        finish_from_disk(plan)
        return
    if not plan.resume:
        Registry(lab["data"], lab["private"]).claim_session("sub-001", 1)
    writer = SessionWriter(plan.tsv, "2afc")
    attempts = [*plan.meta.get("Attempts", []), {"Attempt": len(plan.meta.get("Attempts", [])) + 1}]
    writer.start({"TaskName": "2afc", "SessionStatus": "incomplete", "ExpectedTrials": len(plan.order),
                  "StimulusSet": {"Path": str(plan.stimset.path), "TablesSHA256": plan.stimset.tables_sha256},
                  "TrialOrder": plan.order, "TrialOrderSeed": plan.seed, "Attempts": attempts})
    trials = plan.trials_by_number
    for t in plan.remaining:
        writer.append(_row(trials[t], t))
    writer.set_status("complete", TrialsCompleted=len(plan.order))


def _recover(lab: dict[str, Path]) -> str:
    """What an experimenter does after a crash: --resume; a fresh start if nothing was recorded."""
    try:
        _life(lab, resume=True)
        return "resumed"
    except UserError as exc:
        if "session already complete" in str(exc):  # killed after the final status write
            return "complete"
        assert "no session to resume" in str(exc), str(exc)
    _life(lab, resume=False)
    return "fresh"


@pytest.fixture()
def lab(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    register(data, 1)
    return {"data": data, "private": tmp_path / "private",
            "pairs": make_2afc_set(tmp_path / "pairs", 2, 4, size=8).path}


def _killed_at(lab: dict[str, Path], at: int, recovering: bool = False) -> bool:
    """Run the life cycle (or, `recovering`, what an experimenter does after a crash) in a child
    killed at write event `at`; False when it finished first."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            mp = pytest.MonkeyPatch()
            _instrument(_Kill(at), mp)
            _recover(lab) if recovering else _life(lab, resume=False)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, KILLED), f"child failed (exit {code}) at kill point {at}"
    return code == KILLED


def test_a_kill_at_every_write_is_resumed(lab: dict[str, Path], tmp_path: Path) -> None:
    reference = dict(lab, data=tmp_path / "ref" / "data", private=tmp_path / "ref" / "private")  # its own private folder
    register(reference["data"], 1)
    _life(reference, resume=False)
    ref_tsv = beh_path(reference["data"], "sub-001", 1, "2afc")
    ref_rows = ref_tsv.read_bytes()

    tsv = beh_path(lab["data"], "sub-001", 1, "2afc")
    clean = {p.name: p.read_bytes() for p in lab["data"].iterdir() if p.is_file()}
    outcomes: list[str] = []
    at = 1
    while True:
        _reset(lab, clean)  # back to the registered, session-less data root
        if not _killed_at(lab, at):
            break
        outcomes.append(_recover(lab))
        session = read_session(tsv)
        assert tsv.read_bytes() == ref_rows, f"kill point {at}: rows differ from the uninterrupted run"
        assert session.recorded_status == "complete" and session.complete, at
        assert json.loads(sidecar_path(tsv).read_text())["TrialOrder"] == [int(t) for t in session.trials["trial"]]
        assert find_temp_files(lab["data"], recursive=True) == [], f"kill point {at}: leftovers"
        at += 1
    # 6 trials: the registry's state, header and sidecar (fsync, rename, folder fsync each),
    # 6 rows (torn append, fsync each), the final status (3)
    assert at - 1 == 3 + 2 * 3 + 6 * 2 + 3, at
    assert {"fresh", "resumed", "complete"} <= set(outcomes), outcomes


def test_all_rows_on_disk_but_status_lost_is_complete(lab: dict[str, Path]) -> None:
    _life(lab, resume=False)
    tsv = beh_path(lab["data"], "sub-001", 1, "2afc")
    side = sidecar_path(tsv)
    meta = json.loads(side.read_text())
    meta["SessionStatus"] = "incomplete"  # the kill came before the final status write
    side.write_text(json.dumps(meta))
    session = read_session(tsv)
    assert session.complete and session.status == "complete" and session.recorded_status == "incomplete"
    with pytest.raises(UserError, match="session already complete"):
        _life(lab, resume=False)
    before = tsv.read_bytes()
    _life(lab, resume=True)  # finishes it: no trial shown, no row added
    assert tsv.read_bytes() == before
    meta = json.loads(side.read_text())
    assert meta["SessionStatus"] == "complete" and meta["FinishedFromDisk"] is True


def test_sidecar_without_tsv_is_resumed(lab: dict[str, Path]) -> None:
    """The state older versions could leave (sidecar written, killed before the TSV header)."""
    _life(lab, resume=False)
    tsv = beh_path(lab["data"], "sub-001", 1, "2afc")
    meta = json.loads(sidecar_path(tsv).read_text())
    meta["SessionStatus"] = "incomplete"
    sidecar_path(tsv).write_text(json.dumps(meta))
    tsv.unlink()
    with pytest.raises(UserError, match="pass --resume"):
        _life(lab, resume=False)
    _life(lab, resume=True)
    assert read_session(tsv).recorded_status == "complete" and len(read_session(tsv).trials) == 6


def test_rows_without_sidecar_are_damage(lab: dict[str, Path]) -> None:
    """Trials on disk but no sidecar cannot come from a kill; both ways refuse with one line."""
    _life(lab, resume=False)
    tsv = beh_path(lab["data"], "sub-001", 1, "2afc")
    sidecar_path(tsv).unlink()
    for resume in (False, True):
        with pytest.raises(UserError, match="damaged"):
            _life(lab, resume=resume)


def test_the_program_finishes_a_session_whose_status_write_was_lost(lab: dict[str, Path], capsys) -> None:
    """`python -m experiment.two_afc --resume` on such a session: complete, no window, no trial."""
    from experiment.two_afc import main
    from labutil.errors import run_cli

    _life(lab, resume=False)
    tsv = beh_path(lab["data"], "sub-001", 1, "2afc")
    side = sidecar_path(tsv)
    meta = json.loads(side.read_text())
    meta["SessionStatus"] = "incomplete"
    side.write_text(json.dumps(meta))
    rows = tsv.read_bytes()
    argv = ["--participant", "sub-001", "--session", "1", "--stimuli", str(lab["pairs"]), "--data-root",
            str(lab["data"]), "--private-root", str(lab["private"])]
    assert run_cli(main, [*argv, "--skip-if-complete"]) == 0  # already counts as complete
    assert "already complete" in capsys.readouterr().out
    assert run_cli(main, [*argv, "--resume"]) == 0
    assert "finished from the rows on disk" in capsys.readouterr().out
    assert tsv.read_bytes() == rows and json.loads(side.read_text())["SessionStatus"] == "complete"


def _reset(lab: dict[str, Path], clean: dict[str, bytes]) -> None:
    """The data root as it was before the session: its files `clean`, no session folders."""
    import shutil

    for p in lab["data"].iterdir():
        if p.is_dir():
            shutil.rmtree(p)
    for name, data in clean.items():
        (lab["data"] / name).write_bytes(data)


def test_a_kill_during_the_recovery_is_recovered_too(lab: dict[str, Path], tmp_path: Path) -> None:
    """Killed once in the first run (every 5th write event), then again at every write of the
    resume: the third run still ends with the uninterrupted run's rows."""
    reference = dict(lab, data=tmp_path / "ref" / "data", private=tmp_path / "ref" / "private")  # its own private folder
    register(reference["data"], 1)
    _life(reference, resume=False)
    ref_rows = beh_path(reference["data"], "sub-001", 1, "2afc").read_bytes()
    tsv = beh_path(lab["data"], "sub-001", 1, "2afc")
    clean = {p.name: p.read_bytes() for p in lab["data"].iterdir() if p.is_file()}
    pairs = 0
    for first in range(1, 25, 5):
        second = 1
        while True:
            _reset(lab, clean)
            assert _killed_at(lab, first)
            if not _killed_at(lab, second, recovering=True):
                break
            _recover(lab)
            assert tsv.read_bytes() == ref_rows, (first, second)
            assert read_session(tsv).recorded_status == "complete", (first, second)
            assert find_temp_files(lab["data"], recursive=True) == [], (first, second)
            second += 1
            pairs += 1
    assert pairs >= 40, pairs
