"""The real server and headless Chromium (Playwright) click through whole sessions: the TSV rows
equal the answers given, through a page reload mid-trial and a SIGKILL of the server mid-session."""

from __future__ import annotations

import json
import math
import shutil
import signal
import time
from pathlib import Path

import pytest

from experiment_fixtures import make_2afc_set, make_questionnaire_set
from participants.layout import read_session
from web_helpers import TEST_CONFIG, Driver, free_port, serve, shots_dir, write_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _new_page(browser, errors: list[str]):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def _session_files(tmp: Path, task: str) -> tuple[Path, dict]:
    tsvs = sorted((tmp / "lab_data").rglob(f"*_task-{task}_beh.tsv"))
    assert len(tsvs) == 1, tsvs
    return tsvs[0], json.loads(tsvs[0].with_suffix(".json").read_text())


def test_2afc_session_in_chromium_survives_reload_and_server_kill(tmp_path: Path, browser) -> None:
    make_2afc_set(tmp_path / "set", n_practice=2, n_test=8)
    cfg = write_config(tmp_path / "web.toml")
    port = free_port()
    server = serve(tmp_path / "set", tmp_path, cfg, port=port)
    errors: list[str] = []
    page = _new_page(browser, errors)
    drv = Driver(page, shots_dir(tmp_path), "2afc")
    choose = lambda i: "fj"[(i * 7 + i // 3) % 2]  # noqa: E731 - a fixed, uneven pattern of answers
    try:
        page.goto(f"{server.url}/?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&STUDY_ID=st1&SESSION_ID=se1")
        assert not drv.run(choose, trials=3)
        # reload while the 4th trial is on screen: it is shown again, nothing is stored twice
        page.reload()
        page.click("#jspsych-fullscreen-btn")
        page.wait_for_selector("text=Welcome back")
        drv.shot("welcome_back")
        assert "continues with trial 4 of 10" in page.inner_text("body")
        assert not drv.run(choose, trials=1)
        page.evaluate("document.exitFullscreen()")  # the participant leaves full screen: recorded
        page.wait_for_function("!document.fullscreenElement")
        page.wait_for_selector("#fullscreen-banner", state="visible")  # offered a way back, not forced
        drv.shot("left_fullscreen")
        assert not drv.run(choose, trials=1)  # one trial answered in a window
        page.click("#fullscreen-return")  # back to full screen: the keys still reach the trial
        page.wait_for_function("!!document.fullscreenElement")
        assert page.is_hidden("#fullscreen-banner")
        # kill the server while a trial is on screen, answer it, then restart: the post is retried
        server.stop(signal.SIGKILL)
        key = choose(len(drv.answers))
        page.keyboard.press(key)
        drv.answers.append(key)
        page.wait_for_selector("#saving", state="visible", timeout=10000)
        drv.shot("saving_while_server_down")
        time.sleep(1.0)
        server = serve(tmp_path / "set", tmp_path, cfg, port=port)
        assert drv.run(choose, timeout=90)
        assert page.inner_text("#completion-code") == "TESTCODE1"
    finally:
        server.stop()
    assert errors == []
    tsv, meta = _session_files(tmp_path, "2afc")
    s = read_session(tsv)
    assert s.complete and meta["Setting"] == "online"
    assert list(s.trials["trial"]) == meta["TrialOrder"]  # every trial once, in the recorded order
    sides = ["left" if k == "f" else "right" for k in drv.answers]
    assert list(s.trials["response_side"]) == sides  # the rows are the key presses, one each
    expected_chosen = [r.left_stim if r.response_side == "left" else r.right_stim for r in s.trials.itertuples()]
    assert list(s.trials["chosen_stim"]) == expected_chosen
    assert list(s.trials["correct"]) == [r.response_side == r.impossible_side for r in s.trials.itertuples()]
    assert set(s.trials["setting"]) == {"online"} and s.trials["browser"].str.startswith("chrome").all()
    assert set(s.trials["window_px"]) == {"1280x800"}
    assert len(meta["Attempts"]) == 2 and meta["Attempts"][1]["FirstTrialIndex"] == 3
    assert meta["PossiblyReshownTrials"] == [meta["TrialOrder"][3]]
    # the trial on screen at the reload was shown twice: both onsets, the earlier one before the reload
    assert list(s.trials["n_shown"]) == [1, 1, 1, 2, 1, 1, 1, 1, 1, 1]
    first, second = s.trials["onsets"].iloc[3]
    assert first < meta["Attempts"][1]["SessionClockOffsetS"] < second == pytest.approx(s.trials["onset"].iloc[3])
    assert [c["Passed"] for c in meta["CatchTrials"]] == [True, True] and len(drv.catches) == 2
    assert meta["Setup"] and meta["Setup"][0]["CheckedWindowPx"] == [1280, 800]
    # entering full screen at the start and after the reload, leaving it before the 5th trial, back before the 6th
    assert [(e["Event"], e["TrialIndex"]) for e in meta["FullscreenEvents"]] == [("enter", 0), ("enter", 3), ("exit", 4), ("enter", 5)]
    assert list(s.trials["fullscreen"]) == ["1"] * 4 + ["0"] + ["1"] * 5
    onsets = list(s.trials["onset"])
    assert all(b > a for a, b in zip(onsets, onsets[1:]))  # one session clock across the attempts


def test_questionnaire_session_in_chromium(tmp_path: Path, browser) -> None:
    make_questionnaire_set(tmp_path / "qset", n_practice=1, n_test=4)
    cfg = write_config(tmp_path / "web.toml", TEST_CONFIG.replace("fullscreen = true", "fullscreen = true\ncalibration = true"))
    server = serve(tmp_path / "qset", tmp_path, cfg)
    errors: list[str] = []
    page = _new_page(browser, errors)
    drv = Driver(page, shots_dir(tmp_path), "questionnaire")
    levels2, levels3 = ("no", "maybe", "yes"), ("no", "slightly", "very")
    choose = lambda i: (["0", "3", "10+", "7", "1"][i % 5], levels2[i % 3], levels3[(i + 1) % 3])  # noqa: E731
    try:
        page.goto(f"{server.url}/?PROLIFIC_PID=61aa22bb33cc44dd55ee66ff&STUDY_ID=st2&SESSION_ID=se2")
        assert drv.run(choose, timeout=90)
    finally:
        server.stop()
    assert errors == []
    tsv, meta = _session_files(tmp_path, "questionnaire")
    s = read_session(tsv)
    assert s.complete and len(s.trials) == 5 == len(drv.answers)
    given = [(10 if n == "10+" else int(n), m, u) for n, m, u in drv.answers]
    assert list(zip(s.trials["n_categories"], s.trials["main_category"], s.trials["unusual"])) == given
    assert list(s.trials["trial"]) == meta["TrialOrder"]
    assert (s.trials[["rt_q1", "rt_q2", "rt_q3"]] > 0).all().all()
    assert [c["Passed"] for c in meta["CatchTrials"]] == [True]
    cal = meta["Calibration"]  # the card box left at its starting size: 250 CSS px for 85.6 mm
    assert cal["ItemWidthPx"] == pytest.approx(250, abs=2) and cal["CssPxPerMm"] == pytest.approx(250 / 85.6, abs=0.02)
    size_cm = 224 / cal["CssPxPerMm"] / 10
    assert cal["ImageSizeDeg"] == pytest.approx(2 * math.degrees(math.atan(size_cm / (2 * 57.0))), abs=1e-3)


def test_too_small_window_is_excluded_without_data(tmp_path: Path, browser) -> None:
    make_2afc_set(tmp_path / "set", n_practice=1, n_test=2)
    server = serve(tmp_path / "set", tmp_path, write_config(tmp_path / "web.toml"))
    errors: list[str] = []
    page = browser.new_context(viewport={"width": 700, "height": 500}).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{server.url}/?PROLIFIC_PID=smallwindow1")
        page.click("#consent-agree")
        page.wait_for_selector("text=I cannot make the window any larger")
        page.screenshot(path=str(shots_dir(tmp_path) / "small_01_resize.png"))
        page.click("text=I cannot make the window any larger")
        page.wait_for_selector("#excluded")
        page.screenshot(path=str(shots_dir(tmp_path) / "small_02_excluded.png"))
        time.sleep(0.5)
        assert "could not be closed" not in page.inner_text("body")
    finally:
        server.stop()
    assert errors == []
    tsv, meta = _session_files(tmp_path, "2afc")
    assert tsv.read_text().count("\n") == 1  # the header only
    assert meta["SessionStatus"] == "incomplete" and meta["Setup"] == []
