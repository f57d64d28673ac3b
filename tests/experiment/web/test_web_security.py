"""A corpus of bad requests: each is refused with a 4xx, and no file or state changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from experiment.web.app import create_app
from experiment_fixtures import make_2afc_set, tree_bytes
from web_helpers import CLIENT, make_study, two_afc_body, write_config

IDS_A = {"PROLIFIC_PID": "aaaaaaaaaaaaaaaaaaaaaaaa", "STUDY_ID": "st", "SESSION_ID": "s1"}
IDS_B = {"PROLIFIC_PID": "bbbbbbbbbbbbbbbbbbbbbbbb", "STUDY_ID": "st", "SESSION_ID": "s2"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Two participants; A has answered 3 trials, B none; A's and B's tokens."""
    tmp = tmp_path_factory.mktemp("sec")
    make_2afc_set(tmp / "set", n_practice=2, n_test=6)
    study = make_study(tmp, tmp / "set", write_config(tmp / "web.toml"))
    client = TestClient(create_app(study))
    plans = {}
    for name, ids in (("A", IDS_A), ("B", IDS_B)):
        plans[name] = client.post("/api/start", json={"ids": ids, "consent": True}).json()
    for i in range(3):
        assert client.post("/api/trial", json=two_afc_body(plans["A"], i), headers=_h(plans["A"])).status_code == 200
    return tmp, study, client, plans


def _h(plan: dict | str) -> dict:
    token = plan if isinstance(plan, str) else plan["token"]
    return {"Authorization": f"Bearer {token}"}


def _trial(plan: dict, at: int, **change) -> dict:
    body = two_afc_body(plan, at)
    for key, value in change.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def _corpus(plans: dict) -> list[tuple[str, str, str, dict, object, int]]:
    """(name, method, path, headers, json body or raw bytes, expected status)."""
    A, B = plans["A"], plans["B"]
    ha, hb = _h(A), _h(B)
    big = {"index": 3, "trial": A["trials"][3]["trial"], "key": "f", "rt": 0.5, "onset": 1.0, "client": CLIENT,
           "pad": "x" * 10000}
    return [
        # who
        ("no token", "POST", "/api/trial", {}, _trial(A, 3), 401),
        ("forged token", "POST", "/api/trial", _h("Z" * 43), _trial(A, 3), 401),
        ("token of the wrong scheme", "POST", "/api/trial", {"Authorization": f"Basic {A['token']}"}, _trial(A, 3), 401),
        ("overlong token", "POST", "/api/trial", _h("Z" * 5000), _trial(A, 3), 401),
        ("B's token with A's next trial", "POST", "/api/trial", hb, _trial(A, 3), 409),
        ("B's token finishing", "POST", "/api/finish", hb, {}, 409),
        # order
        ("trial after the next", "POST", "/api/trial", ha, _trial(A, 4), 409),
        ("index beyond the session", "POST", "/api/trial", ha, _trial(A, 3, index=8), 400),
        ("negative index", "POST", "/api/trial", ha, _trial(A, 3, index=-1), 400),
        ("trial number not at that index", "POST", "/api/trial", ha, _trial(A, 3, trial=A["trials"][4]["trial"]), 409),
        ("finish before the end", "POST", "/api/finish", ha, {}, 409),
        # types and values
        ("rt as string", "POST", "/api/trial", ha, _trial(A, 3, rt="0.5"), 400),
        ("rt negative", "POST", "/api/trial", ha, _trial(A, 3, rt=-0.2), 400),
        ("rt zero", "POST", "/api/trial", ha, _trial(A, 3, rt=0), 400),
        ("rt huge", "POST", "/api/trial", ha, _trial(A, 3, rt=1e9), 400),
        ("rt NaN", "POST", "/api/trial", {**ha, "Content-Type": "application/json"},
         json.dumps(_trial(A, 3)).replace('"rt": 0.8', '"rt": NaN').encode(), 400),
        ("index as float", "POST", "/api/trial", ha, _trial(A, 3, index=3.0), 400),
        ("index as bool", "POST", "/api/trial", ha, _trial(A, 3, index=True), 400),
        ("key not allowed", "POST", "/api/trial", ha, _trial(A, 3, key="k"), 400),
        ("key as list", "POST", "/api/trial", ha, _trial(A, 3, key=["f"]), 400),
        ("extra field", "POST", "/api/trial", ha, _trial(A, 3, correct=1), 400),
        ("missing rt", "POST", "/api/trial", ha, _trial(A, 3, rt=...), 400),
        ("client missing", "POST", "/api/trial", ha, _trial(A, 3, client=...), 400),
        ("client window with text", "POST", "/api/trial", ha,
         _trial(A, 3, client={**CLIENT, "window": ["1280", 720]}), 400),
        ("client extra field", "POST", "/api/trial", ha, _trial(A, 3, client={**CLIENT, "path": "/etc"}), 400),
        ("dpr absurd", "POST", "/api/trial", ha, _trial(A, 3, client={**CLIENT, "dpr": 1e6}), 400),
        ("body is a list", "POST", "/api/trial", ha, [1, 2], 400),
        ("body not JSON", "POST", "/api/trial", {**ha, "Content-Type": "application/json"}, b"{trial: 1", 400),
        ("body not UTF-8", "POST", "/api/trial", {**ha, "Content-Type": "application/json"}, b"\xff\xfe{}", 400),
        ("form instead of JSON", "POST", "/api/trial", {**ha, "Content-Type": "application/x-www-form-urlencoded"},
         b"index=3", 415),
        ("oversized body", "POST", "/api/trial", ha, big, 413),
        ("deeply nested body", "POST", "/api/trial", {**ha, "Content-Type": "application/json"},
         b"[" * 2000 + b"]" * 2000, 400),
        # events
        ("unknown event", "POST", "/api/event", ha, {"kind": "delete"}, 400),
        ("window too small", "POST", "/api/event", ha,
         {"kind": "setup", "width": 300, "height": 200, "client": CLIENT}, 422),
        ("catch at no position", "POST", "/api/event", ha, {"kind": "catch", "after_test": 2, "response": "left", "rt": 1}, 400),
        ("calibration out of range", "POST", "/api/event", ha,
         {"kind": "calibration", "item_width_px": 300, "px_per_mm": 900, "client": CLIENT}, 400),
        ("browser with markup", "POST", "/api/event", ha,
         {"kind": "setup", "width": 1280, "height": 800, "browser": "<script>", "client": CLIENT}, 400),
        # starting
        ("start without platform id", "POST", "/api/start", {}, {"ids": {}, "consent": True}, 400),
        ("start with a path as id", "POST", "/api/start", {}, {"ids": {"PROLIFIC_PID": "../../etc"}, "consent": True}, 400),
        ("start with an overlong id", "POST", "/api/start", {}, {"ids": {"PROLIFIC_PID": "a" * 65}, "consent": True}, 400),
        ("start without consent", "POST", "/api/start", {}, {"ids": {"PROLIFIC_PID": "newperson1"}}, 403),
        ("start with consent as string", "POST", "/api/start", {}, {"ids": {"PROLIFIC_PID": "newperson1"},
                                                                  "consent": "yes"}, 400),
        ("start with ids as list", "POST", "/api/start", {}, {"ids": ["x"], "consent": True}, 400),
        ("start with extra field", "POST", "/api/start", {}, {"ids": IDS_A, "participant_id": "sub-001"}, 400),
        # files
        ("image outside images/", "GET", "/stimuli/..%2Fset.json", {}, None, 404),
        ("image by traversal", "GET", "/stimuli/..%2F..%2Flab_data%2Fparticipants.tsv", {}, None, 404),
        ("image not in the set", "GET", "/stimuli/nothere.png", {}, None, 404),
        ("image id with another suffix", "GET", "/stimuli/p000t.tsv", {}, None, 404),
        ("static traversal", "GET", "/static/..%2Fweb.toml", {}, None, 404),
        ("static traversal plain", "GET", "/static/../study.py", {}, None, 404),
        ("GET on the API", "GET", "/api/trial", {}, None, 405),
    ]


