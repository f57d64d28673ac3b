"""The one rule for per-image difficulty from how many models were correct (tolerance k), shared by stimuli and analysis.

trivial: n_correct >= n_models - k; impossible: n_correct <= k; in-between: everything else
(k = 0: all models right / all wrong; the paper's ImageNet shares use k = 1, "all except one").
"""

from __future__ import annotations

import numpy as np

from labutil.errors import UserError

TRIVIAL, IN_BETWEEN, IMPOSSIBLE = "trivial", "in-between", "impossible"

#: the tolerance every command and function uses unless told otherwise: the paper's "all except one"
DEFAULT_TOLERANCE = 1
#: how the rule reads, recorded with every stimulus set
RULE_TEXT = "trivial: n_correct >= n_models - tolerance; impossible: n_correct <= tolerance"


def usable_tolerance(n_models: int, tolerance: int = DEFAULT_TOLERANCE) -> int:
    """`tolerance`, lowered to the largest that `n_models` allows (for summaries that must not fail)."""
    return max(0, min(tolerance, (int(n_models) - 1) // 2))


def check_tolerance(tolerance: int, n_models: np.ndarray | int) -> None:
    """Refuse a tolerance under which an image could be both trivial and impossible (2k >= n)."""
    if tolerance < 0:
        raise UserError(f"--tolerance must be >= 0, not {tolerance}")
    smallest = int(np.min(n_models))
    if 2 * tolerance >= smallest:
        raise UserError(
            f"--tolerance {tolerance} is too large for {smallest} models: trivial (>= {smallest - tolerance} correct) "
            f"and impossible (<= {tolerance} correct) would overlap; use at most {(smallest - 1) // 2}"
        )


def classify(n_correct: np.ndarray, n_models: np.ndarray | int, tolerance: int = DEFAULT_TOLERANCE) -> np.ndarray:
    """Difficulty label ('trivial' | 'in-between' | 'impossible') of each image, as an object array."""
    n_correct = np.asarray(n_correct)
    n_models = np.broadcast_to(np.asarray(n_models), n_correct.shape)
    if n_correct.size:
        check_tolerance(tolerance, n_models)
    out = np.full(n_correct.shape, IN_BETWEEN, dtype=object)
    out[n_correct >= n_models - tolerance] = TRIVIAL
    out[n_correct <= tolerance] = IMPOSSIBLE
    return out
