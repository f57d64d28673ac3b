"""Lab-ready sessions, tried as an experimenter would under Xvfb (1920 x 1080) with real key presses:
what would spoil the data is refused with one line (exit 2, no file changed), each explicit
option runs and is recorded, the geometry comes from the real window, re-shown trials are
flagged, and the questionnaire takes keypad, mouse and corrections."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiment_driver import ScreenWatcher, program_env, run, start
from experiment_fixtures import XVFB_OPTIONS, TEST_CONFIG, make_2afc_set, make_questionnaire_set, register, tree_bytes
from participants.events import read_events
from participants.layout import beh_path, read_session

pytestmark = [
    pytest.mark.display,
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (run under xvfb-run)"),
]

CALIBRATED = "lab-cal"


def _screen_size() -> tuple[int, int]:
    from Xlib import display

    d = display.Display()
    s = d.screen()
    size = (s.width_in_pixels, s.height_in_pixels)
    d.close()
    return size


@pytest.fixture()
def lab(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    register(data, 3)
    home = tmp_path / "home"
    home.mkdir()
    w, h = _screen_size()
    # a psychopy.monitors calibration, saved as an experimenter would (docs/running-a-study.md)
    code = ("from psychopy import monitors; m = monitors.Monitor('lab-cal'); m.setWidth(53.0); m.setDistance(57.0); "
            f"m.setSizePix([{w}, {h}]); m.setGamma(1.0); m.setCalibDate(); m.save()")
    subprocess.run([sys.executable, "-c", code], env=program_env(home), check=True, capture_output=True, timeout=60)
    (tmp_path / "window.toml").write_text(TEST_CONFIG)
    (tmp_path / "full.toml").write_text(f'[monitor]\nname = "{CALIBRATED}"\nresolution_px = [{w}, {h}]\n'
                                        "fullscreen = true\nimage_size_deg = 8.0\n[two_afc]\nfixation_s = 0.1\n")
    (tmp_path / "wrong.toml").write_text(f'[monitor]\nname = "{CALIBRATED}"\nresolution_px = [2560, 1440]\n')
    return {"tmp": tmp_path, "data": data, "home": home, "size": (w, h),
            "pairs": make_2afc_set(tmp_path / "pairs", 2, 4).path,
            "quest": make_questionnaire_set(tmp_path / "quest", 1, 2).path}


def _args(lab: dict[str, Path], config: str, pid: str = "sub-001", session: int = 1, task: str = "pairs",
          *extra: str) -> list[str]:
    return ["--participant", pid, "--session", str(session), "--stimuli", str(lab[task]),
            "--data-root", str(lab["data"]), "--private-root", str(lab["tmp"] / "private"),
            "--config", str(lab["tmp"] / config), *extra]


def _tree(lab: dict[str, Path]) -> dict[str, bytes]:
    """Every file but PsychoPy's own preferences in HOME."""
    return {k: v for k, v in tree_bytes(lab["tmp"]).items() if not k.startswith("home/")}


def _sidecar(lab: dict[str, Path], pid: str = "sub-001", session: int = 1, task: str = "2afc") -> dict:
    return json.loads(beh_path(lab["data"], pid, session, task).with_suffix(".json").read_text())


@pytest.mark.parametrize("case, expected", [
    ("size", "the window is {w} x {h} px but monitor.resolution_px is 2560 x 1440 (wrong.toml): visual angles "
             "would be wrong"),
    ("frame rate", "measured frame rate"),
])
def test_a_wrong_display_is_refused_before_anything_is_written(lab: dict[str, Path], case: str, expected: str) -> None:
    if case == "size":  # full screen on the real screen, with a config that names another resolution
        args = _args(lab, "wrong.toml", "sub-001", 1, "pairs", "--simulate", "demo", "--allow-frame-rate-mismatch")
    else:  # Xvfb has no vsync: its flips come far faster than the configured 60 Hz
        args = _args(lab, "window.toml", "sub-001", 1, "pairs", "--simulate", "demo", "--allow-windowed",
                     "--no-calibration")
    before = _tree(lab)
    r = run("two_afc", args, lab["home"], timeout=120)
    w, h = lab["size"]
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert expected.format(w=w, h=h) in r.stderr
    if case == "frame rate":
        assert "unless you pass --allow-frame-rate-mismatch" in r.stderr
    assert _tree(lab) == before


