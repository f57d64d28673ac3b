"""The online study's HTTP API in process (Starlette's TestClient): sessions, resumption, idempotent
trial posts, counterbalancing, setup records, completion, and what the registry keeps where."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from experiment.web.app import create_app
from experiment_fixtures import make_2afc_set, make_questionnaire_set
from participants.layout import read_session
from participants.registry import Registry
from stimuli.sets import read_set
from web_helpers import CLIENT, TEST_CONFIG, make_study, questionnaire_body, two_afc_body, write_config

IDS = {"PROLIFIC_PID": "5f1e2d3c4b5a69788796a5b4", "STUDY_ID": "study77", "SESSION_ID": "sess1"}


@pytest.fixture
def setup(tmp_path: Path):
    make_2afc_set(tmp_path / "set", n_practice=2, n_test=8)
    cfg = write_config(tmp_path / "web.toml")
    study = make_study(tmp_path, tmp_path / "set", cfg)
    return tmp_path, study, TestClient(create_app(study))


def start(client: TestClient, ids: dict | None = None, **extra) -> dict:
    r = client.post("/api/start", json={"ids": ids or IDS, "consent": True, **extra})
    assert r.status_code == 200, r.text
    return r.json()


def auth(plan: dict) -> dict:
    return {"Authorization": f"Bearer {plan['token']}"}


def only_tsv(tmp: Path) -> Path:
    (tsv,) = sorted((tmp / "lab_data").rglob("*_beh.tsv"))
    return tsv


def test_whole_session_rows_sidecar_and_completion(setup) -> None:
    tmp, study, client = setup
    plan = start(client)
    assert plan["done"] == 0 and plan["n_trials"] == 10 and not plan["resumed"]
    sides = ["left", "right", "right", "left", "left", "right", "left", "left", "right", "left"]
    for i, side in enumerate(sides):
        r = client.post("/api/trial", json=two_afc_body(plan, i, side, rt=0.5 + i / 10), headers=auth(plan))
        assert r.json() == {"stored": True, "duplicate": False, "next": i + 1}
    r = client.post("/api/finish", json={}, headers=auth(plan))
    assert r.json() == {"complete": True, "completion_code": "TESTCODE1", "redirect_url": ""}
    s = read_session(only_tsv(tmp))
    meta = s.meta
    assert s.complete and s.participant_id == "sub-001" and meta["Setting"] == "online"
    assert list(s.trials["trial"]) == meta["TrialOrder"] == [t["trial"] for t in plan["trials"]]
    assert list(s.trials["response_side"]) == sides
    assert list(s.trials["rt"]) == pytest.approx([0.5 + i / 10 for i in range(10)])
    # correctness from the set's own difficulty column, independent of the sides' bookkeeping
    stimset = read_set(tmp / "set")
    difficulty = dict(zip(stimset.stimuli["stim_id"], stimset.stimuli["difficulty"]))
    assert list(s.trials["correct"]) == [difficulty[c] == "impossible" for c in s.trials["chosen_stim"]]
    assert set(s.trials["screen_px"]) == {"1920x1080"} and set(s.trials["window_px"]) == {"1280x720"}
    assert set(s.trials["device_pixel_ratio"].astype(float)) == {1.0} and set(s.trials["fullscreen"]) == {"1"}
    assert meta["ExpectedTrials"] == 10 and meta["StimulusSet"]["TablesSHA256"] == stimset.tables_sha256
    assert meta["setting"]["Description"].startswith("Where the trial ran")
    # a returning participant after completion gets the code again, no second session
    again = start(client, token=plan["token"])
    assert again["complete"] and again["completion_code"] == "TESTCODE1"
    assert len(list((tmp / "lab_data").rglob("*_beh.tsv"))) == 1


def test_platform_id_only_in_private_folder(setup) -> None:
    tmp, study, client = setup
    plan = start(client)
    for i in range(3):
        client.post("/api/trial", json=two_afc_body(plan, i), headers=auth(plan))
    for path in (tmp / "lab_data").rglob("*"):
        if path.is_file():
            assert IDS["PROLIFIC_PID"].encode() not in path.read_bytes(), path
            assert IDS["STUDY_ID"].encode() not in path.read_bytes(), path
    private = tmp / "lab_private" / "platform_ids.tsv"
    rows = pd.read_csv(private, sep="\t", dtype=str)
    assert rows.to_dict("records")[0] | {"recorded": ""} == {
        "participant_id": "sub-001", "platform": "prolific", "platform_id": IDS["PROLIFIC_PID"],
        "study_id": "study77", "recorded": ""}
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp / "lab_private").stat().st_mode) == 0o700
    consent = Registry(tmp / "lab_data", tmp / "lab_private").private_records("consent.tsv")
    assert [(c["participant_id"], c["form_version"]) for c in consent] == [("sub-001", "online-1")]
    # no platform id, participant id or path in the answer to the page
    text = json.dumps(plan)
    for secret in (IDS["PROLIFIC_PID"], "sub-001", str(tmp)):
        assert secret not in text


def test_retried_post_is_acknowledged_not_duplicated(setup) -> None:
    tmp, study, client = setup
    plan = start(client)
    body = two_afc_body(plan, 0)
    assert client.post("/api/trial", json=body, headers=auth(plan)).json()["stored"] is True
    before = only_tsv(tmp).read_bytes()
    for _ in range(3):
        r = client.post("/api/trial", json=body, headers=auth(plan))
        assert r.status_code == 200 and r.json() == {"stored": False, "duplicate": True, "next": 1}
    assert only_tsv(tmp).read_bytes() == before


def test_second_tab_and_returning_id_resume_the_same_session(setup) -> None:
    tmp, study, client = setup
    plan = start(client)
    for i in range(4):
        client.post("/api/trial", json=two_afc_body(plan, i), headers=auth(plan))
    same = start(client, token=plan["token"])  # the same browser (a reload or a second tab)
    assert same["token"] == plan["token"] and same["resumed"] and same["done"] == 4
    other = start(client, consent=False)  # the same platform id in another browser: no consent asked again
    assert other["done"] == 4 and other["token"] != plan["token"]
    assert other["trials"] == plan["trials"]
    r = client.post("/api/trial", json=two_afc_body(plan, 4), headers=auth(plan))
    assert r.status_code == 401  # the first browser's token no longer works
    assert client.post("/api/trial", json=two_afc_body(other, 4), headers=auth(other)).json()["next"] == 5
    assert len(list((tmp / "lab_data").rglob("*_beh.tsv"))) == 1
    assert len(study.store.all()) == 1


def test_restart_reads_progress_from_the_tsv_and_repairs_a_torn_line(setup) -> None:
    tmp, study, client = setup
    plan = start(client)
    for i in range(5):
        client.post("/api/trial", json=two_afc_body(plan, i), headers=auth(plan))
    tsv = only_tsv(tmp)
    with open(tsv, "a") as fh:  # a crash in the middle of writing the 6th row
        fh.write("6\ttest\t6\tp005")
    study.store.close()
    restarted = make_study(tmp, tmp / "set", tmp / "web.toml")
    client2 = TestClient(create_app(restarted))
    r = client2.post("/api/trial", json=two_afc_body(plan, 6), headers=auth(plan))
    assert r.status_code == 409  # the 6th trial (index 5) comes first
    assert client2.post("/api/trial", json=two_afc_body(plan, 4), headers=auth(plan)).json()["duplicate"]
    assert client2.post("/api/trial", json=two_afc_body(plan, 5), headers=auth(plan)).json()["next"] == 6
    s = read_session(tsv)
    assert list(s.trials["trial"]) == plan_order(plan)[:6]


def plan_order(plan: dict) -> list[int]:
    return [t["trial"] for t in plan["trials"]]


def test_counterbalancing_mirrors_half_and_keeps_correctness(tmp_path: Path) -> None:
    make_2afc_set(tmp_path / "set", n_practice=0, n_test=4)
    cfg = write_config(tmp_path / "web.toml", "[two_afc]\nswap_keys = true\nfixation_s = 0\n")
    study = make_study(tmp_path, tmp_path / "set", cfg)
    client = TestClient(create_app(study))
    trials = read_set(tmp_path / "set").trials.set_index("trial")
    mirrored = swapped = 0
    n = 40
    for k in range(n):
        plan = start(client, {"PROLIFIC_PID": f"p{k:04d}"})
        swapped += plan["keys"] == {"left": "j", "right": "f"}
        first = plan["trials"][0]
        original = trials.loc[first["trial"]]
        is_mirrored = first["left"] == original["right_stim"]
        assert is_mirrored or first["left"] == original["left_stim"]
        mirrored += is_mirrored
        client.post("/api/trial", json=two_afc_body(plan, 0, "left"), headers=auth(plan))
    assert mirrored == 20 and swapped == 20  # the lab's rule: alternating by participant number
    difficulty = dict(zip(study.stimset.stimuli["stim_id"], study.stimset.stimuli["difficulty"]))
    for tsv in (tmp_path / "lab_data").rglob("*_beh.tsv"):
        s = read_session(tsv)
        row = s.trials.iloc[0]
        cb = s.meta["Counterbalancing"]
        original = trials.loc[row["trial"]]
        assert (row["left_stim"] == original["right_stim"]) == cb["MirrorSides"] == row["mirrored"]
        assert row["correct"] == (difficulty[row["chosen_stim"]] == "impossible")
        assert row["response_side"] == "left"  # the key meaning 'left' for this observer was sent


def test_setup_calibration_catch_and_fullscreen_records(setup) -> None:
    tmp, study, client = setup
    plan = start(client)
    h = auth(plan)
    ok = client.post("/api/event", headers=h, json={"kind": "setup", "width": 1280, "height": 720, "browser": "chrome",
                                                     "browser_version": "156.0", "os": "linux", "mobile": False,
                                                     "client": CLIENT})
    assert ok.status_code == 200
    cal = client.post("/api/event", headers=h, json={"kind": "calibration", "item_width_px": 323.6, "px_per_mm": 3.78,
                                                      "client": CLIENT})
    assert cal.status_code == 200
    client.post("/api/event", headers=h, json={"kind": "fullscreen_exit", "index": 2, "client": CLIENT})
    for i in range(plan["n_trials"]):
        client.post("/api/trial", json=two_afc_body(plan, i), headers=h)
        if plan["trials"][i]["phase"] == "test" and i == 5:  # the 4th test trial: the attention check
            c = plan["catch"][0]
            assert c["after_test"] == 4
            wrong = "left" if c["expected"] == "right" else "right"
            assert client.post("/api/event", headers=h, json={"kind": "catch", "after_test": 4, "response": wrong,
                                                              "rt": 0.4}).status_code == 200
    client.post("/api/finish", json={}, headers=h)
    meta = read_session(only_tsv(tmp)).meta
    assert meta["Setup"][0]["Browser"] == "chrome" and meta["Setup"][0]["CheckedWindowPx"] == [1280, 720]
    size_cm = 224 / 3.78 / 10  # the fixture's 224-px images at 3.78 CSS px per mm, devicePixelRatio 1
    assert meta["Calibration"]["ImageSizeDeg"] == pytest.approx(math.degrees(2 * math.atan(size_cm / 114)), abs=1e-4)
    assert [e["Event"] for e in meta["FullscreenEvents"]] == ["exit"]
    assert len(meta["Deviations"]) == 1 and meta["Deviations"][0].startswith("left full screen before trial 3")
    assert meta["ImageSizeDeg"] == meta["Calibration"]["ImageSizeDeg"] and meta["ImageSizePx"] == [224, 224]
    assert meta["Consent"]["Recorded"] is True and meta["Consent"]["FormVersion"] == "online-1"
    assert [c["Passed"] for c in meta["CatchTrials"]] == [False, None]
    assert meta["CatchTrialsPassed"] == 0 and meta["CatchTrialsTotal"] == 2
    assert read_session(only_tsv(tmp)).trials["browser"].iloc[0] == "chrome 156.0"


def test_questionnaire_rows(tmp_path: Path) -> None:
    make_questionnaire_set(tmp_path / "qset", n_practice=1, n_test=3)
    text = TEST_CONFIG.replace('completion_url = ""', 'completion_url = "https://example.org/done?cc={code}"')
    study = make_study(tmp_path, tmp_path / "qset", write_config(tmp_path / "web.toml", text))
    client = TestClient(create_app(study))
    plan = start(client)
    given = [(0, "no", "very"), (10, "yes", "no"), (3, "maybe", "slightly"), (1, "yes", "no")]
    for i, (n, m, u) in enumerate(given):
        r = client.post("/api/trial", json=questionnaire_body(plan, i, n, m, u), headers=auth(plan))
        assert r.status_code == 200, r.text
    done = client.post("/api/finish", json={}, headers=auth(plan)).json()
    assert done == {"complete": True, "completion_code": "TESTCODE1", "redirect_url": "https://example.org/done?cc=TESTCODE1"}
    s = read_session(only_tsv(tmp_path))
    assert list(zip(s.trials["n_categories"], s.trials["main_category"], s.trials["unusual"])) == given
    assert list(s.trials["stim_id"]) == [t["stim"] for t in plan["trials"]]
    assert list(s.trials["onset"]) == sorted(s.trials["onset"]) and set(s.trials["n_shown"]) == {1}


def test_image_route_serves_set_png(setup) -> None:
    tmp, study, client = setup
    r = client.get("/stimuli/p000t.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == (tmp / "set" / "images" / "p000t.png").read_bytes()
    page = client.get("/?PROLIFIC_PID=x")
    assert page.status_code == 200 and "jspsych.min.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/vendor/jspsych.min.js").status_code == 200
    assert os.path.getsize(Path(__file__).parents[3] / "experiment/web/static/vendor/jspsych.min.js") > 10000


def test_leak_scan_finds_a_platform_id_copied_into_the_data(setup) -> None:
    tmp, study, client = setup
    start(client)
    reg = Registry(tmp / "lab_data", tmp / "lab_private")
    assert reg.find_identity_leaks(tmp / "lab_data") == []
    tsv = only_tsv(tmp)
    tsv.with_name("notes.txt").write_text(f"paid {IDS['PROLIFIC_PID']}\n")
    leaks = reg.find_identity_leaks(tmp / "lab_data")
    assert [(leak.path.name, leak.participant_id, leak.kind) for leak in leaks] == [("notes.txt", "sub-001", "platform id")]
