"""stimuli.selection: class balance reaches both images of a 2AFC pair, and the design record has
the keys docs/formats.md lists for set.json `design`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stimuli.selection import design_2afc, draw, stable_order


def _skewed(prefix: str, offset: int) -> pd.DataFrame:
    """40 images of class 0 and 4 of each of classes 1-4: a plain draw of 10 is mostly class 0."""
    return pd.DataFrame({"source_image_id": [f"{prefix}{i:03d}" for i in range(56)],
                         "label": [0] * 40 + [1, 2, 3, 4] * 4, "row": np.arange(56) + offset})


def _labels(pool: pd.DataFrame, rows: pd.Series) -> dict[int, int]:
    return pool.set_index("row").loc[rows, "label"].value_counts().to_dict()


def test_class_balance_applies_to_the_trivial_and_the_impossible_images() -> None:
    triv, imp = _skewed("t", 0), _skewed("x", 1000)
    for seed in range(5):
        pairs, rec = design_2afc(triv, imp, 8, 2, np.random.default_rng(seed), class_balance=True)
        assert rec["class_balance"] is True
        assert _labels(triv, pairs["trivial_row"]) == {0: 2, 1: 2, 2: 2, 3: 2, 4: 2}
        assert _labels(imp, pairs["impossible_row"]) == {0: 2, 1: 2, 2: 2, 3: 2, 4: 2}


def test_without_class_balance_by_default_the_draw_follows_the_pool() -> None:
    triv, imp = _skewed("t", 0), _skewed("x", 1000)
    class0 = []
    for seed in range(20):
        default, rec = design_2afc(triv, imp, 8, 2, np.random.default_rng(seed))
        plain, _ = design_2afc(triv, imp, 8, 2, np.random.default_rng(seed), class_balance=False)
        assert rec["class_balance"] is False and default.equals(plain)
        class0 += [_labels(triv, default["trivial_row"]).get(0, 0), _labels(imp, default["impossible_row"]).get(0, 0)]
    # 40 of 56 are class 0: a plain draw of 10 has about 7 of them, a balanced one exactly 2
    assert np.mean(class0) > 5


def test_the_2afc_design_record_has_the_documented_keys() -> None:
    triv, imp = _skewed("t", 0), _skewed("x", 1000)
    pairs, rec = design_2afc(triv, imp, 7, 3, np.random.default_rng(4))
    test_left = int((pairs.loc[pairs["phase"] == "test", "impossible_side"] == "left").sum())
    practice_left = int((pairs.loc[pairs["phase"] == "practice", "impossible_side"] == "left").sum())
    assert rec == {
        "test_pairs": 7, "practice_pairs": 3,
        "impossible_left": {"test": test_left, "practice": practice_left},
        "odd_rule": "for an odd number of pairs the extra impossible image goes left or right by a fair seeded draw",
        "class_balance": False,
    }


def test_draw_returns_candidates_as_they_are_numbered_from_zero() -> None:
    """The drawn rows are rows of the pool: its columns only (no old index as a column), 0..n-1."""
    pool = _skewed("t", 0).sample(frac=1.0, random_state=1).set_index(np.arange(100, 156))
    for balance in (False, True):
        got = draw(pool, 9, np.random.default_rng(0), class_balance=balance)
        assert list(got.columns) == ["source_image_id", "label", "row"] and got.index.tolist() == list(range(9))
        by_row = pool.set_index("row")
        assert (by_row.loc[got["row"], "source_image_id"].to_numpy() == got["source_image_id"].to_numpy()).all()
    assert stable_order(pool).index.tolist() == list(range(56)) and list(stable_order(pool).columns) == list(pool.columns)


def test_draw_is_plain_unless_asked_and_names_a_pool_too_small() -> None:
    pool = _skewed("t", 0)
    for seed in range(5):
        assert draw(pool, 10, np.random.default_rng(seed)).equals(
            draw(pool, 10, np.random.default_rng(seed), class_balance=False))
    with pytest.raises(ValueError) as err:
        draw(pool, 57, np.random.default_rng(0))
    assert str(err.value) == "cannot draw 57 of 56 candidates"


def test_a_class_balanced_draw_of_every_candidate_ends_and_takes_them_all() -> None:
    """n = the pool (candidates exactly enough): the rounds stop once every image is taken."""
    pool = _skewed("t", 0)
    got = draw(pool, len(pool), np.random.default_rng(2), class_balance=True)
    assert sorted(got["row"]) == list(range(56))