def test_calibrated_full_screen_session_records_calibration_geometry_and_the_one_option(lab: dict[str, Path]) -> None:
    """Full screen on the 1920 x 1080 screen with a saved calibration: only the frame-rate option is
    needed; images are scaled to 8 degrees from the real window's pixel pitch."""
    r = run("two_afc", _args(lab, "full.toml", "sub-001", 1, "pairs", "--simulate", "demo", "--sim-rt-scale", "0.5",
                             "--allow-frame-rate-mismatch"), lab["home"], timeout=180)
    assert r.returncode == 0, r.stderr
    meta = _sidecar(lab)
    a = meta["Attempts"][0]
    w, h = lab["size"]
    assert a["Fullscreen"] is True and a["WindowSizePx"] == [w, h]
    assert a["ExplicitOptions"] == {"Pilot": False, "AllowWindowed": False, "NoCalibration": False,
                                    "AllowFrameRateMismatch": True, "AllowRepeat": False}
    assert len(a["Deviations"]) == 1 and a["Deviations"][0].startswith("measured frame rate")
    # Xvfb has no gamma tables (XF86VidMode): the calibration measured a linear display (gamma 1),
    # so the window keeps the system's table, and the record says so
    assert a["Calibration"]["Monitor"] == CALIBRATED and a["Calibration"]["Gamma"] == [1.0]
    assert a["Calibration"]["CalibrationDate"] and a["GammaApplied"]["UseNativeGamma"] is True
    pitch = 53.0 / w  # cm per pixel of the real screen
    px = 2 * 57.0 * math.tan(math.radians(4.0)) / pitch  # 8 degrees at 57 cm, by hand
    g = meta["Geometry"]
    assert g["PixelPitchCm"] == pytest.approx(pitch, abs=1e-6) and g["ScreenWidthPx"] == w
    assert g["ImageSizePx"][0] == round(px) and meta["ImageSizeDeg"] == pytest.approx(8.0, abs=0.03)
    assert meta["PixelsPerDegree"] == pytest.approx(2 * 57.0 * math.tan(math.radians(0.5)) / pitch, rel=1e-4)
    assert g["NativeImageSizePx"] == [224, 224]
    assert read_session(beh_path(lab["data"], "sub-001", 1, "2afc")).complete


