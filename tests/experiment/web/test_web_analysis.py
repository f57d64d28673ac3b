"""The analysis reads online sessions like lab ones, marks each row's setting and summarises lab and
online observers side by side."""

from __future__ import annotations

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


def test_lab_and_online_sessions_side_by_side(tmp_path: Path) -> None:
    sset = write_2afc_set(tmp_path / "sets", "pairs", n_pairs=4, n_practice=1)
    data = tmp_path / "lab_data"
    lab = {"sub-101": [True, True, False, True], "sub-102": [True, False, False, True]}
    for pid, correct in lab.items():
        write_2afc_session(data, pid, sset, correct)
    study = make_study(tmp_path, sset.path, write_config(tmp_path / "web.toml"))
    client = TestClient(create_app(study))
    difficulty = dict(zip(sset.stimuli["stim_id"], sset.stimuli["difficulty"]))
    online = {"w1": [True, True, True, True], "w2": [False, True, False, False], "w3": [True, False, True, True]}
    for pid, correct in online.items():
        _online_session(client, pid, difficulty, correct)

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
