"""Condition x condition error consistency against a brute-force loop over model pairs with
scikit-learn's cohen_kappa_score."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.models.condition_matrix import (
    condition_matrices,
    condition_matrix,
    matrices_figure,
)


def brute_force(correct: np.ndarray, conditions: list[str], a: str, b: str) -> tuple[float, int]:
    """Mean sklearn kappa over pairs (i in a, j in b, i != j), and the number of pairs."""
    values = [cohen_kappa_score(correct[i], correct[j]) for i, j in itertools.product(range(len(conditions)), repeat=2)
              if conditions[i] == a and conditions[j] == b and i != j]
    return (float(np.mean(values)) if values else float("nan")), len(values)


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    skill = rng.normal(0, 1.5, 200)
    conditions = ["base", "base", "seed", "seed", "seed", "arch", "half"]
    shift = np.array([0, 0, 0.3, 0.3, 0.3, -0.5, 1.0])
    correct = skill[None, :] + shift[:, None] + rng.normal(0, 0.8, (7, 200)) > 0
    return correct, conditions


def test_every_cell_is_the_mean_over_pairs_of_other_models(data):
    correct, conditions = data
    order = ["base", "seed", "arch", "half"]
    mat = condition_matrix(correct, conditions, order)
    for i, a in enumerate(order):
        for j, b in enumerate(order):
            expected, n = brute_force(correct, conditions, a, b)
            assert mat.n_pairs[i, j] == n
            if n:
                assert mat.kappa[i, j] == pytest.approx(expected, abs=1e-12)
            else:
                assert np.isnan(mat.kappa[i, j])
    # one-model conditions have no pair on the diagonal; the matrix is symmetric
    assert np.isnan(mat.kappa[2, 2]) and np.isnan(mat.kappa[3, 3]) and mat.n_pairs[0, 0] == 2 and mat.n_pairs[1, 1] == 6
    assert np.allclose(mat.kappa, mat.kappa.T, equal_nan=True)


def test_sd_and_long_table(data):
    correct, conditions = data
    mat = condition_matrix(correct, conditions)
    seed = [i for i, c in enumerate(conditions) if c == "seed"]
    values = [cohen_kappa_score(correct[i], correct[j]) for i in seed for j in seed if i != j]
    k = mat.conditions.index("seed")
    assert mat.sd[k, k] == pytest.approx(np.std(values, ddof=1))
    frame = mat.frame()
    assert len(frame) == len(mat.conditions) ** 2
    row = frame[(frame.condition_a == "seed") & (frame.condition_b == "base")].iloc[0]
    assert row.kappa_mean == pytest.approx(brute_force(correct, conditions, "seed", "base")[0]) and row.n_pairs == 6
    square = mat.square()
    assert list(square.columns) == ["condition", *mat.conditions]


def test_in_between_matrix_uses_only_the_in_between_images(data):
    correct, conditions = data
    n_right = correct.sum(axis=0)
    levels = np.where(n_right >= 6, "trivial", np.where(n_right <= 1, "impossible", "in-between"))  # 7 models, k = 1
    mats = condition_matrices(correct, conditions, levels)
    assert [m.subset for m in mats] == ["all images", "in-between images"]
    keep = levels == "in-between"
    assert mats[1].n_images == keep.sum()
    expected, _ = brute_force(correct[:, keep], conditions, "base", "seed")
    assert mats[1].kappa[0, 1] == pytest.approx(expected)
    assert len(condition_matrices(correct, conditions, np.array(["trivial"] * 199 + ["in-between"]))) == 1


def test_hand_computed_cell_and_undefined_pairs():
    # model 0 and 1: 4 images, both right on 1, a right on 2, b right on 2 -> kappa 0; model 2 always right -> undefined with 3
    correct = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]], dtype=bool)
    mat = condition_matrix(correct, ["a", "a", "b", "b"])
    assert mat.kappa[0, 0] == pytest.approx(0.0)
    assert mat.n_undefined[1, 1] == 2 and mat.n_pairs[1, 1] == 0 and np.isnan(mat.kappa[1, 1])
    assert mat.kappa[0, 1] == pytest.approx(0.0) and mat.n_pairs[0, 1] == 4  # one model always right: kappa 0


def test_figure_draws_both_panels(data):
    correct, conditions = data
    n_right = correct.sum(axis=0)
    levels = np.where(n_right >= 6, "trivial", np.where(n_right <= 1, "impossible", "in-between"))
    fig = matrices_figure(condition_matrices(correct, conditions, levels), "t")
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2
