"""The real programs under an X display (Xvfb): real key presses through XTEST, crashes, resumes.

Every program run here is a separate process; the keys come either from this test process (a
"human" following the screens in the PsychoPy log) or from the program's simulated observer.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiment.counterbalance import shown_trial
from experiment.session import default_seed, trial_order
from experiment_driver import REPO, ScreenWatcher, run, start, wait_rows
from experiment_fixtures import XVFB_OPTIONS, TEST_CONFIG, make_2afc_set, make_questionnaire_set, tree_bytes
from participants.events import read_events
from participants.layout import beh_path, read_session
from participants.registry import Registry
from stimuli.sets import read_set

pytestmark = [
    pytest.mark.display,
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (run under xvfb-run)"),
]

@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A data root with registered participants (identities in a private folder), sets and a config."""
    root = tmp_path_factory.mktemp("lab")
    reg = Registry(root / "data", root / "private")
    for i in range(4):
        pid = reg.register(cnn_familiarity="naive", age=25 + i, name=f"Jane Testperson{i}", email=f"jane{i}@example.org")
        reg.record_consent(pid, "2026-01-05", "test-1")
    cfg = root / "lab.toml"
    cfg.write_text(TEST_CONFIG)
    home = root / "home"
    home.mkdir()
    return {
        "root": root, "data": root / "data", "private": root / "private", "config": cfg, "home": home,
        "set2afc": make_2afc_set(root / "sets" / "pairs", n_practice=2, n_test=6).path,
        "setq": make_questionnaire_set(root / "sets" / "quest", n_practice=1, n_test=4).path,
    }


def _args(lab: dict[str, Path], pid: str, session: int, stimuli: Path, *extra: str) -> list[str]:
    return ["--participant", pid, "--session", str(session), "--stimuli", str(stimuli),
            "--data-root", str(lab["data"]), "--private-root", str(lab["private"]),
            "--config", str(lab["config"]), *XVFB_OPTIONS, *extra]


def _sidecar(tsv: Path) -> dict:
    return json.loads(tsv.with_suffix(".json").read_text())


