"""stimuli.checks on small hand-made sets: which sets get the design checks, and each problem named
exactly (the file, the image, the counts), including the cases a built 8-pair set never shows."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stimuli.checks import BUILDER, check_set, design_problems
from stimuli.sets import png_bytes, write_set


def _stimuli(difficulties: list[str], n_correct: list[int] | None = None) -> pd.DataFrame:
    n = len(difficulties)
    default = {"trivial": 11, "in-between": 5, "impossible": 0}
    return pd.DataFrame({
        "stim_id": [f"s{i}" for i in range(n)], "source_image_id": [f"val/{i}" for i in range(n)],
        "label": [0] * n, "class_name": ["c"] * n,
        "n_correct": n_correct or [default[d] for d in difficulties], "n_models": [11] * n, "difficulty": difficulties,
    })


def _images(n: int) -> dict[str, bytes]:
    return {f"s{i}": png_bytes(np.full((2, 2), i, dtype=np.uint8)) for i in range(n)}


def _pairs(tmp_path: Path, sides: list[str], phases: list[str] | None = None, **meta: object):  # noqa: ANN202
    """A 2AFC set of len(sides) pairs: pair t shows s(2t) and s(2t+1), the impossible one on `sides[t]`."""
    n = len(sides)
    difficulties, left, right = [], [], []
    for t, side in enumerate(sides):
        a, b = f"s{2 * t}", f"s{2 * t + 1}"
        difficulties += ["impossible", "trivial"] if side == "left" else ["trivial", "impossible"]
        left.append(a)
        right.append(b)
    trials = pd.DataFrame({"trial": range(1, n + 1), "phase": phases or ["test"] * n, "pair_id": range(1, n + 1),
                           "left_stim": left, "right_stim": right, "impossible_side": sides})
    return write_set(tmp_path / "p", {"kind": "2afc", "builder": BUILDER, **meta}, _stimuli(difficulties), trials,
                     _images(2 * n))


def _questionnaire(tmp_path: Path, test: list[str], practice: list[str], **meta: object):  # noqa: ANN202
    difficulties = practice + test
    trials = pd.DataFrame({"trial": range(1, len(difficulties) + 1),
                           "phase": ["practice"] * len(practice) + ["test"] * len(test),
                           "stim_id": [f"s{i}" for i in range(len(difficulties))]})
    return write_set(tmp_path / "q", {"kind": "questionnaire", "builder": BUILDER, **meta}, _stimuli(difficulties),
                     trials, _images(len(difficulties)))


def test_the_builder_that_gets_the_design_checks() -> None:
    assert BUILDER == "stimuli.build"  # what stimuli.build records in set.json (docs/formats.md)


def test_sets_of_another_builder_get_no_design_checks(tmp_path: Path) -> None:
    lopsided = _pairs(tmp_path, ["left", "left", "left", "left"], builder="imported")
    assert design_problems(lopsided) == []
    assert check_set(str(lopsided.path)) == []
    no_builder = dataclasses.replace(lopsided, meta={k: v for k, v in lopsided.meta.items() if k != "builder"})
    assert design_problems(no_builder) == []
    ours = dataclasses.replace(lopsided, meta={**lopsided.meta, "builder": BUILDER})
    assert design_problems(ours) == [f"{lopsided.path / 'trials.tsv'}: impossible image left in 4 of 4 test trials (not balanced)"]


@pytest.mark.parametrize(("sides", "ok"), [(["left", "right", "left"], True), (["right", "right", "left"], True),
                                           (["left"], True), (["right"], True), ([], True),
                                           (["left", "left", "left"], False), (["right", "right", "right"], False),
                                           (["left", "left"], False), (["right", "right", "right", "left", "right"], False)])
def test_side_balance_allows_exactly_floor_or_ceil_of_half(tmp_path: Path, sides: list[str], ok: bool) -> None:
    if not sides:  # a set with practice pairs only
        sset = _pairs(tmp_path, ["left", "left"], phases=["practice", "practice"])
        assert design_problems(sset) == []
        return
    sset = _pairs(tmp_path, sides)
    n_left = sides.count("left")
    assert abs(2 * n_left - len(sides)) <= 1 if ok else abs(2 * n_left - len(sides)) > 1  # the definition
    expected = [] if ok else [
        f"{sset.path / 'trials.tsv'}: impossible image left in {n_left} of {len(sides)} test trials (not balanced)"]
    assert design_problems(sset) == expected


def test_practice_pairs_do_not_count_for_the_balance(tmp_path: Path) -> None:
    sset = _pairs(tmp_path, ["left", "left", "left", "right"], phases=["practice", "practice", "test", "test"])
    assert design_problems(sset) == []


def test_the_recorded_left_count_is_compared_with_the_test_pairs(tmp_path: Path) -> None:
    sides = ["left", "right", "left"]
    assert design_problems(_pairs(tmp_path / "a", sides, design={"impossible_left": {"test": 2}})) == []
    sset = _pairs(tmp_path / "b", sides, design={"impossible_left": {"test": 1, "practice": 2}})
    assert design_problems(sset) == [f"{sset.path / 'trials.tsv'}: impossible image left in 2 test trials, set.json records 1"]
    no_count = _pairs(tmp_path / "c", sides, design={"impossible_left": {"practice": 0}})
    assert design_problems(no_count) == []


def test_an_image_in_two_trials_on_either_side_is_named(tmp_path: Path) -> None:
    sset = _pairs(tmp_path, ["left", "right"])
    trials = sset.trials.copy()
    trials.loc[1, "right_stim"] = trials.loc[0, "left_stim"]  # left of pair 1 is also right of pair 2
    assert design_problems(dataclasses.replace(sset, trials=trials)) == [
        f"{sset.path / 'trials.tsv'}: a stimulus appears in more than one trial"]


def test_a_difficulty_that_disagrees_with_the_recorded_tolerance_names_the_first_image(tmp_path: Path) -> None:
    stim = _stimuli(["trivial", "in-between", "impossible", "trivial"], n_correct=[11, 5, 1, 10])
    trials = pd.DataFrame({"trial": [1, 2, 3, 4], "phase": ["test"] * 4, "stim_id": ["s0", "s1", "s2", "s3"]})
    sset = write_set(tmp_path / "q", {"kind": "questionnaire", "builder": BUILDER, "provenance": {"tolerance": 1}},
                     stim, trials, _images(4))
    wrong = sset.stimuli.assign(n_correct=[11, 9, 2, 9])  # at k = 1: trivial, in-between, in-between, in-between
    problems = design_problems(dataclasses.replace(sset, stimuli=wrong, trials=sset.trials[sset.trials["trial"] < 4]))
    assert problems == [f"{sset.path / 'stimuli.tsv'}: s2 is 'impossible' but 2/11 correct is 'in-between' at tolerance 1"]
    # the same counts are right at tolerance 2 for s2 (2 <= 2) and s3 (9 >= 11 - 2), wrong for s1 (9 >= 9 is trivial)
    meta = {**sset.meta, "provenance": {"tolerance": 2}}
    problems = design_problems(dataclasses.replace(sset, meta=meta, stimuli=wrong, trials=sset.trials[sset.trials["trial"] < 4]))
    assert problems == [f"{sset.path / 'stimuli.tsv'}: s1 is 'in-between' but 9/11 correct is 'trivial' at tolerance 2"]
    as_text = {**sset.meta, "provenance": {"tolerance": "2"}}  # a hand-edited record as text still counts
    assert len(design_problems(dataclasses.replace(sset, meta=as_text, stimuli=wrong))) >= 1


def test_the_first_source_image_used_twice_is_named(tmp_path: Path) -> None:
    sset = _pairs(tmp_path, ["left", "right", "left"])
    stimuli = sset.stimuli.copy()
    stimuli.loc[[3, 5], "source_image_id"] = "val/1"
    stimuli.loc[4, "source_image_id"] = "val/0"
    assert design_problems(dataclasses.replace(sset, stimuli=stimuli)) == [
        f"{sset.path / 'stimuli.tsv'}: source image 'val/1' used twice"]


def test_a_questionnaire_counts_its_test_images_only(tmp_path: Path) -> None:
    sset = _questionnaire(tmp_path / "a", ["trivial", "in-between", "impossible"] * 2, ["trivial", "trivial", "impossible"])
    assert design_problems(sset) == []
    unequal = _questionnaire(tmp_path / "b", ["trivial", "in-between", "impossible", "impossible"], ["trivial", "in-between"])
    assert design_problems(unequal) == [f"{unequal.path / 'trials.tsv'}: test images per difficulty are not equal "
                                        "({'trivial': 1, 'in-between': 1, 'impossible': 2})"]
    missing = _questionnaire(tmp_path / "c", ["trivial", "impossible"], ["in-between"])
    assert design_problems(missing) == [f"{missing.path / 'trials.tsv'}: test images per difficulty are not equal "
                                        "({'trivial': 1, 'in-between': 0, 'impossible': 1})"]


def test_check_set_gives_the_verification_problems_then_the_design_problems(tmp_path: Path) -> None:
    assert check_set(str(tmp_path)) == [f"{tmp_path}: not a stimulus set (no set.json)"]
    sset = _pairs(tmp_path, ["left", "left", "left"])
    (sset.path / "notes.txt").write_text("")
    assert check_set(str(sset.path)) == [f"{sset.path / 'notes.txt'}: not part of a stimulus set",
                                         f"{sset.path / 'trials.tsv'}: impossible image left in 3 of 3 test trials (not balanced)"]
