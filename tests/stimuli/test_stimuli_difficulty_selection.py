"""Difficulty split and the seeded, order-independent selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labutil.errors import UserError
from labutil.difficulty import classify
from stimuli.selection import balanced_sides, design_2afc, design_questionnaire, draw, practice_split


def test_classify_pins_the_tolerance_rule() -> None:
    n = np.arange(12)
    assert list(classify(n, 11, 0)) == ["impossible"] + ["in-between"] * 10 + ["trivial"]
    assert list(classify(n, 11, 1)) == ["impossible"] * 2 + ["in-between"] * 8 + ["trivial"] * 2
    # per-image numbers of models (imported tables may mix them)
    assert list(classify(np.array([4, 4, 1]), np.array([5, 4, 3]), 1)) == ["trivial", "trivial", "impossible"]


def test_classify_agrees_with_the_analysis_split() -> None:
    from analysis.models.difficulty import difficulty

    n = np.arange(12)
    for k in range(6):
        assert list(classify(n, 11, k)) == [str(d) for d in difficulty(n, 11, k)]


@pytest.mark.parametrize("k,m", [(-1, 11), (6, 11), (1, 2)])
def test_tolerance_that_overlaps_is_refused(k: int, m: int) -> None:
    with pytest.raises(UserError, match="tolerance"):
        classify(np.array([0, 1]), m, k)


def _pool(n: int, n_classes: int = 4) -> pd.DataFrame:
    return pd.DataFrame({
        "source_image_id": [f"img{i:03d}" for i in range(n)],
        "label": np.arange(n) % n_classes,
        "class_name": [f"c{i % n_classes}" for i in range(n)],
        "n_correct": 0, "n_models": 11, "row": np.arange(n),
    })


def test_draw_ignores_input_order_and_is_seeded() -> None:
    pool = _pool(50)
    shuffled = pool.sample(frac=1.0, random_state=3)
    a = draw(pool, 10, np.random.default_rng(5))
    b = draw(shuffled, 10, np.random.default_rng(5))
    assert a["row"].tolist() == b["row"].tolist()
    assert len(set(a["row"])) == 10
    c = draw(pool, 10, np.random.default_rng(6))
    assert a["row"].tolist() != c["row"].tolist()


def test_class_balanced_draw_spreads_over_classes() -> None:
    # 3 classes with 30, 5 and 2 images: 12 images -> 5 + 5 + 2 would be impossible for the small class
    pool = pd.concat([_pool(30, 1), _pool(5, 1).assign(label=1), _pool(2, 1).assign(label=2)], ignore_index=True)
    pool["source_image_id"] = [f"i{i:03d}" for i in range(len(pool))]
    pool["row"] = np.arange(len(pool))
    for seed in range(5):
        got = draw(pool, 12, np.random.default_rng(seed), class_balance=True)
        counts = got["label"].value_counts().to_dict()
        assert counts == {0: 5, 1: 5, 2: 2}
        # 9 images from 3 classes: exactly 3 each
        assert set(draw(pool, 6, np.random.default_rng(seed), class_balance=True)["label"].value_counts()) == {2}


def test_sides_exactly_half_and_odd_rule() -> None:
    for seed in range(20):
        sides, n_left = balanced_sides(10, np.random.default_rng(seed))
        assert sides.count("left") == n_left == 5
    lefts = {balanced_sides(149, np.random.default_rng(seed))[1] for seed in range(40)}
    assert lefts == {74, 75}  # floor or ceil, chosen by the seed


def test_2afc_design_pairs_each_image_once() -> None:
    triv, imp = _pool(30), _pool(30)
    imp["row"] += 100
    imp["source_image_id"] = [f"x{i}" for i in range(30)]
    pairs, rec = design_2afc(triv, imp, 9, 3, np.random.default_rng(0))
    assert pairs["phase"].tolist() == ["practice"] * 3 + ["test"] * 9
    assert pairs["trivial_row"].max() < 100 <= pairs["impossible_row"].min()
    assert len(set(pairs["trivial_row"]) | set(pairs["impossible_row"])) == 24
    test = pairs[pairs["phase"] == "test"]
    assert (test["impossible_side"] == "left").sum() == rec["impossible_left"]["test"] in (4, 5)


def test_questionnaire_practice_split() -> None:
    assert practice_split(6, np.random.default_rng(0)) == {"trivial": 2, "in-between": 2, "impossible": 2}
    split = practice_split(4, np.random.default_rng(0))
    assert sorted(split.values()) == [1, 1, 2]
    pools = {d: _pool(20).assign(row=np.arange(20) + 100 * i, source_image_id=[f"{d}{j}" for j in range(20)])
             for i, d in enumerate(["trivial", "in-between", "impossible"])}
    rows, _ = design_questionnaire(pools, 5, split, np.random.default_rng(1))
    test = rows[rows["phase"] == "test"]
    assert test["difficulty"].value_counts().to_dict() == {"trivial": 5, "in-between": 5, "impossible": 5}
    assert rows[rows["phase"] == "practice"]["difficulty"].value_counts().to_dict() == {k: v for k, v in split.items()}
    assert rows["row"].is_unique
    # shuffled: not grouped by difficulty
    assert test["difficulty"].tolist() != sorted(test["difficulty"].tolist(), key=["trivial", "in-between", "impossible"].index)