def test_2afc_keys_pressed_by_another_process(lab: dict[str, Path]) -> None:
    """Every trial lands in the TSV with its stimuli, the side pressed, correctness and an RT that
    counts from the stimulus onset; a cancelled Escape changes nothing."""
    from experiment.xkeys import KeyPresser

    pid, ses = "sub-001", 1
    tsv = beh_path(lab["data"], pid, ses, "2afc")
    proc = start("two_afc", _args(lab, pid, ses, lab["set2afc"]), lab["home"])
    watcher = ScreenWatcher(tsv.parent, attempt=1)
    keys = KeyPresser()
    rng = np.random.default_rng(5)
    pressed: dict[int, str] = {}
    screens: list[str] = []
    delay = 0.25
    try:
        while True:
            screen, info = watcher.next(proc, repress=keys.press_again)
            screens.append(screen)
            if screen in ("instructions", "practice_done", "break"):
                keys.press("space")
            elif screen == "trial":
                trial = int(info["trial"])
                if trial == 5 and "reshown" not in info:  # Escape, then "no": the trial is shown again
                    keys.press("escape")
                    continue
                side = "left" if rng.random() < 0.5 else "right"
                pressed[trial] = side
                time.sleep(delay)
                keys.press(side)
            elif screen == "confirm_quit":
                keys.press("n")
            elif screen == "end":
                keys.press("space")
                break
        assert proc.wait(timeout=30) == 0
    finally:
        keys.close()
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert "session complete" in out

    s = read_session(tsv)
    order = trial_order(read_set(lab["set2afc"]).trials, default_seed(pid, ses, "2afc"))
    assert s.status == "complete"
    assert s.meta["TrialOrder"] == order and s.meta["TrialOrderSeed"] == default_seed(pid, ses, "2afc")
    assert list(s.trials["trial"]) == order
    assert order[:2] == [1, 2] and sorted(order[2:]) == [3, 4, 5, 6, 7, 8]
    stimtab = read_set(lab["set2afc"]).trials.set_index("trial")
    mirrored = s.meta["Counterbalancing"]["MirrorSides"]
    assert set(s.trials["mirrored"]) == {mirrored}
    for row in s.trials.itertuples():
        expected = pd.Series(shown_trial(stimtab.loc[row.trial].to_dict(), mirrored))
        assert (row.left_stim, row.right_stim, row.impossible_side, row.pair_id) == (
            expected.left_stim, expected.right_stim, expected.impossible_side, expected.pair_id)
        assert row.response_side == pressed[row.trial]
        assert row.chosen_stim == (row.left_stim if row.response_side == "left" else row.right_stim)
        assert row.correct == (row.response_side == row.impossible_side)
        assert delay <= row.rt < delay + 2.0, row
    assert list(s.trials["phase"]) == ["practice"] * 2 + ["test"] * 6
    assert (np.diff(s.trials["onset"]) > 0).all()
    # trial 5 was shown again after Escape + N: both onsets kept, the RT counts from the second
    by_trial = s.trials.set_index("trial")
    assert by_trial.loc[5, "n_shown"] == 2 and len(by_trial.loc[5, "onsets"]) == 2
    assert by_trial.loc[5, "onsets"][1] == pytest.approx(by_trial.loc[5, "onset"], abs=1e-6)
    assert (by_trial.drop(index=5)["n_shown"] == 1).all()
    assert s.meta["Timing"]["QuitConfirmations"]["n"] == 1
    gaps = s.meta["Timing"]["ResponseToNextOnsetS"]
    assert gaps["max"] < 1.0  # the quit confirmation's pause is not a response-to-onset gap
    assert screens.count("break") == 1 and "practice_done" in screens and screens.count("confirm_quit") == 1
    assert s.meta["ImageSizePx"] == [224, 224] and s.meta["ImageSizeDeg"] > 0
    timing = s.meta["Timing"]
    assert timing["FramesRecorded"] > 0 and "DroppedFrames" in timing
    beh = sorted(p.name for p in tsv.parent.iterdir())
    assert beh == sorted([tsv.name, tsv.with_suffix(".json").name, "sub-001_ses-01_task-2afc_events.tsv",
                          "sub-001_ses-01_task-2afc_attempt-01_psychopy.csv",
                          "sub-001_ses-01_task-2afc_attempt-01_psychopy.psydat",
                          "sub-001_ses-01_task-2afc_attempt-01_psychopy.log"])
    assert Registry(lab["data"], lab["private"]).find_identity_leaks(lab["data"]) == []
    for p in tsv.parent.iterdir():  # nothing holds a path of this machine
        assert str(lab["root"]).encode() not in p.read_bytes() and str(REPO).encode() not in p.read_bytes(), p
    psy = pd.read_csv(tsv.parent / "sub-001_ses-01_task-2afc_attempt-01_psychopy.csv")
    for col in ("participant", "session", "date", "expName", "psychopyVersion", "frameRate", "frameIntervalsMs"):
        assert col in psy.columns, col
    assert list(psy["trial"]) == order and (psy["participant"] == pid).all()
    assert [len(str(v).split(";")) for v in psy["frameIntervalsMs"]] == list(s.trials["n_frames"])