def test_explicit_options_run_and_are_recorded_and_a_repeat_needs_its_own(lab: dict[str, Path]) -> None:
    sim = ["--simulate", "demo", "--sim-rt-scale", "0.5", *XVFB_OPTIONS]
    r = run("two_afc", _args(lab, "window.toml", "sub-002", 1, "pairs", *sim), lab["home"], timeout=180)
    assert r.returncode == 0, r.stderr
    a = _sidecar(lab, "sub-002")["Attempts"][0]
    assert a["ExplicitOptions"] == {"Pilot": False, "AllowWindowed": True, "NoCalibration": True,
                                    "AllowFrameRateMismatch": True, "AllowRepeat": False}
    assert [d.split(":")[0].split(" (")[0][:20] for d in a["Deviations"]] == [
        "monitor.fullscreen i", "monitor 'lab-monitor", "measured frame rate "]
    assert a["Calibration"] is None and a["GammaApplied"]["UseNativeGamma"] is True

    before = _tree(lab)
    r = run("two_afc", _args(lab, "window.toml", "sub-002", 2, "pairs", *sim), lab["home"], timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "already saw stimulus set 'pairs' in ses-01" in r.stderr
    assert _tree(lab) == before
    r = run("two_afc", _args(lab, "window.toml", "sub-002", 2, "pairs", *sim, "--allow-repeat"), lab["home"],
            timeout=180)
    assert r.returncode == 0, r.stderr
    meta = _sidecar(lab, "sub-002", 2)
    assert meta["RepeatOf"] == ["ses-01 (complete, 6 trials)"]
    assert meta["Attempts"][0]["ExplicitOptions"]["AllowRepeat"] is True
    assert any("--allow-repeat" in d for d in meta["Deviations"])


def test_escape_then_n_a_kill_and_a_resume_flag_the_re_shown_trials(lab: dict[str, Path]) -> None:
    """A person presses the keys; Escape + N on the 4th trial, a kill while the 6th is on screen,
    then a resume: those two trials are flagged with both onsets, the others shown once."""
    from experiment.xkeys import KeyPresser

    tsv = beh_path(lab["data"], "sub-003", 1, "2afc")
    proc = start("two_afc", _args(lab, "window.toml", "sub-003", 1, "pairs", *XVFB_OPTIONS), lab["home"])
    watcher = ScreenWatcher(tsv.parent, attempt=1)
    keys = KeyPresser()
    n_trial_screens = 0
    try:
        while True:
            screen, info = watcher.next(proc, repress=keys.press_again)
            if screen in ("instructions", "practice_done", "break"):
                keys.press("space")
            elif screen == "trial":
                if "reshown" not in info:
                    n_trial_screens += 1
                if n_trial_screens == 4 and "reshown" not in info:
                    keys.press("escape")
                elif n_trial_screens == 6:
                    time.sleep(0.3)
                    proc.send_signal(signal.SIGKILL)
                    break
                else:
                    time.sleep(0.15)
                    keys.press("left")
            elif screen == "confirm_quit":
                time.sleep(0.5)
                keys.press("n")
        proc.wait(timeout=30)
    finally:
        keys.close()
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    r = run("two_afc", _args(lab, "window.toml", "sub-003", 1, "pairs", *XVFB_OPTIONS, "--resume", "--simulate",
                             "demo"), lab["home"], timeout=180)
    assert r.returncode == 0, r.stderr
    s = read_session(tsv)
    order = s.meta["TrialOrder"]
    t = s.trials.set_index("trial")
    assert list(s.trials["trial"]) == order and s.complete
    assert t.loc[order[3], "n_shown"] == 2 and t.loc[order[5], "n_shown"] == 2
    assert (t.drop(index=[order[3], order[5]])["n_shown"] == 1).all()
    for trial in (order[3], order[5]):
        onsets = t.loc[trial, "onsets"]
        assert len(onsets) == 2 and onsets[0] < onsets[1] and onsets[1] == pytest.approx(t.loc[trial, "onset"], abs=1e-6)
    reasons = {int(e["trial"]): [] for e in read_events(tsv) if e["trial_type"] == "stimulus"}
    for e in read_events(tsv):
        if e["trial_type"] == "stimulus":
            reasons[int(e["trial"])].append(e["value"])
    assert reasons[order[3]] == ["first", "after_quit_cancel"] and reasons[order[5]] == ["first", "after_resume"]
    quit_pause = [e for e in read_events(tsv) if e["trial_type"] == "quit_confirm"]
    assert len(quit_pause) == 1 and float(quit_pause[0]["duration"]) >= 0.5
    assert s.meta["Attempts"][0].get("Timing") is None  # killed: no summary was written
    # the killed attempt's PsychoPy csv survived, with the 5 trials it completed
    csv = (tsv.parent / tsv.name.replace("_beh.tsv", "_attempt-01_psychopy.csv")).read_text().splitlines()
    assert len(csv) == 1 + 5
    # the report's setup table lists both trials, and the session is flagged
    from analysis.report.section_setup import setup_table

    table, shown, _ = setup_table(lab["data"])
    assert sorted(shown.loc[shown["participant_id"] == "sub-003", "trial"]) == sorted([order[3], order[5]])
    row = table[table["participant_id"] == "sub-003"].iloc[0]
    assert row["reshown_trials"] == 2 and "2 trials shown more than once" in row["flags"]


def test_counterbalanced_observers_and_the_analysis_recovers_correctness(lab: dict[str, Path]) -> None:
    """Two consecutive observers: one sees the set mirrored; the analysis maps both back to the set,
    and correctness recomputed from the set equals the recorded one."""
    from analysis.humans.sessions import load_sessions
    from analysis.humans.shown import correct_from_set, layout_mismatches
    from stimuli.sets import read_set

    for pid in ("sub-001", "sub-002"):
        r = run("two_afc", _args(lab, "window.toml", pid, 1, "pairs", *XVFB_OPTIONS, "--simulate", "guesser",
                                 "--sim-rt-scale", "0.1"), lab["home"], timeout=180)
        assert r.returncode == 0, r.stderr
    mirrors = [_sidecar(lab, pid)["Counterbalancing"]["MirrorSides"] for pid in ("sub-001", "sub-002")]
    assert sorted(mirrors) == [False, True]
    sset = read_set(lab["pairs"])
    loaded = load_sessions(lab["data"], "2afc", include_simulated=True, include_practice=True)
    t = loaded.trials
    assert len(t) == 2 * len(sset.trials)
    assert layout_mismatches(t, sset.trials).empty
    assert (correct_from_set(t, sset.trials) == t["correct"].astype(bool)).all()
    on_screen = t.pivot(index="trial", columns="participant_id", values="impossible_side")
    assert (on_screen["sub-001"] != on_screen["sub-002"]).all()  # each pair's impossible image once per side


def _window_origin(size: tuple[int, int]) -> tuple[int, int]:
    """Screen position of the (only) top-level window of this size."""
    from Xlib import X, display

    d = display.Display()
    try:
        for _ in range(100):
            for w in d.screen().root.query_tree().children:
                g = w.get_geometry()
                if (g.width, g.height) == size and w.get_attributes().map_state == X.IsViewable:
                    return g.x, g.y
            time.sleep(0.05)
    finally:
        d.close()
    raise AssertionError(f"no {size} window")


def _click(x: int, y: int) -> None:
    from Xlib import X, display
    from Xlib.ext import xtest

    d = display.Display()
    xtest.fake_input(d, X.MotionNotify, x=x, y=y)
    d.sync()
    time.sleep(0.1)
    xtest.fake_input(d, X.ButtonPress, 1)
    d.sync()
    time.sleep(0.05)
    xtest.fake_input(d, X.ButtonRelease, 1)
    d.sync()
    d.close()


def test_questionnaire_keypad_mouse_and_back_key(lab: dict[str, Path]) -> None:
    """Q1 on the keypad, Q2 'yes', Backspace on Q3 back to Q2, Q2 'no', Q3 clicked 'very'."""
    from experiment.xkeys import KeyPresser

    tsv = beh_path(lab["data"], "sub-001", 2, "questionnaire")
    proc = start("questionnaire", _args(lab, "window.toml", "sub-001", 2, "quest", *XVFB_OPTIONS), lab["home"])
    watcher = ScreenWatcher(tsv.parent, attempt=1)
    keys = KeyPresser()
    script = iter([(1, "num_3"), (2, "3"), (3, "backspace"), (2, "1"), (3, "click")])
    try:
        while True:
            screen, info = watcher.next(proc, repress=keys.press_again)
            if screen == "instructions":
                keys.press("space")
            elif screen == "practice_done":  # the practice image is answered: quit here
                keys.press("escape")
            elif screen == "question":
                step = next(script)
                assert int(info["question"]) == step[0], (info, step)
                time.sleep(0.2)
                if step[1] == "click":
                    x0, y0 = _window_origin((640, 480))
                    # the 'very' button of Q3 in the 640 x 480 window: centre (+174, -134) px from the middle
                    _click(x0 + 320 + 174, y0 + 240 + 134)
                else:
                    keys.press(step[1])
            elif screen == "confirm_quit":
                keys.press("y")
            elif screen == "saved":
                keys.press("space")
                break
        assert proc.wait(timeout=30) == 0
    finally:
        keys.close()
        if proc.poll() is None:
            proc.kill()
    row = read_session(tsv).trials.iloc[0]
    assert (row.n_categories, row.main_category, row.unusual, row.corrections) == (3, "no", "very", 1)
    assert row.n_shown == 1
    kinds = [(e["trial_type"], e["question"], e["value"]) for e in read_events(tsv) if e["trial"] == str(row.trial)]
    assert kinds == [("stimulus", "n/a", "first"), ("answer", "1", "n_categories=3"),
                     ("answer", "2", "main_category=yes"), ("back", "2", "n/a"),
                     ("answer", "2", "main_category=no"), ("answer", "3", "unusual=very")]
