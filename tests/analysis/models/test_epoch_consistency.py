"""Kappa with base per epoch, between consecutive epochs and the epoch shift, against sklearn's
cohen_kappa_score computed pair by pair on a small store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.models.epoch_consistency import (
    SAME,
    SHIFTED,
    aligned_base_epochs,
    condition_shifts,
    consecutive_kappa,
    cross_epoch_kappa,
    epoch_consistency,
    shift_figure,
)


def test_cross_epoch_and_consecutive_kappa_equal_sklearn():
    rng = np.random.default_rng(0)
    a = rng.random((4, 80)) < 0.6
    b = rng.random((3, 80)) < 0.4
    k = cross_epoch_kappa(a, b)
    assert k.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert k[i, j] == pytest.approx(cohen_kappa_score(a[i], b[j]), abs=1e-12)
    c = consecutive_kappa(a)
    assert c == pytest.approx([cohen_kappa_score(a[i], a[i + 1]) for i in range(3)], abs=1e-12)
    assert consecutive_kappa(a[:1]).size == 0


def test_shifts_and_alignment_by_hand():
    assert condition_shifts([10, 10, 11, 20, 8], ["base", "x", "plus1", "plus10", "short"], "base") == \
        {"base": 0, "x": 0, "plus1": 1, "plus10": 10, "short": 0}
    base = np.arange(0, 11)
    # shifted by 2: epoch 0 and 1 have no base epoch; 2 -> 0; 12 -> 10; 13 -> capped at 10
    assert aligned_base_epochs(np.array([0, 1, 2, 12, 13]), base, 2).tolist() == [-1, -1, 0, 10, 10]
    assert aligned_base_epochs(np.array([0, 5, 14]), base, 0).tolist() == [0, 5, 10]
    # a base epoch that was not stored has no match
    assert aligned_base_epochs(np.array([3, 4]), np.array([0, 2, 4]), 0).tolist() == [-1, 2]


@pytest.fixture
def study(make_study):
    """Two base models (epochs 0-4), a 'plus2' model that is base-a two epochs late, and a 'seed' model."""
    rng = np.random.default_rng(1)
    n = 150
    d = rng.normal(0, 2, n)
    skill = np.linspace(-2, 1.5, 5)

    def run(noise: float, epochs: int = 5, sk=skill):
        return sk[:epochs, None] + rng.normal(0, noise, (epochs, n)) > d[None, :]

    base_a, base_b = run(0.7), run(0.7)
    plus2 = np.vstack([run(0.7)[:2], base_a, ])  # epochs 0-6: epoch e equals base-a's epoch e - 2 from e = 2 on
    seed = run(1.0)
    correct = {"base-a": base_a, "base-b": base_b, "plus2-x": plus2, "seed-x": seed}
    return make_study(correct), correct


def test_with_base_rows_match_a_pairwise_computation(study):
    s, correct = study
    ids = ["base-a", "base-b", "plus2-x", "seed-x"]
    conds = ["base", "base", "plus2", "seed"]
    ec = epoch_consistency(s, ids, conds, "base")
    assert ec.shifts == {"base": 0, "plus2": 2, "seed": 0}
    wb = ec.with_base.set_index(["model_id", "alignment", "epoch"])
    for m, c in correct.items():
        partners = [b for b in ("base-a", "base-b") if b != m]
        for e in range(c.shape[0]):
            target = min(e, 4)
            expected = np.mean([cohen_kappa_score(c[e], correct[b][target]) for b in partners])
            row = wb.loc[(m, SAME, e)]
            assert row["kappa"] == pytest.approx(expected, abs=1e-12) and row["base_epoch"] == target
            assert row["n_base_models"] == len(partners)
    # plus2 shifted by 2: epoch e against base epoch e - 2; against base-a that is a copy (kappa 1)
    for e in range(2, 7):
        expected = np.mean([cohen_kappa_score(correct["plus2-x"][e], correct[b][e - 2]) for b in ("base-a", "base-b")])
        assert wb.loc[("plus2-x", SHIFTED, e), "kappa"] == pytest.approx(expected, abs=1e-12)
    assert ("plus2-x", SHIFTED, 1) not in wb.index and ("seed-x", SHIFTED, 2) not in wb.index


def test_consecutive_and_final_vs_base_and_shift(study):
    s, correct = study
    ids = ["base-a", "base-b", "plus2-x", "seed-x"]
    conds = ["base", "base", "plus2", "seed"]
    ec = epoch_consistency(s, ids, conds, "base")
    cons = ec.consecutive[ec.consecutive.model_id == "seed-x"]
    assert cons["kappa"].to_numpy() == pytest.approx(
        [cohen_kappa_score(correct["seed-x"][e], correct["seed-x"][e + 1]) for e in range(4)], abs=1e-12)
    assert len(ec.consecutive) == 4 + 4 + 6 + 4
    curve = [np.mean([cohen_kappa_score(correct["seed-x"][-1], correct[b][e]) for b in ("base-a", "base-b")])
             for e in range(5)]
    fv = ec.final_vs_base[ec.final_vs_base.model_id == "seed-x"]
    assert fv["kappa"].to_numpy() == pytest.approx(curve, abs=1e-12)
    shift = ec.shift.set_index("model_id")
    assert set(shift.index) == {"plus2-x", "seed-x"}  # base models have no shift row
    assert shift.loc["seed-x", "best_base_epoch"] == int(np.argmax(curve))
    assert shift.loc["seed-x", "epochs_ahead"] == 4 - int(np.argmax(curve))
    # plus2's final epoch (6) is base-a's epoch 4: its best base epoch is base's last, 2 epochs ahead
    assert shift.loc["plus2-x", "best_base_epoch"] == 4 and shift.loc["plus2-x", "epochs_ahead"] == 2
    assert shift.loc["plus2-x", "nominal_shift"] == 2
    per_cond = ec.condition_shift().set_index("condition")
    assert per_cond.loc["plus2", "nominal_shift"] == 2 and per_cond.loc["seed", "n_models"] == 1
    assert shift_figure(ec, ["base", "plus2", "seed"], "t") is not None


def test_kept_images_only(study):
    s, correct = study
    keep = np.zeros(150, dtype=bool)
    keep[::2] = True
    ec = epoch_consistency(s, ["base-a", "base-b", "seed-x"], ["base", "base", "seed"], "base", keep=keep)
    row = ec.with_base[(ec.with_base.model_id == "seed-x") & (ec.with_base.epoch == 3)].iloc[0]
    expected = np.mean([cohen_kappa_score(correct["seed-x"][3][keep], correct[b][3][keep]) for b in ("base-a", "base-b")])
    assert row["kappa"] == pytest.approx(expected, abs=1e-12)


def test_single_base_model_has_no_base_rows(study):
    s, _ = study
    ec = epoch_consistency(s, ["base-a", "seed-x"], ["base", "seed"], "base")
    assert set(ec.with_base["model_id"]) == {"seed-x"} and set(ec.consecutive["model_id"]) == {"base-a", "seed-x"}
    assert isinstance(ec.with_base, pd.DataFrame)
