"""Cartography equals a direct computation from the probabilities (as read back through the
loader, float16), and the loader reports models without probabilities."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from analysis.dynamics.cartography import cartography, region
from analysis.dynamics.load import load_dynamics
from fake_study import FakeStudy, true_class_probabilities
from labutil.errors import UserError


def test_cartography_direct() -> None:
    rng = np.random.default_rng(3)
    p = rng.random((6, 50))
    c = p > 0.5
    t = cartography(p, c)
    for j in range(50):
        col = [float(x) for x in p[:, j]]
        assert t["confidence"][j] == pytest.approx(statistics.fmean(col), abs=1e-12)
        assert t["variability"][j] == pytest.approx(statistics.pstdev(col), abs=1e-12)  # cartography's np.std: ddof 0
        assert t["correctness"][j] == pytest.approx(sum(x > 0.5 for x in col) / 6)
    with pytest.raises(ValueError):
        cartography(p, c[:, :3])


def test_loader_reads_probabilities_per_model(structured_study) -> None:  # type: ignore[no-untyped-def]
    probs = true_class_probabilities(structured_study, 1)
    fake = FakeStudy(structured_study, probs)
    ids = structured_study.model_ids(status="complete")
    dyn = load_dynamics(fake, ids)
    assert sorted(fake.calls) == sorted((m, "val") for m in ids)
    for row, m in enumerate(ids):
        e = structured_study.epoch_decisions(m, with_prediction=False)
        p = probs[m].astype(np.float16).astype(np.float64)[e.epochs >= 1]  # what the store holds, epoch 0 left out
        np.testing.assert_allclose(dyn.confidence[row], p.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(dyn.variability[row], p.std(axis=0), rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(dyn.correctness[row], e.correct[e.epochs >= 1].mean(axis=0))
    assert dyn.missing_probabilities == []


def test_loader_without_probabilities(structured_study) -> None:  # type: ignore[no-untyped-def]
    ids = structured_study.model_ids(status="complete")
    probs = true_class_probabilities(structured_study, 1)
    del probs[ids[2]]
    dyn = load_dynamics(FakeStudy(structured_study, probs), ids)
    assert dyn.confidence is None and dyn.missing_probabilities == [ids[2]]
    plain = load_dynamics(structured_study, ids)  # a store without the reader at all
    assert plain.confidence is None and plain.missing_probabilities == ids


def test_loader_refuses_mismatched_probabilities(structured_study) -> None:  # type: ignore[no-untyped-def]
    ids = structured_study.model_ids(status="complete")
    probs = {m: p[:, :-1] for m, p in true_class_probabilities(structured_study, 1).items()}
    with pytest.raises(UserError, match="do not match"):
        load_dynamics(FakeStudy(structured_study, probs), ids)


def test_region() -> None:
    r = region(np.array([0.9, 0.1, 0.5, 0.95]), np.array([0.01, 0.02, 0.4, 0.03]))
    assert r.tolist() == ["easy to learn", "hard to learn", "ambiguous", "easy to learn"]