def test_questionnaire_keys_escape_then_resume(lab: dict[str, Path]) -> None:
    """Number keys answer the three questions; Escape + y aborts with every answered image saved;
    --resume finishes the session in the recorded order."""
    from experiment.xkeys import KeyPresser

    pid, ses = "sub-002", 2
    tsv = beh_path(lab["data"], pid, ses, "questionnaire")
    proc = start("questionnaire", _args(lab, pid, ses, lab["setq"]), lab["home"])
    watcher = ScreenWatcher(tsv.parent, attempt=1)
    keys = KeyPresser()
    answers: dict[int, list[str]] = {}
    script = {1: "7", 2: "2", 3: "3"}  # Q1: 7 categories, Q2: maybe, Q3: very
    try:
        n_images = 0
        while True:
            screen, info = watcher.next(proc, repress=keys.press_again)
            if screen in ("instructions", "practice_done", "break"):
                keys.press("space")
            elif screen == "question":
                trial, q = int(info["trial"]), int(info["question"])
                if q == 1:
                    n_images += 1
                if n_images == 4 and q == 2:  # quit in the middle of the 4th image
                    keys.press("escape")
                    continue
                key = "t" if (trial == 1 and q == 1) else script[q]
                answers.setdefault(trial, []).append(key)
                keys.press(key)
            elif screen == "confirm_quit":
                keys.press("y")
            elif screen == "saved":
                assert info == {"done": "3", "of": "5"}
                keys.press("space")
                break
        assert proc.wait(timeout=30) == 0
    finally:
        keys.close()
        if proc.poll() is None:
            proc.kill()
    s = read_session(tsv)
    assert s.status == "aborted"
    assert len(s.trials) == 3  # the 4th image was not finished
    for row in s.trials.itertuples():
        assert row.n_categories == (10 if row.trial == 1 else 7)
        assert (row.main_category, row.unusual) == ("maybe", "very")
        assert all(0 < r < 30 for r in (row.rt_q1, row.rt_q2, row.rt_q3))
    order = s.meta["TrialOrder"]
    assert list(s.trials["trial"]) == order[:3]

    # Starting again without --resume: refused, nothing changed.
    before = tree_bytes(lab["data"])
    r = run("questionnaire", _args(lab, pid, ses, lab["setq"]), lab["home"])
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "--resume" in r.stderr and tree_bytes(lab["data"]) == before

    r = run("questionnaire", _args(lab, pid, ses, lab["setq"], "--resume", "--simulate", "typical",
                                   "--sim-rt-scale", "0.05", "--pilot"), lab["home"])
    assert r.returncode == 0, r.stderr
    s = read_session(tsv)
    assert s.status == "complete" and list(s.trials["trial"]) == order
    attempts = s.meta["Attempts"]
    assert [a["Status"] for a in attempts] == ["aborted", "complete"]
    assert attempts[1]["FirstTrialIndex"] == 3 and s.meta["Simulated"] is True
    assert [a["Pilot"] for a in attempts] == [False, True] and s.meta["Pilot"] is True
    assert attempts[1]["WindowSizePx"] == [800, 600] and attempts[1]["Fullscreen"] is False  # PsychoPy's pilot window
    # the 4th image was on screen at the quit, with Q1 answered: shown again, and that is recorded
    fourth = s.trials.set_index("trial").loc[order[3]]
    assert fourth["n_shown"] == 2 and fourth["answered_before"] == "n_categories=7"
    assert (s.trials.set_index("trial").drop(index=order[3])["n_shown"] == 1).all()
    shows = [e for e in read_events(tsv) if e["trial_type"] == "stimulus" and e["trial"] == str(order[3])]
    assert [(e["attempt"], e["value"]) for e in shows] == [("1", "first"), ("2", "after_resume")]


@pytest.mark.skipif(not shutil.which("xdotool"), reason="needs xdotool to type into the dialog")
def test_session_dialog_when_options_are_missing(lab: dict[str, Path]) -> None:
    """Without --participant the PsychoPy dialog asks for it; the typed id is used."""
    from experiment.xkeys import KeyPresser

    proc = start("two_afc", ["--session", "1", "--stimuli", str(lab["set2afc"]), "--data-root", str(lab["data"]),
                             "--private-root", str(lab["private"]), "--config", str(lab["config"]), *XVFB_OPTIONS],
                 lab["home"])
    try:
        deadline, wid = time.monotonic() + 60, ""
        while not wid and time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read()
                if "Qt platform plugin" in err:
                    pytest.skip("Qt cannot open its xcb platform plugin here (system library missing)")
                raise AssertionError(err[-2000:])
            found = subprocess.run(["xdotool", "search", "--name", "trivial or impossible"],
                                   capture_output=True, text=True)
            wid = found.stdout.split()[0] if found.stdout.split() else ""
            time.sleep(0.2)
        assert wid, "no dialog window"
        time.sleep(0.5)
        subprocess.run(["xdotool", "windowfocus", "--sync", wid], check=False, timeout=10)
        subprocess.run(["xdotool", "key", "--clearmodifiers", "ctrl+a"], check=True, timeout=10)
        subprocess.run(["xdotool", "type", "sub-004"], check=True, timeout=10)
        subprocess.run(["xdotool", "key", "Return"], check=True, timeout=10)
        tsv = beh_path(lab["data"], "sub-004", 1, "2afc")
        watcher = ScreenWatcher(tsv.parent, attempt=1)
        keys = KeyPresser()
        try:
            assert watcher.next(proc, repress=keys.press_again)[0] == "instructions"
            keys.press("escape")
            assert watcher.next(proc, repress=keys.press_again)[0] == "confirm_quit"
            keys.press("y")
            assert watcher.next(proc, repress=keys.press_again)[0] == "saved"
            keys.press("space")
        finally:
            keys.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _sidecar(tsv)["SessionStatus"] == "aborted"


