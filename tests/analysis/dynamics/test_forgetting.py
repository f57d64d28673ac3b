"""Forgetting events against allenai/cartography's `compute_forgetfulness` logic (recomputed here
independently, one image at a time), and first epoch / iteration learned on hand-made trends."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.dynamics import forgetting as fg


def cartography_forgetfulness(trend: list[bool]) -> int:
    """allenai/cartography's rule (selection/train_dy_filtering.py), restated: walk the epochs with a
    'learnt' flag that starts False; a wrong prediction while learnt is one forgetting; an image
    never predicted correctly scores 1000."""
    if not any(trend):
        return 1000
    learnt, forgotten = False, 0
    for ok in trend:
        if learnt and not ok:
            learnt, forgotten = False, forgotten + 1
        elif not learnt and ok:
            learnt = True
    return forgotten


def brute_iteration_learned(trend: list[bool], epochs: list[int]) -> float:
    for k in range(len(trend)):
        if all(trend[k:]):
            return float(epochs[k])
    return float("nan")


TRENDS = {  # trend: (forgetting events, first epoch learned, iteration learned) with epochs 1..n
    (0, 1, 1, 0, 1, 0): (2, 2.0, np.nan),
    (0, 0, 1, 1): (0, 3.0, 3.0),
    (1, 1, 1): (0, 1.0, 1.0),
    (0, 0, 0): (0, np.nan, np.nan),
    (1, 0, 1): (1, 1.0, 3.0),
    (1, 0, 0, 1, 1): (1, 1.0, 4.0),
}


@pytest.mark.parametrize("trend", list(TRENDS))
def test_hand_made_trends(trend: tuple[int, ...]) -> None:
    c = np.array(trend, dtype=bool)[:, None]
    epochs = np.arange(1, len(trend) + 1)
    events, first, it = TRENDS[trend]
    assert fg.forgetting_events(c)[0] == events
    np.testing.assert_equal(fg.first_epoch_learned(c, epochs)[0], first)
    np.testing.assert_equal(fg.iteration_learned(c, epochs)[0], it)
    assert fg.forgetfulness(c)[0] == (1000 if not any(trend) else events)


def test_equals_cartography_on_random_trends() -> None:
    rng = np.random.default_rng(7)
    for n_epochs in (1, 2, 5, 30):
        c = rng.random((n_epochs, 400)) < rng.uniform(0.05, 0.95, 400)
        expected = [cartography_forgetfulness(list(c[:, j])) for j in range(c.shape[1])]
        np.testing.assert_array_equal(fg.forgetfulness(c), expected)
        epochs = list(range(3, 3 + n_epochs))
        np.testing.assert_array_equal(fg.iteration_learned(c, epochs),
                                      [brute_iteration_learned(list(c[:, j]), epochs) for j in range(c.shape[1])])


def test_equals_cartography_on_a_store(structured_study) -> None:  # type: ignore[no-untyped-def]
    """Every model of a written store, read back through model_runs.store, epoch 0 left out as the report does."""
    from analysis.dynamics.load import load_dynamics

    ids = structured_study.model_ids(status="complete")
    dyn = load_dynamics(structured_study, ids)
    for row, m in enumerate(ids):
        d = structured_study.epoch_decisions(m, with_prediction=False)
        c = d.correct[d.epochs >= 1]
        cart = np.array([cartography_forgetfulness(list(c[:, j])) for j in range(c.shape[1])])
        assert (cart == 1000).any() and (cart > 0).any() and (cart < 1000).any()  # the fixture has every kind
        np.testing.assert_array_equal(np.where(dyn.never_learned[row], 1000, dyn.forgetting_events[row]), cart)
        np.testing.assert_array_equal(dyn.share_epochs_correct[row], c.mean(axis=0))


def test_censored_and_table() -> None:
    c = np.array([[0, 1, 0], [1, 1, 0]], dtype=bool)
    t = fg.learning_table(c, np.array([1, 2]))
    assert t["forgetting_events"].tolist() == [0, 0, 0]
    assert t["never_learned"].tolist() == [False, False, True]
    np.testing.assert_array_equal(t["iteration_learned"], [2.0, 1.0, np.nan])
    np.testing.assert_array_equal(fg.censored(t["iteration_learned"], 3.0), [2.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="n_epochs, n_images"):
        fg.forgetting_events(np.zeros(3, bool))
