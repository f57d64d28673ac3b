"""Simulated sessions for scripts that are re-run (the demo, scripts/pipeline.sh): the program's own
waits scale with --sim-rt-scale, a dropped key press is pressed again, and --resume-if-started
continues a killed session where --resume would have been needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from experiment.config import load_config
from experiment.session import session_is_started
from experiment.simulate import scaled_program_times
from experiment_driver import REPO, program_env, run, start, wait_rows
from experiment_fixtures import TEST_CONFIG, XVFB_OPTIONS, make_2afc_set, make_questionnaire_set, register
from participants.layout import beh_path, read_session

display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (run under xvfb-run)")


def test_program_times_scale_with_the_observer() -> None:
    cfg = load_config(None)
    fast = scaled_program_times(cfg, 0.06)
    assert fast.two_afc.fixation_s == pytest.approx(0.5 * 0.06)
    assert fast.two_afc.feedback_s == pytest.approx(1.0 * 0.06)
    assert fast.questionnaire.fixation_s == pytest.approx(0.5 * 0.06)
    assert fast.two_afc.break_every == cfg.two_afc.break_every and fast.monitor == cfg.monitor
    assert scaled_program_times(cfg, 1.0) is cfg


def test_session_is_started(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (pid,) = register(data)
    assert not session_is_started(data, pid, 1, "2afc")
    tsv = beh_path(data, pid, 1, "2afc")
    tsv.parent.mkdir(parents=True)
    tsv.write_text("trial\tphase\n")  # a header a killed start left: nothing to resume
    assert not session_is_started(data, pid, 1, "2afc")
    tsv.with_suffix(".json").write_text("{}")
    assert session_is_started(data, pid, 1, "2afc")


@pytest.fixture()
def lab(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    register(data, n=2)
    cfg = tmp_path / "lab.toml"
    cfg.write_text(TEST_CONFIG.replace("fixation_s = 0.1", "fixation_s = 0.5"))
    home = tmp_path / "home"
    home.mkdir()
    return {"data": data, "private": tmp_path / "private", "config": cfg, "home": home,
            "set2afc": make_2afc_set(tmp_path / "sets" / "pairs", n_practice=2, n_test=6).path,
            "setq": make_questionnaire_set(tmp_path / "sets" / "quest", n_practice=1, n_test=4).path}


def _args(lab: dict[str, Path], pid: str, session: int, stimuli: Path, *extra: str) -> list[str]:
    return ["--participant", pid, "--session", str(session), "--stimuli", str(stimuli), "--data-root", str(lab["data"]),
            "--private-root", str(lab["private"]), "--config", str(lab["config"]), *XVFB_OPTIONS,
            "--simulate", "demo", "--sim-rt-scale", "0.2", *extra]


@display
@pytest.mark.display
@pytest.mark.slow
def test_a_dropped_key_press_is_pressed_again(lab: dict[str, Path]) -> None:
    """The 4th key press never reaches the X server (as a press lost under load): the observer
    presses it again after --sim-repress-after, the session completes and records the re-press
    (without it the program would wait for that key until --sim-timeout);
    the fixation recorded is the configured one times --sim-rt-scale."""
    drop = textwrap.dedent("""
        import sys
        import experiment.xkeys as xkeys
        real, n = xkeys.KeyPresser.press, [0]
        def press(self, key, hold_s=0.03):
            n[0] += 1
            if n[0] == 4:
                print(f"dropped press {n[0]}: {key}", file=sys.stderr, flush=True)
                return
            real(self, key, hold_s)
        xkeys.KeyPresser.press = press
        from experiment.two_afc import main
        from labutil.errors import run_cli
        raise SystemExit(run_cli(main, sys.argv[1:]))
    """)
    pid, tsv = "sub-001", beh_path(lab["data"], "sub-001", 1, "2afc")
    r = subprocess.run([sys.executable, "-c", drop, *_args(lab, pid, 1, lab["set2afc"], "--sim-repress-after", "1.0",
                                                            "--sim-timeout", "30")],
                       cwd=REPO, env=program_env(lab["home"]), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    dropped = r.stderr.split("dropped press 4: ")[1].split("\n")[0]  # the 4th press (practice_done: space)
    s = read_session(tsv)
    assert s.status == "complete" and len(s.trials) == 8
    attempt = s.meta["Attempts"][-1]
    # the dropped one (under load another slow screen may be pressed again too: a harmless extra press)
    assert dropped in [key for _, key in attempt["Simulation"]["Represses"]]
    assert s.meta["LabConfig"]["two_afc"]["fixation_s"] == pytest.approx(0.5 * 0.2)
    assert attempt["Timing"]["FixationS"] == pytest.approx(0.1)


@display
@pytest.mark.display
@pytest.mark.slow
def test_resume_if_started_continues_a_killed_session(lab: dict[str, Path]) -> None:
    """Killed after two trials: the same command line with --resume-if-started (no --resume)
    finishes the session; run again, --skip-if-complete leaves it as it is."""
    pid, tsv = "sub-002", beh_path(lab["data"], "sub-002", 2, "questionnaire")
    args = _args(lab, pid, 2, lab["setq"], "--skip-if-complete", "--resume-if-started")
    proc = start("questionnaire", args, lab["home"])
    try:
        wait_rows(tsv, 2, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert read_session(tsv).status == "incomplete"
    plain = run("questionnaire", _args(lab, pid, 2, lab["setq"], "--skip-if-complete"), lab["home"])
    assert plain.returncode == 2 and "pass --resume to continue it" in plain.stderr  # as before, without the option
    r = run("questionnaire", args, lab["home"])
    assert r.returncode == 0, r.stderr
    s = read_session(tsv)
    assert s.status == "complete" and len(s.trials) == 5 and len(s.meta["Attempts"]) == 2
    before = tsv.read_bytes(), tsv.with_suffix(".json").read_text()
    again = run("questionnaire", args, lab["home"])
    assert again.returncode == 0 and "already complete: nothing to do" in again.stdout
    assert (tsv.read_bytes(), tsv.with_suffix(".json").read_text()) == before
    assert json.loads(before[1])["SessionStatus"] == "complete"