@pytest.mark.parametrize("task", ["2afc", "questionnaire"])
def test_sigkill_then_resume_loses_and_duplicates_nothing(lab: dict[str, Path], task: str) -> None:
    """SIGKILL at seeded random trials, then --resume: no completed trial lost or duplicated, the
    session finishes in the recorded order (2AFC: killed twice; questionnaire: once)."""
    pid, ses = ("sub-003", 1) if task == "2afc" else ("sub-003", 2)
    module = "two_afc" if task == "2afc" else "questionnaire"
    stimuli = lab["set2afc"] if task == "2afc" else lab["setq"]
    tsv = beh_path(lab["data"], pid, ses, task)
    n_total = 8 if task == "2afc" else 5
    rng = np.random.default_rng(20261122 + n_total)
    kills = sorted(rng.choice(np.arange(1, n_total), size=2 if task == "2afc" else 1, replace=False).tolist())
    sim = ["--simulate", "typical", "--sim-rt-scale", "0.1"]
    rows_before: list[str] = []
    for attempt, k in enumerate(kills, start=1):
        extra = sim + (["--resume"] if attempt > 1 else [])
        proc = start(module, _args(lab, pid, ses, stimuli, *extra), lab["home"])
        try:
            wait_rows(tsv, k, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
        lines = tsv.read_text().split("\n")
        complete_rows = lines[1:-1]  # rows that end in a newline
        assert complete_rows[: len(rows_before)] == rows_before  # nothing completed was lost
        rows_before = complete_rows
        assert _sidecar(tsv)["SessionStatus"] == "incomplete"
    r = run(module, _args(lab, pid, ses, stimuli, *sim, "--resume"), lab["home"])
    assert r.returncode == 0, r.stderr
    s = read_session(tsv)
    order = s.meta["TrialOrder"]
    assert s.status == "complete"
    assert list(s.trials["trial"]) == order and len(set(order)) == n_total
    final_rows = tsv.read_text().split("\n")[1:-1]
    assert final_rows[: len(rows_before)] == rows_before
    shows: dict[int, list[float]] = {}
    for e in read_events(tsv):
        if e["trial_type"] == "stimulus":
            shows.setdefault(int(e["trial"]), []).append(float(e["onset"]))
    for row in s.trials.itertuples():  # n_shown and onsets are every showing in the event log, in every attempt
        assert row.n_shown == len(shows[row.trial]) and row.onsets == pytest.approx(shows[row.trial], abs=1e-6)
    for a in range(1, len(kills) + 1):  # each killed attempt kept its PsychoPy csv, one row per completed trial
        psy = pd.read_csv(tsv.parent / tsv.name.replace("_beh.tsv", f"_attempt-{a:02d}_psychopy.csv"))
        assert len(psy) == s.meta["Attempts"][a]["FirstTrialIndex"] - s.meta["Attempts"][a - 1]["FirstTrialIndex"]
    assert len(s.meta["Attempts"]) == len(kills) + 1
    assert [a.get("Status") for a in s.meta["Attempts"]][-1] == "complete"
