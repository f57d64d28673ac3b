"""True-positive agreement: the properties the mutation run of `analysis.models.agreement` found
unpinned (docs/mutation/analysis.models.agreement.md). Expected values counted by hand from the
definition TPA = #all right / #any right and the bound 1 - min(sum of error rates, 1)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.models.agreement import (
    agreement_table,
    tpa_from_counts,
    tpa_lower_bound,
    train_agreement,
    true_positive_agreement,
)


class Decisions:
    """A study stand-in that only has training decisions: model id -> (epoch, sample, correct) rows."""

    def __init__(self, rows: dict[str, list[tuple[int, int, int]] | None]):
        self.rows = rows

    def train_decisions_table(self, model_id: str) -> pd.DataFrame | None:
        rows = self.rows[model_id]
        if rows is None:
            return None
        return pd.DataFrame(rows, columns=["epoch", "sample_index", "correct"]).astype({"correct": bool})


def test_tpa_per_epoch_with_one_image_right():
    """Epoch rows of counts over 3 models: one image some model gets right -> TPA 1 or 0; no image
    -> NaN (without a 0/0 warning). Images lie on the last axis (one epoch: a vector)."""
    counts = np.array([[0, 3, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [3, 3, 2, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = tpa_from_counts(counts, 3)
        assert math.isnan(true_positive_agreement(np.zeros((2, 3), bool)))
    assert t[:2].tolist() == [1.0, 0.0] and math.isnan(t[2]) and t[3] == pytest.approx(2 / 3)
    assert float(tpa_from_counts(np.array([3, 1, 0, 3]), 3)) == pytest.approx(2 / 3)  # one epoch, 1-D


def test_lower_bound_per_epoch_from_error_rates():
    """(n_models, n_epochs) accuracies: the bound per epoch, clipped at 0 once errors sum past 1."""
    acc = np.array([[0.9, 0.5, 1.0], [0.8, 0.4, 1.0]])
    assert tpa_lower_bound(acc).tolist() == pytest.approx([0.7, 0.0, 1.0])
    assert float(tpa_lower_bound(np.array([0.6, 0.6]))) == pytest.approx(0.2)


def test_agreement_table_counts_and_a_single_model():
    """Counts per epoch are reported as they are; one model: SD 0 (not NaN), TPA 1 where it is right."""
    counts = np.array([[2, 1, 0, 2, 2], [1, 1, 0, 0, 2]])
    acc = np.array([[0.6, 0.4], [0.8, 0.4]])  # (2 models, 2 epochs)
    t = agreement_table(np.array([3, 7]), counts, acc, 2)
    assert list(t.columns) == ["epoch", "tpa", "tpa_lower_bound", "mean_accuracy", "sd_accuracy",
                               "n_all_right", "n_any_right", "n_images"]
    assert t["epoch"].tolist() == [3, 7]
    assert t["n_all_right"].tolist() == [3, 1] and t["n_any_right"].tolist() == [4, 3]
    assert t["n_images"].tolist() == [5, 5]
    assert t["tpa"].tolist() == pytest.approx([3 / 4, 1 / 3])
    assert t["sd_accuracy"].tolist() == pytest.approx([math.sqrt(0.02), 0.0])
    one = agreement_table(np.array([0, 1]), np.array([[1, 0, 1], [0, 0, 1]]), np.array([[2 / 3, 1 / 3]]), 1)
    assert one["sd_accuracy"].tolist() == [0.0, 0.0] and one["tpa"].tolist() == [1.0, 1.0]
    assert one["mean_accuracy"].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_train_agreement_over_the_samples_every_model_saw():
    """Epoch 0: a saw 0-4 and b saw 1-5 -> samples 1-4; a sample seen twice counts with its last
    decision (a's sample 2: wrong, then right). Epoch 1 only a trained: left out.
    On samples 1-4 a = 1 1 0 1, b = 0 1 1 0: all right 1 (sample 2), any right 4 (no model is
    right on all four, both are right on some)."""
    rows = {
        "a": [(0, 0, 1), (0, 1, 1), (0, 2, 0), (0, 3, 0), (0, 4, 1), (0, 2, 1), (1, 0, 1)],
        "b": [(0, 1, 0), (0, 2, 1), (0, 3, 1), (0, 4, 0), (0, 5, 1)],
    }
    t = train_agreement(Decisions(rows), ["a", "b"])
    assert t["epoch"].tolist() == [0] and t["n_images"].tolist() == [4]
    assert t["n_all_right"].tolist() == [1] and t["n_any_right"].tolist() == [4]
    assert t["tpa"].tolist() == [0.25]
    assert t["tpa_lower_bound"].tolist() == pytest.approx([0.25])  # errors 1/4 + 2/4
    assert t["mean_accuracy"].tolist() == [0.625]
    assert t["sd_accuracy"].tolist() == pytest.approx([np.std([0.75, 0.5], ddof=1)])
    assert t["models"].tolist() == ["a b"]


def test_train_agreement_needs_every_model_to_have_stored_them():
    rows = {"a": [(0, 0, 1)], "b": None, "c": []}
    assert train_agreement(Decisions(rows), ["a", "b"]) is None
    assert train_agreement(Decisions(rows), ["a", "c"]) is None  # stored, but empty


def test_train_agreement_of_one_model_has_sd_zero():
    t = train_agreement(Decisions({"a": [(0, 0, 1), (0, 1, 0)]}), ["a"])
    assert t["sd_accuracy"].tolist() == [0.0] and t["tpa"].tolist() == [1.0] and t["models"].tolist() == ["a"]


def test_train_agreement_of_disjoint_models_of_equal_size_is_none():
    """Two halves that share no sample, and no model that saw more: nothing to compare."""
    rows = {"h0": [(0, 0, 1), (0, 1, 1)], "h1": [(0, 2, 1), (0, 3, 0)]}
    assert train_agreement(Decisions(rows), ["h0", "h1"]) is None


def test_train_agreement_skips_an_epoch_without_common_samples():
    """Epoch 0 disjoint, epoch 1 shared: only epoch 1 is reported (over every model)."""
    rows = {"a": [(0, 0, 1), (1, 5, 1), (1, 6, 0)], "b": [(0, 1, 1), (1, 5, 1), (1, 6, 1)]}
    t = train_agreement(Decisions(rows), ["a", "b"])
    assert t["epoch"].tolist() == [1] and t["tpa"].tolist() == [0.5] and t["models"].tolist() == ["a b"]


def test_float32_accuracies_give_the_bound_and_summary_of_the_same_numbers():
    """Accuracies handed over as float32: bound, mean and SD of those very numbers (float64
    arithmetic), not rounded to float32 on the way."""
    acc32 = np.array([[0.3456789], [0.9123457], [0.8765432]], np.float32)
    acc = acc32.astype(np.float64)
    errors = 1 - acc[:, 0]
    assert float(tpa_lower_bound(acc32)[0]) == pytest.approx(1 - errors.sum(), abs=1e-15)
    t = agreement_table(np.array([0]), np.array([[3, 2, 0, 1]]), acc32, 3)
    assert t["tpa_lower_bound"][0] == pytest.approx(1 - errors.sum(), abs=1e-15)
    assert t["mean_accuracy"][0] == pytest.approx(acc[:, 0].mean(), abs=1e-15)
    assert t["sd_accuracy"][0] == pytest.approx(acc[:, 0].std(ddof=1), abs=1e-15)
