"""2AFC analysis on sessions with known answers, against direct scipy/statsmodels/sklearn computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, pearsonr
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from analysis.humans.sessions import load_sessions
from analysis.humans.two_afc import analyse_two_afc, two_afc_figures
from human_data import write_2afc_session, write_2afc_set
from labutil.errors import UserError

N = 12
CORRECT = {
    "sub-001": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1],
    "sub-002": [1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1],
    "sub-003": [1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0],
}


@pytest.fixture
def two_afc(tmp_path):
    sets, root = tmp_path / "sets", tmp_path / "data"
    acc_t = [5, 5, 4, 5, 3, 5, 5, 4, 5, 4, 5, 5]
    acc_i = [0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 1]
    sset = write_2afc_set(sets, "pairs", N, acc_trivial=acc_t, acc_impossible=acc_i)
    rng = np.random.default_rng(0)
    for pid, c in CORRECT.items():
        order = rng.permutation(N)  # each observer saw the pairs in another order
        write_2afc_session(root, pid, sset, [bool(x) for x in c], rts=list(0.5 + rng.random(N)), order=order)
    # an aborted session and an incomplete one: listed, never analysed
    write_2afc_session(root, "sub-004", sset, [True] * 5, status="aborted")
    write_2afc_session(root, "sub-005", sset, [False] * 3, status="incomplete")
    return sset, root, acc_t, acc_i


def test_per_observer_numbers_match_scipy_and_statsmodels(two_afc):
    sset, root, *_ = two_afc
    loaded = load_sessions(root, "2afc")
    assert loaded.participants == ["sub-001", "sub-002", "sub-003"]
    assert loaded.practice_rows == 3 and set(loaded.trials["phase"]) == {"test"}
    res = analyse_two_afc(loaded.trials, sset.stimuli, seed=1, n_boot=300)
    obs = res.observers.set_index("participant_id")
    for pid, c in CORRECT.items():
        k = sum(c)
        assert obs.loc[pid, "n_trials"] == N and obs.loc[pid, "n_correct"] == k
        assert obs.loc[pid, "accuracy"] == pytest.approx(k / N)
        lo, hi = proportion_confint(k, N, alpha=0.05, method="beta")
        assert (obs.loc[pid, "ci_low"], obs.loc[pid, "ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
        assert obs.loc[pid, "p_binomial"] == pytest.approx(binomtest(k, N, 0.5, alternative="greater").pvalue, rel=1e-12)
        assert obs.loc[pid, "log10_p_binomial"] == pytest.approx(np.log10(binomtest(k, N, 0.5, alternative="greater").pvalue), rel=1e-9)
    p = [binomtest(sum(c), N, 0.5, alternative="greater").pvalue for c in CORRECT.values()]
    assert obs["p_binomial_holm"].to_numpy() == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)
    two = analyse_two_afc(loaded.trials, sset.stimuli, seed=1, n_boot=50, alternative="two-sided", models=False)
    assert two.observers["p_binomial"].to_numpy() == pytest.approx([binomtest(sum(c), N, 0.5).pvalue for c in CORRECT.values()], rel=1e-12)
    accs = [sum(c) / N for c in CORRECT.values()]
    assert res.accuracy["mean"] == pytest.approx(np.mean(accs))
    assert res.accuracy["sd"] == pytest.approx(np.std(accs, ddof=1))
    assert (res.accuracy["min"], res.accuracy["max"]) == pytest.approx((min(accs), max(accs)))


def test_error_consistency_between_observers_is_cohens_kappa_on_pairs(two_afc):
    sset, root, *_ = two_afc
    res = analyse_two_afc(load_sessions(root, "2afc").trials, sset.stimuli, seed=1, n_boot=300)
    ids = list(CORRECT)
    kappas = []
    for i in range(3):
        for j in range(i + 1, 3):
            k = cohen_kappa_score(CORRECT[ids[i]], CORRECT[ids[j]])
            kappas.append(k)
            assert res.consistency_matrix.loc[ids[i], ids[j]] == pytest.approx(k, abs=1e-12)
    assert res.consistency["mean"] == pytest.approx(np.mean(kappas), abs=1e-12)
    assert res.consistency["sd"] == pytest.approx(np.std(kappas, ddof=1), abs=1e-12)
    row = res.consistency_pairs.iloc[0]
    assert row["ci_low"] <= row["kappa"] <= row["ci_high"]
    assert row["kappa_min"] <= row["kappa"] <= row["kappa_max"]
    assert res.consistency["mean_ci_low"] <= res.consistency["mean"] <= res.consistency["mean_ci_high"]
    assert res.n_common_pairs == N


def test_pairs_share_correct_and_model_accuracies(two_afc):
    sset, root, acc_t, acc_i = two_afc
    res = analyse_two_afc(load_sessions(root, "2afc").trials, sset.stimuli, seed=1, n_boot=300)
    p = res.pairs.set_index("pair_id")
    share = np.mean([CORRECT[k] for k in CORRECT], axis=0)
    pair_ids = list(sset.test_trials()["pair_id"])
    assert p.loc[pair_ids, "share_correct"].to_numpy() == pytest.approx(share)
    assert p.loc[pair_ids, "model_acc_trivial"].to_numpy() == pytest.approx(np.array(acc_t) / 5)
    assert p.loc[pair_ids, "model_acc_impossible"].to_numpy() == pytest.approx(np.array(acc_i) / 5)
    diff = (np.array(acc_t) - np.array(acc_i)) / 5
    assert res.pair_correlation["r"] == pytest.approx(pearsonr(diff, share).statistic, abs=1e-12)


def test_reaction_times_per_observer(two_afc):
    sset, root, *_ = two_afc
    loaded = load_sessions(root, "2afc")
    res = analyse_two_afc(loaded.trials, sset.stimuli, n_boot=200)
    t = loaded.trials[loaded.trials["participant_id"] == "sub-003"]
    obs = res.observers.set_index("participant_id")
    assert obs.loc["sub-003", "rt_median"] == pytest.approx(t["rt"].median())
    assert obs.loc["sub-003", "rt_median_correct"] == pytest.approx(t.loc[t["correct"], "rt"].median())


def test_incomplete_and_repeated_sessions_are_listed_not_mixed_in(two_afc):
    sset, root, *_ = two_afc
    write_2afc_session(root, "sub-001", sset, [True] * N, session=2)  # a repeat of sub-001
    loaded = load_sessions(root, "2afc")
    ex = loaded.excluded.set_index("participant_id")
    assert set(ex.index) == {"sub-001", "sub-004", "sub-005"}
    assert "aborted" in ex.loc["sub-004", "reason"] and "incomplete" in ex.loc["sub-005", "reason"]
    assert "repeat" in ex.loc["sub-001", "reason"]
    assert set(loaded.trials["participant_id"]) == set(CORRECT)
    assert len(loaded.trials) == 3 * N
    everything = load_sessions(root, "2afc", include_incomplete=True)
    assert "sub-005" in everything.participants


def test_sessions_on_another_set_are_listed(two_afc, tmp_path):
    sset, root, *_ = two_afc
    other = write_2afc_set(tmp_path / "sets", "other", 3)
    write_2afc_session(root, "sub-006", other, [True] * 3)
    loaded = load_sessions(root, "2afc")
    assert loaded.stimulus_set == "pairs" and "sub-006" not in loaded.participants
    assert "other" in loaded.excluded.set_index("participant_id").loc["sub-006", "reason"]


@pytest.mark.parametrize("damage,expect", [
    (lambda text: text.replace("\tcorrect\t", "\tcorrectness\t", 1), "missing column(s) correct"),
    (lambda text: text.replace("\tleft\t", "\tmiddle\t", 1), "row 2: column 'impossible_side' = 'middle'"),
    (lambda text: text[:-5], "truncated line"),
])
def test_malformed_session_is_a_one_line_error_naming_file_and_row(two_afc, damage, expect):
    _, root, *_ = two_afc
    tsv = root / "sub-002" / "ses-01" / "beh" / "sub-002_ses-01_task-2afc_beh.tsv"
    tsv.write_text(damage(tsv.read_text()))
    with pytest.raises(UserError) as err:
        load_sessions(root, "2afc")
    msg = str(err.value)
    assert str(tsv) in msg and expect in msg and "\n" not in msg


def test_figures_written_as_png_and_svg(two_afc, tmp_path):
    sset, root, *_ = two_afc
    loaded = load_sessions(root, "2afc")
    res = analyse_two_afc(loaded.trials, sset.stimuli, n_boot=200)
    figs = two_afc_figures(res, loaded.trials, tmp_path / "figs")
    assert {f["name"] for f in figs} == {"2afc_accuracy", "2afc_consistency_matrix", "2afc_pairs_vs_models", "2afc_rt"}
    for f in figs:
        assert f["png"].stat().st_size > 1000 and f["svg"].read_text().startswith("<?xml")
