"""labutil.difficulty beyond the rule itself: the lowered tolerance of summaries, the documented
default and the rule's recorded text (docs/formats.md), checked by brute force over small cases."""

from __future__ import annotations

import numpy as np
import pytest

from labutil import difficulty
from labutil.difficulty import DEFAULT_TOLERANCE, RULE_TEXT, check_tolerance, classify, usable_tolerance
from labutil.errors import UserError


def _largest_allowed(n_models: int, tolerance: int) -> int:
    """The largest t in 0..tolerance that keeps trivial and impossible apart (2t < n), else 0."""
    return max([t for t in range(tolerance + 1) if 2 * t < n_models], default=0)


@pytest.mark.parametrize("n_models", range(0, 14))
def test_usable_tolerance_is_the_largest_the_models_allow(n_models: int) -> None:
    for tolerance in range(0, 8):
        k = usable_tolerance(n_models, tolerance)
        assert k == _largest_allowed(n_models, tolerance), (n_models, tolerance)
        if n_models >= 1:
            check_tolerance(k, n_models)  # never refused by the rule it serves
    assert usable_tolerance(n_models, -2) == 0  # never below 0
    assert usable_tolerance(np.int64(n_models)) == _largest_allowed(n_models, DEFAULT_TOLERANCE)


def test_default_tolerance_is_the_papers_all_except_one() -> None:
    """docs/formats.md: `provenance.tolerance` default DEFAULT_TOLERANCE = 1, the same in every command."""
    assert DEFAULT_TOLERANCE == 1
    eleven = np.arange(12)
    assert classify(eleven, 11).tolist() == classify(eleven, 11, 1).tolist()
    assert usable_tolerance(11) == 1 and usable_tolerance(2) == 0


def test_the_recorded_rule_text_states_the_rule() -> None:
    """The text every set records in provenance.difficulty_rule, as docs/formats.md states it."""
    assert RULE_TEXT == "trivial: n_correct >= n_models - tolerance; impossible: n_correct <= tolerance"
    assert (difficulty.TRIVIAL, difficulty.IN_BETWEEN, difficulty.IMPOSSIBLE) == ("trivial", "in-between", "impossible")


def test_a_negative_tolerance_is_refused_before_any_count_is_looked_at() -> None:
    with pytest.raises(UserError) as err:
        check_tolerance(-1, np.array([11, 11]))
    assert str(err.value) == "--tolerance must be >= 0, not -1"
    with pytest.raises(UserError) as err:
        classify(np.array([3]), 11, -1)
    assert str(err.value) == "--tolerance must be >= 0, not -1"


def test_zero_tolerance_of_one_model_and_the_boundary_counts() -> None:
    """k = 0 with one model: right is trivial, wrong impossible; 2k = n is refused, 2k = n - 1 allowed."""
    assert classify(np.array([0, 1]), 1, 0).tolist() == ["impossible", "trivial"]
    check_tolerance(3, 7)
    with pytest.raises(UserError, match=r"^--tolerance 3 is too large for 6 models: trivial \(>= 3 correct\) "
                                        r"and impossible \(<= 3 correct\) would overlap; use at most 2$"):
        check_tolerance(3, np.array([8, 6]))
