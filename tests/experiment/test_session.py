"""Starting and resuming sessions: the refusals that leave every file as it was, the seeded order,
and the state a resume continues from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiment.session import default_seed, plan_session, trial_order
from experiment_fixtures import make_2afc_set, make_questionnaire_set, register, tree_bytes
from labutil.errors import UserError
from labutil.io import write_json
from participants.layout import SessionWriter, beh_path, sidecar_path


@pytest.fixture()
def lab(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    register(data, 2)
    return {"data": data, "private": tmp_path / "private",
            "pairs": make_2afc_set(tmp_path / "pairs", 2, 6, size=16).path,
            "quest": make_questionnaire_set(tmp_path / "quest", 1, 3, size=16).path}


def _plan(lab: dict[str, Path], **kw):
    args = {"task": "2afc", "data_root": lab["data"], "participant": "sub-001", "session": 1,
            "stimuli": lab["pairs"], "private_root": lab["private"]}
    args.update(kw)
    return plan_session(**args)


def test_default_seed_and_order_are_pinned() -> None:
    assert default_seed("sub-001", 1, "2afc") == 1438196238
    assert default_seed("sub-001", 2, "2afc") != default_seed("sub-001", 1, "2afc")
    assert default_seed("sub-002", 1, "2afc") != default_seed("sub-001", 1, "2afc")
    trials = pd.DataFrame({"trial": range(1, 9), "phase": ["practice"] * 2 + ["test"] * 6})
    assert trial_order(trials, 1438196238) == [1, 2, 4, 5, 3, 8, 7, 6]
    assert trial_order(trials, 1438196238) == trial_order(trials, 1438196238)


def test_a_new_session_plan(lab: dict[str, Path]) -> None:
    before = tree_bytes(lab["data"])
    plan = _plan(lab)
    assert plan.seed == default_seed("sub-001", 1, "2afc") and not plan.resume and plan.done == []
    assert plan.order[:2] == [1, 2] and sorted(plan.order) == list(range(1, 9))
    assert _plan(lab, seed=5).order == trial_order(plan.stimset.trials, 5)
    assert tree_bytes(lab["data"]) == before  # planning writes nothing


def _start(lab: dict[str, Path], rows: int, status: str = "incomplete", tail: bytes = b"") -> Path:
    """A session as the program leaves it: sidecar with order and seed, `rows` completed trials."""
    plan = _plan(lab)
    tsv = plan.tsv
    w = SessionWriter(tsv, "2afc")

    w.start({"TrialOrder": plan.order, "TrialOrderSeed": plan.seed,
             "StimulusSet": {"TablesSHA256": plan.stimset.tables_sha256, "Path": str(plan.stimset.path)}})
    trials = plan.trials_by_number
    for t in plan.order[:rows]:
        tr = trials[t]
        w.append({**tr, "response_side": "left", "chosen_stim": tr["left_stim"],
                  "correct": tr["impossible_side"] == "left", "rt": 1.0, "onset": float(t)})
    if status != "incomplete":
        w.set_status(status)
    if tail:
        with open(tsv, "ab") as fh:
            fh.write(tail)
    return tsv


@pytest.mark.parametrize("case, expected", [
    ("unregistered", "sub-009 is not registered"),
    ("tampered", "checksum mismatch"),
    ("complete", "session already complete"),
    ("incomplete", "pass --resume to continue it"),
    ("wrong kind", "a questionnaire stimulus set, but this program runs the 2afc task"),
    ("other task", "already holds sub-001_ses-01_task-questionnaire_beh.tsv"),
    ("nothing to resume", "no session to resume"),
    ("seed differs", "resume without --seed"),
])
def test_refusals_change_no_file(lab: dict[str, Path], case: str, expected: str) -> None:
    kw: dict = {}
    if case == "unregistered":
        kw["participant"] = "sub-009"
    elif case == "tampered":
        png = sorted((lab["pairs"] / "images").glob("*.png"))[3]
        data = bytearray(png.read_bytes())
        data[len(data) // 2] ^= 0x01
        png.write_bytes(bytes(data))
    elif case == "complete":
        _start(lab, 8, "complete")
        kw["resume"] = True
    elif case == "incomplete":
        _start(lab, 3)
    elif case == "wrong kind":
        kw["stimuli"] = lab["quest"]
    elif case == "other task":
        SessionWriter(beh_path(lab["data"], "sub-001", 1, "questionnaire"), "questionnaire").start({})
    elif case == "nothing to resume":
        kw["resume"] = True
    elif case == "seed differs":
        _start(lab, 3)
        kw.update(resume=True, seed=1)
    before = tree_bytes(lab["data"])
    with pytest.raises(UserError) as err:
        _plan(lab, **kw)
    assert expected in str(err.value) and "\n" not in str(err.value)
    assert tree_bytes(lab["data"]) == before


def test_resume_after_a_crash_mid_line(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 3, tail=b"9\tpractice\t9\tp0")  # a row cut off by the crash
    plan = _plan(lab, resume=True)
    assert plan.resume and plan.done == plan.order[:3] and plan.remaining == plan.order[3:]
    assert tsv.read_bytes().endswith(b"\n")  # the partial line was dropped
    assert tsv.read_bytes().count(b"\n") == 4


def test_resume_offered_by_prompt(lab: dict[str, Path]) -> None:
    _start(lab, 2, "aborted")
    asked: list[str] = []
    plan = _plan(lab, prompt=lambda q: asked.append(q) or True)
    assert plan.done == plan.order[:2] and "aborted (2 of 8 trials done)" in asked[0]
    with pytest.raises(UserError, match="pass --resume"):
        _plan(lab, prompt=lambda q: False)


def test_resume_refuses_another_stimulus_set(lab: dict[str, Path], tmp_path: Path) -> None:
    _start(lab, 2)
    other = make_2afc_set(tmp_path / "other", 2, 6, seed=9, size=16).path
    with pytest.raises(UserError, match="not the stimulus set this session was started with"):
        _plan(lab, stimuli=other, resume=True)


def test_resume_refuses_rows_out_of_order(lab: dict[str, Path]) -> None:
    tsv = _start(lab, 3)
    side = sidecar_path(tsv)
    import json

    meta = json.loads(side.read_text())
    meta["TrialOrder"] = list(reversed(meta["TrialOrder"]))
    write_json(side, meta)
    with pytest.raises(UserError, match="do not follow the recorded TrialOrder"):
        _plan(lab, resume=True)
