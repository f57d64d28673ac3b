"""The one difficulty rule (labutil.difficulty) against its definition, over every small case."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labutil.difficulty import (
    IMPOSSIBLE,
    IN_BETWEEN,
    TRIVIAL,
    check_tolerance,
    classify,
)
from labutil.errors import UserError


def by_definition(n_correct: int, n_models: int, k: int) -> str:
    """trivial: at most k models wrong; impossible: at most k models right; else in-between."""
    if n_models - n_correct <= k:
        return TRIVIAL
    if n_correct <= k:
        return IMPOSSIBLE
    return IN_BETWEEN


def test_every_count_of_every_small_study():
    for m in range(1, 12):
        for k in range((m - 1) // 2 + 1):
            counts = np.arange(m + 1)
            assert classify(counts, m, k).tolist() == [by_definition(int(c), m, k) for c in counts], (m, k)


def test_paper_example_eleven_models_tolerance_one():
    """'All except one': 10 or 11 of 11 right is trivial, 0 or 1 impossible, 2..9 in-between."""
    out = classify(np.arange(12), 11, 1).tolist()
    assert out == [IMPOSSIBLE] * 2 + [IN_BETWEEN] * 8 + [TRIVIAL] * 2


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 15), st.integers(0, 15)), min_size=1, max_size=20), st.integers(0, 7))
def test_images_with_their_own_number_of_models(rows, k):
    """Per-image model counts (some models missing on some images): each image by its own count;
    the tolerance must keep trivial and impossible apart for the smallest count."""
    n_models = np.array([m for m, _ in rows])
    n_correct = np.array([min(c, m) for m, c in rows])
    if 2 * k >= n_models.min():
        with pytest.raises(UserError, match=f"too large for {n_models.min()} models"):
            classify(n_correct, n_models, k)
        return
    out = classify(n_correct, n_models, k)
    assert out.tolist() == [by_definition(int(c), int(m), k) for c, m in zip(n_correct, n_models)]


@pytest.mark.parametrize("k,m,ok", [(0, 1, True), (1, 2, False), (1, 3, True), (2, 4, False), (2, 5, True), (5, 11, True),
                                    (6, 11, False), (-1, 5, False)])
def test_the_largest_tolerance_keeps_the_levels_apart(k, m, ok):
    """An image cannot be both: 2k < m (k = m/2 would make m/2 right both trivial and impossible)."""
    if ok:
        check_tolerance(k, m)
        check_tolerance(k, np.array([m, m + 3]))
    else:
        with pytest.raises(UserError):
            check_tolerance(k, m)
    with pytest.raises(UserError, match="too large for 4 models"):
        check_tolerance(2, np.array([9, 4, 7]))  # the smallest group decides


def test_empty_input_gives_an_empty_split():
    assert classify(np.array([], dtype=int), 3, 5).shape == (0,)


def test_the_refusal_names_the_overlap_and_the_largest_tolerance_allowed():
    with pytest.raises(UserError) as err:
        check_tolerance(4, 7)
    assert str(err.value) == ("--tolerance 4 is too large for 7 models: trivial (>= 3 correct) and impossible "
                              "(<= 4 correct) would overlap; use at most 3")
    with pytest.raises(UserError, match="must be >= 0, not -1"):
        check_tolerance(-1, 7)


def test_labels_are_an_object_array_of_the_three_names():
    """An object array (as documented), so a caller's longer label never gets cut to a fixed width."""
    out = classify(np.array([0, 1, 2]), 2, 0)
    assert out.dtype == object and out.tolist() == [IMPOSSIBLE, IN_BETWEEN, TRIVIAL]
