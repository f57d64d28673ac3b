"""True-positive agreement (Pliushch et al.) and its lower bound."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.models.agreement import agreement_table, tpa_from_counts, tpa_lower_bound, train_agreement, true_positive_agreement


def test_hand_computed_tpa_and_bound():
    c = np.array(
        [
            [1, 1, 1, 0, 0, 1, 0, 1],
            [1, 1, 0, 0, 1, 1, 0, 1],
            [1, 1, 1, 0, 0, 1, 0, 0],
        ],
        bool,
    )
    # all right: images 0, 1, 5 -> 3; any right: 0, 1, 2, 4, 5, 7 -> 6
    assert true_positive_agreement(c) == 0.5
    assert tpa_from_counts(c.sum(axis=0)[None, :], 3).tolist() == [0.5]
    # error rates 3/8, 3/8, 4/8 sum to 10/8 -> bound 0
    assert float(tpa_lower_bound(c.mean(axis=1))) == 0.0
    assert float(tpa_lower_bound(np.array([0.9, 0.95, 0.97]))) == pytest.approx(0.82)
    assert np.isnan(true_positive_agreement(np.zeros((2, 4), bool)))


def test_bound_holds_on_random_groups():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m, n = int(rng.integers(2, 6)), int(rng.integers(5, 60))
        c = rng.random((m, n)) < rng.uniform(0.6, 1.0, (m, 1))
        tpa = true_positive_agreement(c)
        if np.isfinite(tpa):
            assert tpa >= float(tpa_lower_bound(c.mean(axis=1))) - 1e-12
            # and the bound on the share of all-right images itself
            assert c.all(axis=0).mean() >= float(tpa_lower_bound(c.mean(axis=1))) - 1e-12


def test_agreement_table_per_epoch():
    # two models, three epochs, four images
    c = np.array(
        [
            [[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1]],
            [[0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]],
        ],
        bool,
    )
    t = agreement_table(np.array([0, 1, 2]), c.sum(axis=0), c.mean(axis=2), 2)
    assert np.isnan(t["tpa"][0])
    assert t["tpa"][1] == pytest.approx(1 / 3)
    assert t["tpa"][2] == pytest.approx(3 / 4)
    assert t["tpa_lower_bound"].tolist() == pytest.approx([0.0, 0.0, 0.75])
    assert t["mean_accuracy"].tolist() == pytest.approx([0.0, 0.5, 0.875])
    assert t["sd_accuracy"][2] == pytest.approx(np.std([1.0, 0.75], ddof=1))


def test_train_agreement_uses_common_samples(make_study):
    c = np.ones((2, 4), bool)
    train = {
        # epoch 0: model a saw samples 0-3, b saw 2-5 -> common 2, 3
        "base-a": [(np.array([0, 1, 2, 3]), np.array([1, 1, 1, 0], bool)), (np.array([0, 1]), np.array([1, 1], bool))],
        "base-b": [(np.array([2, 3, 4, 5]), np.array([1, 1, 0, 0], bool)), (np.array([1, 0]), np.array([0, 1], bool))],
    }
    study = make_study({"base-a": c, "base-b": c}, train=train)
    t = train_agreement(study, ["base-a", "base-b"])
    assert t["epoch"].tolist() == [0, 1]
    assert t["n_images"].tolist() == [2, 2]
    # epoch 0 on samples 2, 3: a = [1, 0], b = [1, 1] -> all 1, any 2
    assert t["tpa"].tolist() == [0.5, 0.5]
    assert t["mean_accuracy"].tolist() == [0.75, 0.75]
    assert train_agreement(make_study({"base-a": c}, name="plain"), ["base-a"]) is None


def test_train_agreement_leaves_out_disjoint_halves(make_study):
    """Disjoint halves share no training image with each other: the agreement is then taken over the
    models that trained on every image (here the two full-data models), and says which."""
    c = np.ones((2, 4), bool)
    full = np.array([0, 1, 2, 3])
    train = {
        "base-a": [(np.array([], int), np.array([], bool)), (full, np.array([1, 1, 0, 0], bool))],
        "base-b": [(np.array([], int), np.array([], bool)), (full, np.array([1, 0, 1, 0], bool))],
        "half-0": [(np.array([], int), np.array([], bool)), (np.array([0, 1]), np.array([1, 1], bool))],
        "half-1": [(np.array([], int), np.array([], bool)), (np.array([2, 3]), np.array([1, 1], bool))],
    }
    study = make_study({m: c for m in train}, train=train)
    t = train_agreement(study, list(train))
    assert t["models"].tolist() == ["base-a base-b"]
    assert t["n_images"].tolist() == [4]
    assert t["tpa"].tolist() == [1 / 3]  # all right: image 0; any right: images 0, 1, 2
