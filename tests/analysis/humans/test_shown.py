"""Re-shown trials listed and left out; mirrored 2AFC sessions mapped back to the set's layout."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.humans.sessions import load_sessions
from analysis.humans.shown import correct_from_set, layout_mismatches, reshown_trials, to_set_layout
from human_data import write_2afc_set
from participants.layout import SessionWriter, beh_path


def _session(root: Path, pid: str, sset, mirrored: bool, chosen_impossible: list[bool], shown: dict[int, int]) -> None:
    """A 2AFC session written as the experiment writes it: layout as on screen, `mirrored`, `n_shown`."""
    w = SessionWriter(beh_path(root, pid, 1, "2afc"), "2afc", extended=True)
    w.start({"StimulusSet": {"Name": sset.name, "TablesSHA256": sset.tables_sha256}, "ExpectedTrials": len(sset.trials),
             "Counterbalancing": {"MirrorSides": mirrored}})
    for t, imp_chosen in zip(sset.trials.to_dict("records"), chosen_impossible):
        left, right, side = t["left_stim"], t["right_stim"], t["impossible_side"]
        if mirrored:
            left, right, side = right, left, ("right" if side == "left" else "left")
        resp = side if imp_chosen else ("right" if side == "left" else "left")
        n = shown.get(int(t["trial"]), 1)
        w.append({"trial": t["trial"], "phase": t["phase"], "pair_id": t["pair_id"], "left_stim": left,
                  "right_stim": right, "impossible_side": side, "response_side": resp,
                  "chosen_stim": left if resp == "left" else right, "correct": imp_chosen, "rt": 1.0,
                  "onset": 2.0 * t["trial"], "mirrored": mirrored, "n_shown": n,
                  "onsets": ";".join(str(2.0 * t["trial"] - 0.5 * k) for k in range(n - 1, -1, -1)),
                  "n_frames": 60, "dropped_frames": 0})
    w.set_status("complete")


def test_mirrored_sessions_map_back_and_keep_their_correctness(tmp_path: Path) -> None:
    sset = write_2afc_set(tmp_path / "sets", "pairs", n_pairs=6)
    choices = [True, True, False, True, False, False, True]  # practice + 6 test trials
    _session(tmp_path / "data", "sub-001", sset, mirrored=False, chosen_impossible=choices, shown={})
    _session(tmp_path / "data", "sub-002", sset, mirrored=True, chosen_impossible=choices, shown={})
    loaded = load_sessions(tmp_path / "data", "2afc")
    t = loaded.trials
    assert sorted(t["participant_id"].unique()) == ["sub-001", "sub-002"]
    mirrored = t[t["participant_id"] == "sub-002"]
    plain = t[t["participant_id"] == "sub-001"]
    # on screen the sides differ between the two observers, in the set's layout they agree
    assert (mirrored["impossible_side"].to_numpy() != plain["impossible_side"].to_numpy()).all()
    assert (mirrored["set_impossible_side"].to_numpy() == plain["set_impossible_side"].to_numpy()).all()
    assert (mirrored["set_response_side"].to_numpy() == plain["set_response_side"].to_numpy()).all()
    assert layout_mismatches(t, sset.trials).empty
    # correctness recomputed from the chosen image and the set alone equals the recorded one
    assert (correct_from_set(t, sset.trials) == t["correct"].astype(bool)).all()
    assert list(mirrored["correct"]) == list(plain["correct"]) == choices[1:]
    # an unmapped mirrored row would not match the set
    raw = mirrored.drop(columns=["mirrored"]).assign(mirrored=False)
    assert len(layout_mismatches(raw, sset.trials)) == len(raw)


def test_reshown_trials_are_listed_and_can_be_left_out(tmp_path: Path) -> None:
    sset = write_2afc_set(tmp_path / "sets", "pairs", n_pairs=4)
    _session(tmp_path / "data", "sub-001", sset, mirrored=False, chosen_impossible=[True] * 5, shown={3: 2, 5: 3})
    loaded = load_sessions(tmp_path / "data", "2afc")
    assert list(loaded.reshown["trial"]) == [3, 5] and list(loaded.reshown["n_shown"]) == [2, 3]
    assert loaded.reshown["onsets"].iloc[0] == "5.500;6.000"
    assert len(loaded.trials) == 4 and loaded.reshown_left_out == 0
    left = load_sessions(tmp_path / "data", "2afc", leave_out_reshown=True)
    assert sorted(left.trials["trial"]) == [2, 4] and left.reshown_left_out == 2
    assert any("2 trials shown more than once" in n for n in left.notes)


def test_sessions_recorded_before_the_columns_existed() -> None:
    old = pd.DataFrame({"participant_id": ["sub-001"], "session": [1], "trial": [1], "phase": ["test"],
                        "left_stim": ["a"], "right_stim": ["b"], "impossible_side": ["left"],
                        "response_side": ["right"], "chosen_stim": ["b"], "correct": [False]})
    assert reshown_trials(old).empty
    mapped = to_set_layout(old)
    assert mapped["set_left_stim"].iloc[0] == "a" and mapped["mirrored"].iloc[0] == False  # noqa: E712
