"""The analysis reads online sessions like lab ones, marks each row's setting and summarises lab and
online observers side by side."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from analysis.humans.sessions import load_sessions, setting_summary
from experiment.web.app import create_app
from human_data import write_2afc_session, write_2afc_set
from web_helpers import make_study, two_afc_body, write_config


def _online_session(client: TestClient, pid: str, difficulty: dict[str, str], correct: list[bool]) -> None:
    plan = client.post("/api/start", json={"ids": {"PROLIFIC_PID": pid}, "consent": True}).json()
    h = {"Authorization": f"Bearer {plan['token']}"}
    tests = iter(correct)
    for i, t in enumerate(plan["trials"]):
        ok = True if t["phase"] == "practice" else next(tests)
        impossible_left = difficulty[t["left"]] == "impossible"
        side = "left" if impossible_left == ok else "right"
        assert client.post("/api/trial", json=two_afc_body(plan, i, side), headers=h).status_code == 200
    assert client.post("/api/finish", json={}, headers=h).status_code == 200


LAB = {"sub-101": [True, True, False, True], "sub-102": [True, False, False, True]}
ONLINE = {"w1": [True, True, True, True], "w2": [False, True, False, False], "w3": [True, False, True, True]}


def _lab_sessions(tmp_path: Path):  # noqa: ANN202
    """A 2AFC set and two lab sessions written directly (test correctness as in LAB)."""
    sset = write_2afc_set(tmp_path / "sets", "pairs", n_pairs=4, n_practice=1)
    data = tmp_path / "lab_data"
    for pid, correct in LAB.items():
        write_2afc_session(data, pid, sset, correct)
    return sset, data


def _online_sessions(tmp_path: Path, sset) -> None:  # noqa: ANN001
    """Three online sessions through the server (test correctness as in ONLINE)."""
    client = TestClient(create_app(make_study(tmp_path, sset.path, write_config(tmp_path / "web.toml"))))
    difficulty = dict(zip(sset.stimuli["stim_id"], sset.stimuli["difficulty"]))
    for pid, correct in ONLINE.items():
        _online_session(client, pid, difficulty, correct)


def test_lab_and_online_sessions_side_by_side(tmp_path: Path) -> None:
    sset, data = _lab_sessions(tmp_path)
    _online_sessions(tmp_path, sset)
    lab, online = LAB, ONLINE

    loaded = load_sessions(data, "2afc")
    assert loaded.excluded.empty
    assert loaded.settings == {"sub-001": "online", "sub-002": "online", "sub-003": "online",
                               "sub-101": "lab", "sub-102": "lab"}
    assert set(loaded.trials.groupby("participant_id")["setting"].unique().map(tuple)) == {("lab",), ("online",)}
    summary = setting_summary(loaded).set_index("setting")
    lab_acc = [sum(c) / 4 for c in lab.values()]
    online_acc = [sum(c) / 4 for c in online.values()]
    assert summary.loc["lab", "n_observers"] == 2 and summary.loc["online", "n_observers"] == 3
    assert summary.loc["lab", "n_trials"] == 8 and summary.loc["online", "n_trials"] == 12
    assert summary.loc["lab", "accuracy_mean"] == pytest.approx(sum(lab_acc) / 2)
    assert summary.loc["online", "accuracy_mean"] == pytest.approx(sum(online_acc) / 3)
    mean = sum(online_acc) / 3
    sd = (sum((a - mean) ** 2 for a in online_acc) / 2) ** 0.5
    assert summary.loc["online", "accuracy_sd"] == pytest.approx(sd)


def test_report_setup_row_of_online_sessions(tmp_path: Path) -> None:
    """The report's setup table reads an online session: full screen per attempt, calibrated geometry, deviations."""
    from analysis.report.section_setup import setup_table
    from web_helpers import CLIENT

    sset = write_2afc_set(tmp_path / "sets", "pairs", n_pairs=2, n_practice=0)
    study = make_study(tmp_path, sset.path, write_config(tmp_path / "web.toml"))
    client = TestClient(create_app(study))
    rows = {}
    for pid, leave in (("full1", False), ("left1", True)):
        plan = client.post("/api/start", json={"ids": {"PROLIFIC_PID": pid}, "consent": True}).json()
        h = {"Authorization": f"Bearer {plan['token']}"}
        client.post("/api/event", headers=h, json={"kind": "fullscreen_enter", "index": 0, "client": CLIENT})
        client.post("/api/event", headers=h, json={"kind": "calibration", "item_width_px": 250, "px_per_mm": 2.92,
                                                    "client": {**CLIENT, "dpr": 2.0}})
        if leave:
            client.post("/api/event", headers=h, json={"kind": "fullscreen_exit", "index": 1, "client": CLIENT})
        for i in range(plan["n_trials"]):
            client.post("/api/trial", json=two_afc_body(plan, i), headers=h)
        client.post("/api/finish", json={}, headers=h)
        rows[pid] = plan
    table, _, unreadable = setup_table(tmp_path / "lab_data")
    assert unreadable == []
    full, left = table.iloc[0], table.iloc[1]
    assert bool(full["fullscreen"]) is True and bool(left["fullscreen"]) is False
    assert "left full screen before trial 2" in left["flags"] and "not full screen" in left["flags"]
    assert full["flags"] == "-"
    # 4-px images drawn at one image pixel per device pixel (dpr 2): 4 / 2 CSS px at 2.92 CSS px per mm
    size_cm = 4 / 2 / 2.92 / 10
    assert full["image_deg"] == pytest.approx(2 * math.degrees(math.atan(size_cm / 114)), abs=1e-4)
    assert full["px_per_deg"] == pytest.approx(29.2 * 2 * 114 * math.tan(math.radians(0.5)), abs=1e-3)


def test_lab_and_online_compared_over_observers_and_shown_in_the_report(tmp_path: Path) -> None:
    from analysis.humans.sessions import compare_settings
    from analysis.report.context import Context, ReportConfig
    from analysis.report.human_inputs import setting_parts

    sset, data = _lab_sessions(tmp_path)
    assert compare_settings(load_sessions(data, "2afc")) is None  # no online observer yet
    _online_sessions(tmp_path, sset)
    loaded = load_sessions(data, "2afc")
    got = compare_settings(loaded)
    # Welch's t by hand: lab 0.75, 0.5; online 1.0, 0.25, 0.75
    a, b = [1.0, 0.25, 0.75], [0.75, 0.5]
    ma, mb = sum(a) / 3, sum(b) / 2
    va, vb = sum((x - ma) ** 2 for x in a) / 2, sum((x - mb) ** 2 for x in b) / 1
    se2 = va / 3 + vb / 2
    df = se2 ** 2 / ((va / 3) ** 2 / 2 + (vb / 2) ** 2 / 1)
    assert got["difference"] == pytest.approx(ma - mb) and got["t"] == pytest.approx((ma - mb) / math.sqrt(se2))
    assert got["df"] == pytest.approx(df) and (got["n_lab"], got["n_online"]) == (2, 3)
    ctx = Context(ReportConfig(), tmp_path / "report_files")
    html = "".join(setting_parts(ctx, loaded, "2afc"))
    assert "Lab and online observers" in html and "Welch" in html and (tmp_path / "report_files/tables/2afc_settings.csv").is_file()