def _state(tmp: Path, study) -> tuple[dict, list]:
    files = {k: v for k, v in tree_bytes(tmp).items() if "state.sqlite" not in k and not k.endswith(".lock")}
    return files, [vars(a) for a in study.store.all()]


def test_every_bad_request_is_refused_and_changes_nothing(world) -> None:
    tmp, study, client, plans = world
    before = _state(tmp, study)
    secrets = [IDS_A["PROLIFIC_PID"], IDS_B["PROLIFIC_PID"], "sub-00", str(tmp), "lab_private", "Traceback"]
    for name, method, path, headers, body, status in _corpus(plans):
        if isinstance(body, bytes):
            r = client.request(method, path, headers=headers, content=body)
        elif body is None:
            r = client.request(method, path, headers=headers)
        else:
            r = client.request(method, path, headers=headers, json=body)
        assert r.status_code == status, (name, r.status_code, r.text)
        assert 400 <= r.status_code < 500
        for s in secrets:
            assert s not in r.text, (name, s)
        assert _state(tmp, study) == before, name
    # and the session still goes on from where it was
    assert client.post("/api/trial", json=two_afc_body(plans["A"], 3), headers=_h(plans["A"])).json()["next"] == 4


def test_a_second_answer_to_an_attention_check_is_refused(world) -> None:
    tmp, study, client, plans = world
    B = plans["B"]
    for i in range(6):  # B reaches the 4th test trial
        client.post("/api/trial", json=two_afc_body(B, i), headers=_h(B))
    body = {"kind": "catch", "after_test": 4, "response": "left", "rt": 0.3}
    assert client.post("/api/event", json=body, headers=_h(B)).status_code == 200
    before = _state(tmp, study)
    r = client.post("/api/event", json={**body, "response": "right"}, headers=_h(B))
    assert r.status_code == 409 and _state(tmp, study) == before


def test_rate_limit_refuses_without_writing(tmp_path: Path) -> None:
    make_2afc_set(tmp_path / "set", n_practice=0, n_test=3)
    cfg = write_config(tmp_path / "web.toml", "[limits]\nrequests_per_minute = 5\nstarts_per_minute = 2\n")
    study = make_study(tmp_path, tmp_path / "set", cfg)
    client = TestClient(create_app(study))
    plan = client.post("/api/start", json={"ids": {"PROLIFIC_PID": "p1"}, "consent": True}).json()
    assert client.post("/api/start", json={"ids": {"PROLIFIC_PID": "p2"}, "consent": True}).status_code == 200
    before = _state(tmp_path, study)
    r = client.post("/api/start", json={"ids": {"PROLIFIC_PID": "p3"}, "consent": True})
    assert r.status_code == 429 and _state(tmp_path, study) == before
    body = two_afc_body(plan, 0)
    for _ in range(5):
        assert client.post("/api/trial", json=body, headers=_h(plan)).status_code == 200
    before = _state(tmp_path, study)
    r = client.post("/api/trial", json=two_afc_body(plan, 1), headers=_h(plan))
    assert r.status_code == 429 and _state(tmp_path, study) == before
