"""The set checks refuse each kind of broken design (not only the one a builder happens to make)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from model_runs.store import Study
from stimuli.build import build_2afc
from stimuli.checks import design_problems
from stimuli.sets import TRIALS_FILE, _check_tables, read_set
from stimuli.sources import from_study

from stimuli_data import synthetic_pixels


@pytest.fixture
def built(study: Study, tmp_path: Path):  # noqa: ANN201
    src = from_study(study.path, image_source=synthetic_pixels)
    return read_set(build_2afc(src, tmp_path / "sets" / "p", n_test=8, n_practice=2, tolerance=1, seed=0).path)


def _swap_sides(trials: pd.DataFrame, rows: list[int], keep_label: bool = False) -> pd.DataFrame:
    t = trials.copy()
    for r in rows:
        t.loc[r, ["left_stim", "right_stim"]] = t.loc[r, ["right_stim", "left_stim"]].to_numpy()
        if not keep_label:
            t.loc[r, "impossible_side"] = "left" if t.loc[r, "impossible_side"] == "right" else "right"
    return t


def test_a_built_set_has_no_problems(built) -> None:  # noqa: ANN001
    assert design_problems(built) == []
    assert _check_tables(built.meta, built.stimuli, built.trials) == []


def test_sides_two_off_balance_are_refused(built) -> None:  # noqa: ANN001
    test = built.trials.index[built.trials["phase"] == "test"]
    on_right = [r for r in test if built.trials.loc[r, "impossible_side"] == "right"]
    meta = {**built.meta, "design": {}}  # no recorded count: only the balance rule can catch it
    one_off = dataclasses.replace(built, meta=meta, trials=_swap_sides(built.trials, on_right[:1]))
    # 5 of 8 on the left: |2 * 5 - 8| = 2, one more than an odd-free design can ever give
    assert design_problems(one_off) == [
        f"{built.path / TRIALS_FILE}: impossible image left in 5 of 8 test trials (not balanced)"]


def test_recorded_left_count_must_match(built) -> None:  # noqa: ANN001
    meta = {**built.meta, "design": {**built.meta["design"], "impossible_left": {"test": 3, "practice": 1}}}
    problems = design_problems(dataclasses.replace(built, meta=meta))
    assert problems == [f"{built.path / TRIALS_FILE}: impossible image left in 4 test trials, set.json records 3"]


def test_a_trivial_image_on_the_impossible_side_is_refused(built) -> None:  # noqa: ANN001
    row = int(built.trials.index[built.trials["phase"] == "test"][0])
    trials = _swap_sides(built.trials, [row], keep_label=True)  # images swapped, label kept: now wrong
    problems = _check_tables(built.meta, built.stimuli, trials)
    trial = int(built.trials.loc[row, "trial"])
    assert problems == [f"{TRIALS_FILE}: trial {trial}: impossible_side does not match the stimuli difficulties"]


def test_a_duplicated_stim_id_is_refused(built) -> None:  # noqa: ANN001
    stimuli = built.stimuli.copy()
    stimuli.loc[1, "stim_id"] = stimuli.loc[0, "stim_id"]
    assert any(p == "stimuli.tsv: duplicate stim_id" for p in _check_tables(built.meta, stimuli, built.trials))


def test_an_image_in_two_trials_is_refused(built) -> None:  # noqa: ANN001
    trials = built.trials.copy()
    test = trials.index[trials["phase"] == "test"]
    a, b = int(test[0]), int(test[1])
    col = "left_stim" if trials.loc[a, "impossible_side"] == trials.loc[b, "impossible_side"] else None
    if col is None:  # make both pairs put their impossible image on the same side first
        trials = _swap_sides(trials, [b])
        col = "left_stim"
    trials.loc[b, col] = trials.loc[a, col]
    problems = design_problems(dataclasses.replace(built, trials=trials))
    assert f"{built.path / TRIALS_FILE}: a stimulus appears in more than one trial" in problems


def test_a_source_image_used_twice_is_refused(built) -> None:  # noqa: ANN001
    stimuli = built.stimuli.copy()
    stimuli.loc[1, "source_image_id"] = stimuli.loc[0, "source_image_id"]
    problems = design_problems(dataclasses.replace(built, stimuli=stimuli))
    assert problems == [f"{built.path / 'stimuli.tsv'}: source image '{stimuli.loc[0, 'source_image_id']}' used twice"]


def test_a_pair_whose_other_image_is_not_trivial_is_refused(built) -> None:  # noqa: ANN001
    row = built.trials[built.trials["phase"] == "test"].iloc[0]
    other = row["right_stim"] if row["impossible_side"] == "left" else row["left_stim"]
    stimuli = built.stimuli.copy()
    stimuli.loc[stimuli["stim_id"] == other, "difficulty"] = "in-between"
    problems = _check_tables(built.meta, stimuli, built.trials)
    assert problems == [f"{TRIALS_FILE}: trial {row['trial']}: impossible_side does not match the stimuli difficulties"]


def test_a_built_set_without_provenance_is_still_checked(built) -> None:  # noqa: ANN001
    meta = {k: v for k, v in built.meta.items() if k != "provenance"}
    assert design_problems(dataclasses.replace(built, meta=meta)) == []


def test_a_built_set_without_a_design_record_is_checked_by_the_balance_rule(built) -> None:  # noqa: ANN001
    meta = {k: v for k, v in built.meta.items() if k != "design"}
    assert design_problems(dataclasses.replace(built, meta=meta)) == []


def test_a_recorded_tolerance_that_cannot_apply_is_named(built) -> None:  # noqa: ANN001
    meta = {**built.meta, "provenance": {**built.meta["provenance"], "tolerance": 6}}  # 2k >= 11 models
    problems = design_problems(dataclasses.replace(built, meta=meta))
    assert len(problems) == 1 and problems[0].startswith(f"{built.path / 'set.json'}: --tolerance 6 is too large")


def test_questionnaire_with_unequal_difficulties_is_refused(study: Study, tmp_path: Path) -> None:
    from stimuli.build import build_questionnaire

    src = from_study(study.path, image_source=synthetic_pixels)
    q = read_set(build_questionnaire(src, tmp_path / "sets" / "q", n_per_difficulty=4, n_practice=0, tolerance=1, seed=0).path)
    assert design_problems(q) == []
    test = q.trials[q.trials["phase"] == "test"]
    diff = q.stimuli.set_index("stim_id")["difficulty"]
    drop = test.index[test["stim_id"].map(diff) == "trivial"][:1]  # 3 trivial, 4 in-between, 4 impossible
    fewer = dataclasses.replace(q, trials=q.trials.drop(index=drop))
    assert design_problems(fewer) == [
        f"{q.path / TRIALS_FILE}: test images per difficulty are not equal ({{'trivial': 3, 'in-between': 4, 'impossible': 4}})"]
    only_two = dataclasses.replace(q, trials=q.trials[test["stim_id"].map(diff) != "trivial"].reindex(columns=q.trials.columns))
    assert len(design_problems(only_two)) == 1  # equal counts (4, 4) but a difficulty missing
