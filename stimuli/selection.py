"""Seeded, order-independent choice of images and the trial design of 2AFC and questionnaire sets.

Candidates are first put in a stable order (by source image id, then source row), so the result
depends only on the candidate set and the seed, never on the input order or on argsort ties;
every random step then draws from one `np.random.Generator`, in a fixed sequence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from labutil.difficulty import IMPOSSIBLE, IN_BETWEEN, TRIVIAL

DIFFICULTY_ORDER = (TRIVIAL, IN_BETWEEN, IMPOSSIBLE)


def stable_order(pool: pd.DataFrame) -> pd.DataFrame:
    """Candidates sorted by (source_image_id, row): a total order that ignores how the input was sorted."""
    return pool.sort_values(["source_image_id", "row"], kind="stable").reset_index(drop=True)


def draw(pool: pd.DataFrame, n: int, rng: np.random.Generator, class_balance: bool = False) -> pd.DataFrame:
    """`n` distinct candidates in random order; with `class_balance`, classes differ by at most one image.

    Class balance takes one image per class in a random class order, then a second per class,
    and so on (each class's images in a random order), until `n` are chosen; the result is then
    shuffled so the trial order does not follow the rounds.
    """
    pool = stable_order(pool)
    if n > len(pool):
        raise ValueError(f"cannot draw {n} of {len(pool)} candidates")
    if not class_balance:
        return pool.iloc[rng.permutation(len(pool))[:n]].reset_index(drop=True)
    labels = pool["label"].to_numpy()
    classes = np.unique(labels)  # sorted
    members = [np.flatnonzero(labels == c) for c in classes]
    members = [m[rng.permutation(len(m))] for m in members]
    class_order = rng.permutation(len(classes))
    picked: list[int] = []
    depth = 0
    while len(picked) < n:
        for ci in class_order:
            if depth < len(members[ci]):
                picked.append(int(members[ci][depth]))
                if len(picked) == n:
                    break
        depth += 1
    chosen = np.asarray(picked)[rng.permutation(n)]
    return pool.iloc[chosen].reset_index(drop=True)


def balanced_sides(n: int, rng: np.random.Generator) -> tuple[list[str], int]:
    """Impossible-image side per trial: exactly n/2 'left' in random order.

    For odd n the extra trial goes left or right by a fair draw from `rng` (floor or ceil of n/2 on
    the left). Returns the sides and the number on the left.
    """
    n_left = n // 2 + (int(rng.integers(2)) if n % 2 else 0)
    sides = np.array(["left"] * n_left + ["right"] * (n - n_left))
    return [str(s) for s in sides[rng.permutation(n)]], n_left


def design_2afc(
    trivial: pd.DataFrame,
    impossible: pd.DataFrame,
    n_test: int,
    n_practice: int,
    rng: np.random.Generator,
    class_balance: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Pairs of one trivial and one impossible image, practice first, each image used once.

    Draw order (fixed): trivial images, impossible images, practice sides, test sides. The i-th
    trivial and i-th impossible draw form pair i; the first `n_practice` pairs are practice.
    Returns rows (phase, trivial_row, impossible_row, impossible_side) and a design record.
    """
    n = n_test + n_practice
    triv = draw(trivial, n, rng, class_balance)
    imp = draw(impossible, n, rng, class_balance)
    practice_sides, practice_left = balanced_sides(n_practice, rng)
    test_sides, test_left = balanced_sides(n_test, rng)
    pairs = pd.DataFrame(
        {
            "phase": ["practice"] * n_practice + ["test"] * n_test,
            "trivial_row": triv["row"].to_numpy(),
            "impossible_row": imp["row"].to_numpy(),
            "impossible_side": practice_sides + test_sides,
        }
    )
    record = {
        "test_pairs": n_test,
        "practice_pairs": n_practice,
        "impossible_left": {"test": test_left, "practice": practice_left},
        "odd_rule": "for an odd number of pairs the extra impossible image goes left or right by a fair seeded draw",
        "class_balance": class_balance,
    }
    return pairs, record


def practice_split(n_practice: int, rng: np.random.Generator) -> dict[str, int]:
    """Practice images per difficulty: n/3 each, the remainder to difficulties drawn without replacement."""
    counts = dict.fromkeys(DIFFICULTY_ORDER, n_practice // 3)
    for i in sorted(rng.choice(3, size=n_practice % 3, replace=False).tolist()):
        counts[DIFFICULTY_ORDER[i]] += 1
    return counts


def design_questionnaire(
    pools: dict[str, pd.DataFrame],
    n_per_difficulty: int,
    practice: dict[str, int],
    rng: np.random.Generator,
    class_balance: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Equal numbers of trivial, in-between and impossible images plus practice images, each shuffled.

    `practice` gives the practice images per difficulty (`practice_split`, drawn first from the
    same generator). Draw order (fixed): one draw per difficulty (trivial, in-between, impossible;
    the first images of each draw are its practice images), practice order, test order.
    Returns rows (phase, difficulty, row) with practice first, and a design record.
    """
    prac_parts, test_parts = [], []
    for diff in DIFFICULTY_ORDER:
        chosen = draw(pools[diff], n_per_difficulty + practice[diff], rng, class_balance)
        chosen = chosen.assign(difficulty=diff)[["difficulty", "row"]]
        prac_parts.append(chosen.iloc[: practice[diff]])
        test_parts.append(chosen.iloc[practice[diff]:])
    prac = pd.concat(prac_parts, ignore_index=True)
    test = pd.concat(test_parts, ignore_index=True)
    prac = prac.iloc[rng.permutation(len(prac))].assign(phase="practice")
    test = test.iloc[rng.permutation(len(test))].assign(phase="test")
    rows = pd.concat([prac, test], ignore_index=True)[["phase", "difficulty", "row"]]
    record = {
        "test_per_difficulty": n_per_difficulty,
        "practice_images": sum(practice.values()),
        "practice_per_difficulty": practice,
        "class_balance": class_balance,
    }
    return rows, record
