"""Properties of the seeded stimulus design that a correct builder must have for every seed.

Each test states a property from the design's definition (sides shuffled and balanced, extra
images spread over classes, practice split without replacement, every image at most once) and
checks it over many seeds, so a design that is right for one seed by luck does not pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stimuli.selection import balanced_sides, design_2afc, draw, practice_split


def _pool(n: int, n_classes: int, prefix: str = "i", offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"source_image_id": [f"{prefix}{i:04d}" for i in range(n)], "label": np.arange(n) % n_classes,
                         "row": np.arange(n) + offset})


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 301), seed=st.integers(0, 2**32 - 1))
def test_sides_are_balanced_for_every_n_and_seed(n: int, seed: int) -> None:
    sides, n_left = balanced_sides(n, np.random.default_rng(seed))
    assert len(sides) == n and set(sides) <= {"left", "right"}
    assert sides.count("left") == n_left and n_left in (n // 2, (n + 1) // 2)


def test_sides_are_shuffled_not_grouped() -> None:
    # a design that puts all left-impossible pairs first would make side and trial position one variable
    firsts = [balanced_sides(20, np.random.default_rng(seed))[0] for seed in range(200)]
    first_left = sum(s[0] == "left" for s in firsts)
    assert 70 <= first_left <= 130  # Binomial(200, 0.5): outside this range with p < 1e-4
    assert len({tuple(s) for s in firsts}) > 150
    grouped = ["left"] * 10 + ["right"] * 10
    assert sum(s == grouped for s in firsts) <= 1


def test_the_odd_pair_goes_left_and_right_by_seed() -> None:
    lefts = [balanced_sides(149, np.random.default_rng(seed))[1] for seed in range(200)]
    assert set(lefts) == {74, 75}
    assert 70 <= lefts.count(75) <= 130


def test_class_that_gets_the_extra_image_varies_with_the_seed() -> None:
    pool = _pool(60, 4)  # 4 classes x 15 images; 9 images: one class gets a third image
    extra = []
    for seed in range(120):
        counts = draw(pool, 9, np.random.default_rng(seed), class_balance=True)["label"].value_counts()
        assert sorted(counts.tolist()) == [2, 2, 2, 3]
        extra.append(int(counts.idxmax()))
    # every class gets the extra image sometimes, none nearly always (uniform: 30 each)
    assert set(extra) == {0, 1, 2, 3} and max(extra.count(c) for c in range(4)) <= 50


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1))
def test_practice_split_draws_difficulties_without_replacement(n: int, seed: int) -> None:
    split = practice_split(n, np.random.default_rng(seed))
    assert sum(split.values()) == n
    assert max(split.values()) - min(split.values()) <= (1 if n % 3 else 0)


def test_practice_remainder_goes_to_every_difficulty_by_seed() -> None:
    got = [tuple(sorted(k for k, v in practice_split(4, np.random.default_rng(s)).items() if v == 2)) for s in range(90)]
    assert set(got) == {("trivial",), ("in-between",), ("impossible",)}


@settings(max_examples=40, deadline=None)
@given(n_test=st.integers(1, 25), n_practice=st.integers(0, 6), seed=st.integers(0, 2**32 - 1),
       balance=st.booleans())
def test_each_image_used_once_and_each_pair_trivial_plus_impossible(n_test: int, n_practice: int, seed: int,
                                                                      balance: bool) -> None:
    triv, imp = _pool(40, 5, "t"), _pool(40, 5, "x", offset=1000)
    pairs, rec = design_2afc(triv, imp, n_test, n_practice, np.random.default_rng(seed), class_balance=balance)
    assert len(pairs) == n_test + n_practice
    assert pairs["trivial_row"].is_unique and pairs["impossible_row"].is_unique
    assert pairs["trivial_row"].lt(1000).all() and pairs["impossible_row"].ge(1000).all()
    test = pairs[pairs["phase"] == "test"]
    assert (test["impossible_side"] == "left").sum() == rec["impossible_left"]["test"]
    assert abs(2 * rec["impossible_left"]["test"] - n_test) <= 1


def test_draw_depends_on_the_candidates_not_their_order() -> None:
    pool = _pool(50, 5)
    for seed in range(10):
        a = draw(pool, 12, np.random.default_rng(seed), class_balance=True)
        b = draw(pool.iloc[::-1], 12, np.random.default_rng(seed), class_balance=True)
        assert a["row"].tolist() == b["row"].tolist()


def _difficulty_pools(n: int, n_classes: int) -> dict[str, pd.DataFrame]:
    return {d: _pool(n, n_classes, d[:2], offset=1000 * i) for i, d in enumerate(["trivial", "in-between", "impossible"])}


def test_questionnaire_design_record_and_index() -> None:
    from stimuli.selection import design_questionnaire

    practice = {"trivial": 1, "in-between": 1, "impossible": 0}
    rows, rec = design_questionnaire(_difficulty_pools(30, 3), 4, practice, np.random.default_rng(0))
    assert rec == {"test_per_difficulty": 4, "practice_images": 2, "practice_per_difficulty": practice,
                   "class_balance": False}
    assert rows.index.tolist() == list(range(14)) and rows.columns.tolist() == ["phase", "difficulty", "row"]
    assert rows["phase"].tolist() == ["practice"] * 2 + ["test"] * 12


def test_questionnaire_class_balance_reaches_every_difficulty() -> None:
    from stimuli.selection import design_questionnaire

    # 40 images of class 0 and 4 of each of classes 1-4 per difficulty: a plain draw of 10 is mostly
    # class 0; a class-balanced one takes 2 of each class
    pools = {d: pd.DataFrame({"source_image_id": [f"{d}{i:03d}" for i in range(56)],
                              "label": [0] * 40 + [1, 2, 3, 4] * 4, "row": np.arange(56) + 1000 * k})
             for k, d in enumerate(["trivial", "in-between", "impossible"])}
    none = dict.fromkeys(pools, 0)
    for seed in range(5):
        rows, rec = design_questionnaire(pools, 10, none, np.random.default_rng(seed), class_balance=True)
        assert rec["class_balance"] is True
        for k, d in enumerate(pools):
            labels = pools[d].set_index("row").loc[rows.loc[rows["difficulty"] == d, "row"], "label"]
            assert labels.value_counts().to_dict() == {0: 2, 1: 2, 2: 2, 3: 2, 4: 2}
