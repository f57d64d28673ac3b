"""2AFC numbers from their definitions on hand-made trial tables: RT medians by correctness, the
kappa range of each observer pair by brute force, and the tails of the percentile intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.humans import bootstrap as boot
from analysis.humans.two_afc import analyse_two_afc, consistency_tables, observer_table


def trials_table(correct: dict[str, list[int]], rts: dict[str, list[float]]) -> pd.DataFrame:
    """Test trials of one session per observer, pair i on trial i, the impossible image left on odd pairs."""
    rows = []
    for pid, cs in correct.items():
        for i, (c, rt) in enumerate(zip(cs, rts[pid])):
            imp = "left" if i % 2 else "right"
            resp = imp if c else ("right" if imp == "left" else "left")
            rows.append({"participant_id": pid, "session": 1, "trial": i + 1, "phase": "test", "pair_id": i + 1,
                         "left_stim": f"p{i}a", "right_stim": f"p{i}b", "impossible_side": imp,
                         "response_side": resp, "chosen_stim": f"p{i}a" if resp == "left" else f"p{i}b",
                         "correct": bool(c), "rt": rt, "onset": float(i)})
    return pd.DataFrame(rows)


CORRECT = {"sub-001": [1, 1, 0, 1, 0, 1, 1, 1], "sub-002": [1, 0, 0, 1, 1, 1, 1, 1], "sub-003": [0, 1, 1, 1, 1, 0, 1, 1]}
RTS = {"sub-001": [0.5, 0.6, 2.0, 0.7, 3.0, 0.4, 0.8, 0.9],
       "sub-002": [0.3, 1.5, 1.1, 0.6, 0.7, 0.5, 0.4, 0.2],
       "sub-003": [2.5, 0.9, 1.0, 1.1, 1.2, 4.0, 0.8, 0.6]}


def test_rt_medians_of_correct_and_incorrect_trials():
    obs = observer_table(trials_table(CORRECT, RTS)).set_index("participant_id")
    # sub-001: wrong on trials 3 and 5 (2.0, 3.0 s); right on the other six
    assert obs.loc["sub-001", "rt_median_incorrect"] == pytest.approx(2.5)
    assert obs.loc["sub-001", "rt_median_correct"] == pytest.approx(np.median([0.5, 0.6, 0.7, 0.4, 0.8, 0.9]))
    assert obs.loc["sub-002", "rt_median_incorrect"] == pytest.approx(np.median([1.5, 1.1]))
    assert obs.loc["sub-003", "rt_median_incorrect"] == pytest.approx(np.median([2.5, 4.0]))
    assert obs.loc["sub-001", "left_choices"] == pytest.approx(6 / 8)  # right side chosen on pairs 1 and 7 only
    res = analyse_two_afc(trials_table(CORRECT, RTS), n_boot=20, models=False)
    assert res.rt["median_incorrect"] == pytest.approx(np.mean([2.5, 1.3, 3.25]))
    assert res.rt["median_correct"] == pytest.approx(np.mean([0.65, 0.45, 0.95]))


def kappa_range_by_brute_force(r1: int, r2: int, n: int) -> tuple[float, float]:
    """Lowest and highest kappa over every table with r1 and r2 right of n (sklearn's kappa)."""
    ks = []
    for n11 in range(max(0, r1 + r2 - n), min(r1, r2) + 1):
        a = np.array([1] * r1 + [0] * (n - r1))
        b = np.zeros(n, int)
        b[:n11] = 1  # both right
        b[r1:r1 + r2 - n11] = 1  # b right where a is wrong
        ks.append(cohen_kappa_score(a, b))
    return min(ks), max(ks)


def test_each_pair_gets_the_kappa_range_of_its_own_two_accuracies():
    correct = np.array([CORRECT[p] for p in sorted(CORRECT)], bool)
    _, pairs, _ = consistency_tables(correct, sorted(CORRECT), seed=0, n_boot=20)
    right = dict(zip(sorted(CORRECT), correct.sum(axis=1)))
    assert len(pairs) == 3
    for row in pairs.itertuples():
        lo, hi = kappa_range_by_brute_force(right[row.observer_a], right[row.observer_b], correct.shape[1])
        assert (row.kappa_min, row.kappa_max) == pytest.approx((lo, hi), abs=1e-12), (row.observer_a, row.observer_b)
        assert row.kappa_min <= row.kappa <= row.kappa_max


def test_unequal_accuracies_cap_kappa_below_one():
    """7 of 8 against 4 of 8 right: at most 2 * (8 * 4 - 28) / (8 * 11 - 56) = 1/4."""
    correct = np.array([[1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0, 0, 0]], bool)
    _, pairs, _ = consistency_tables(correct, ["sub-001", "sub-002"], seed=0, n_boot=20)
    assert pairs["kappa_max"].iloc[0] == pytest.approx(0.25)
    assert pairs["kappa"].iloc[0] == pytest.approx(0.25)  # nested errors attain it


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_percentile_interval_cuts_half_the_rest_from_each_tail(confidence):
    """The interval of a statistic over the seeded draws is their (1 - c) / 2 and (1 + c) / 2
    quantiles: computed here from the same draws, and checked as tail shares."""
    rng = np.random.default_rng(4)
    per = rng.random((6, 30))

    def stat(r, w):
        return float(r @ per @ w / (r.sum() * w.sum()))

    values = np.array([stat(r, w) for r, w in boot.draws(6, 30, seed=9, n_boot=2000)])
    lo, hi = boot.interval(stat, 6, 30, seed=9, n_boot=2000, confidence=confidence)
    tail = (1 - confidence) / 2
    assert (lo, hi) == pytest.approx((np.quantile(values, tail), np.quantile(values, 1 - tail)), abs=1e-12)
    assert np.mean(values < lo) == pytest.approx(tail, abs=0.005)
    assert np.mean(values > hi) == pytest.approx(tail, abs=0.005)


def test_error_consistency_uses_only_the_pairs_every_observer_saw():
    """sub-003 never saw pair 8: kappas come from pairs 1..7 (sklearn), and a note says so."""
    t = trials_table(CORRECT, RTS)
    t = t[~((t["participant_id"] == "sub-003") & (t["pair_id"] == 8))]
    res = analyse_two_afc(t, n_boot=20, models=False)
    assert res.n_common_pairs == 7
    assert any("7 of 8 pairs" in n for n in res.notes)
    for row in res.consistency_pairs.itertuples():
        a, b = CORRECT[row.observer_a][:7], CORRECT[row.observer_b][:7]
        assert row.kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_bootstrap_draws_every_observer_and_item_equally_often():
    """Multiplicities sum to the sample size and average 1 for every observer and every item."""
    r_all, w_all = zip(*boot.draws(5, 12, seed=3, n_boot=3000))
    r, w = np.array(r_all), np.array(w_all)
    assert (r.sum(axis=1) == 5).all() and (w.sum(axis=1) == 12).all()
    np.testing.assert_allclose(r.mean(axis=0), 1.0, atol=0.08)
    np.testing.assert_allclose(w.mean(axis=0), 1.0, atol=0.08)
    r_only = np.array([w for _, w in boot.draws(5, 12, seed=3, n_boot=5, resample="observers")])
    assert (r_only == 1).all()  # items kept as they are when only observers are resampled
