"""Questionnaire analysis on sessions with known answers: hand-computed and library values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from analysis.humans.questionnaire import analyse_questionnaire, balanced_drop, questionnaire_figures, select_items
from analysis.humans.sessions import load_sessions
from human_data import write_questionnaire_session, write_questionnaire_set
from labutil.errors import UserError

DIFF = ["trivial", "trivial", "in-between", "in-between", "impossible", "impossible"]
NCORR = [10, 10, 6, 3, 0, 0]  # of 10 models
# answers[pid][stim] = (n_categories, main_category, unusual)
ANSWERS = {
    "sub-001": {"s1": (1, "yes", "no"), "s2": (1, "yes", "no"), "s3": (2, "maybe", "slightly"),
                "s4": (3, "no", "no"), "s5": (4, "no", "very"), "s6": (2, "maybe", "very")},
    "sub-002": {"s1": (1, "yes", "no"), "s2": (2, "yes", "slightly"), "s3": (2, "yes", "no"),
                "s4": (3, "maybe", "slightly"), "s5": (5, "no", "very"), "s6": (3, "no", "slightly")},
    "sub-003": {"s1": (0, "yes", "no"), "s2": (1, "maybe", "no"), "s3": (3, "no", "slightly"),
                "s4": (2, "yes", "no"), "s5": (3, "no", "slightly"), "s6": (4, "no", "very")},
}
ACC = dict(zip([f"s{i}" for i in range(1, 7)], np.array(NCORR) / 10))


@pytest.fixture
def quest(tmp_path):
    sets, root = tmp_path / "sets", tmp_path / "data"
    meta = {"analysis_exclusions": {"stim_ids": []}, "label_issues": {"stim_ids": ["s4"]}}
    sset = write_questionnaire_set(sets, "q", DIFF, NCORR, meta=meta)
    for pid, ans in ANSWERS.items():
        write_questionnaire_session(root, pid, sset, ans)
    write_questionnaire_session(root, "sub-004", sset, {"s1": (9, "no", "very")}, status="incomplete")
    return sset, root


def _analyse(sset, root, **kw):
    loaded = load_sessions(root, "questionnaire")
    order = list(sset.test_trials()["stim_id"])
    sel = select_items(sset.stimuli, order, sset.meta, **kw)
    return loaded, analyse_questionnaire(loaded.trials, sset.stimuli, sel, seed=0, n_boot=200)


def test_incomplete_session_listed_and_practice_dropped(quest):
    sset, root = quest
    loaded, res = _analyse(sset, root)
    assert loaded.participants == ["sub-001", "sub-002", "sub-003"]
    assert list(loaded.excluded["participant_id"]) == ["sub-004"]
    assert loaded.practice_rows == 3
    assert res.n_observers == 3 and len(res.items) == 6


def test_fig6_shares_per_answer_hand_computed(quest):
    sset, root = quest
    _, res = _analyse(sset, root)
    p = res.proportions.set_index(["question", "answer"])
    # main_category 'yes': s1 x3, s2 x2, s3 (sub-002), s4 (sub-003) -> 5 trivial, 2 in-between, 0 impossible
    assert p.loc[("main_category", "yes"), "n_responses"] == 7
    assert p.loc[("main_category", "yes"), ["share_trivial", "share_in-between", "share_impossible"]].tolist() == pytest.approx([5 / 7, 2 / 7, 0])
    # unusual 'very': s5 (001, 002), s6 (001, 003) -> all impossible
    assert p.loc[("unusual", "very"), "share_impossible"] == 1.0
    # Q1 answer 3: s4 (001, 002), s6 (002), s3 (003), s5 (003)
    assert p.loc[("n_categories", "3"), ["n_trivial", "n_in-between", "n_impossible"]].tolist() == [0, 3, 2]
    shares = p[["share_trivial", "share_in-between", "share_impossible"]].sum(axis=1)
    assert shares.to_numpy() == pytest.approx(1.0)


def test_model_accuracy_per_answer_mean_of_observers_and_pooled(quest):
    sset, root = quest
    _, res = _analyse(sset, root)
    a = res.accuracy.set_index(["question", "answer"])
    per_obs, pooled = [], []
    for pid, ans in ANSWERS.items():
        vals = [ACC[s] for s, (_, main, _) in ans.items() if main == "no"]
        per_obs.append(np.mean(vals))
        pooled += vals
    assert a.loc[("main_category", "no"), "mean_of_observers"] == pytest.approx(np.mean(per_obs))
    assert a.loc[("main_category", "no"), "pooled"] == pytest.approx(np.mean(pooled))
    assert a.loc[("main_category", "no"), "sd_of_observers"] == pytest.approx(np.std(per_obs, ddof=1))
    # by hand: sub-001 (s4 0.3, s5 0) 0.15; sub-002 (s5, s6) 0; sub-003 (s3 0.6, s5, s6) 0.2
    assert a.loc[("main_category", "no"), "mean_of_observers"] == pytest.approx((0.15 + 0.0 + 0.2) / 3)
    assert a.loc[("main_category", "no"), "pooled"] == pytest.approx(0.9 / 7)  # unequal counts: differs


def test_correlation_categories_vs_accuracy_is_scipy_pearson(quest):
    sset, root = quest
    _, res = _analyse(sset, root)
    stims = [f"s{i}" for i in range(1, 7)]
    mean_cat = [np.mean([ANSWERS[p][s][0] for p in ANSWERS]) for s in stims]
    r = pearsonr(mean_cat, [ACC[s] for s in stims])
    assert res.correlation["r"] == pytest.approx(r.statistic, abs=1e-12)
    assert res.correlation["p_value"] == pytest.approx(r.pvalue, rel=1e-9)
    ci = r.confidence_interval()
    assert (res.correlation["ci_low"], res.correlation["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_agreement_matches_statsmodels_and_sklearn(quest):
    sset, root = quest
    _, res = _analyse(sset, root)
    ag = res.agreement.set_index(["question", "measure"])
    stims = [f"s{i}" for i in range(1, 7)]
    codes = {"no": 0, "maybe": 1, "yes": 2}
    main = np.array([[codes[ANSWERS[p][s][1]] for p in ANSWERS] for s in stims])
    assert ag.loc[("main_category", "fleiss_kappa"), "value"] == pytest.approx(fleiss_kappa(aggregate_raters(main)[0]), abs=1e-12)
    pk = res.pairwise_kappa[res.pairwise_kappa["question"] == "main_category"]
    expect = [cohen_kappa_score(main[:, i], main[:, j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert pk["kappa"].to_numpy() == pytest.approx(expect, abs=1e-12)
    assert ag.loc[("main_category", "cohen_kappa_pairwise_mean"), "value"] == pytest.approx(np.mean(expect))
    assert ag.loc[("main_category", "cohen_kappa_pairwise_mean"), ["min", "max"]].tolist() == pytest.approx([min(expect), max(expect)])
    assert np.isfinite(ag.loc[("n_categories", "krippendorff_alpha_interval"), "value"])
    assert np.isfinite(ag.loc[("n_categories", "icc_2_1"), "value"])


def test_selection_drops_exclusions_label_issues_and_balances(quest):
    sset, _ = quest
    order = list(sset.test_trials()["stim_id"])
    meta = {**sset.meta, "analysis_exclusions": {"stim_ids": ["s6"]}}
    sel = select_items(sset.stimuli, order, meta, drop_label_issues=True, balance=True, seed=7)
    # s6 excluded, s4 a label issue -> 2 trivial, 1 in-between, 1 impossible -> one trivial drawn away
    assert len(sel.stim_ids) == 3 and "s4" not in sel.stim_ids and "s6" not in sel.stim_ids
    kept = sset.stimuli.set_index("stim_id").loc[sel.stim_ids, "difficulty"]
    assert sorted(kept) == ["impossible", "in-between", "trivial"]
    dropped = np.random.RandomState(7).choice(np.array(["s1", "s2"]), 1, replace=False)[0]
    assert dropped not in sel.stim_ids
    assert sel == select_items(sset.stimuli, order, meta, drop_label_issues=True, balance=True, seed=7)
    with pytest.raises(UserError):
        select_items(sset.stimuli, order, meta, balance=True, seed=None)


def test_balanced_draw_follows_the_legacy_numpy_procedure():
    items = pd.DataFrame({"stim_id": [f"x{i}" for i in range(30)],
                          "difficulty": ["in-between"] * 12 + ["trivial"] * 10 + ["impossible"] * 8})
    rs = np.random.RandomState(1312)
    expect = list(rs.choice(items["stim_id"][:12].to_numpy(), 4, replace=False))
    expect += list(rs.choice(items["stim_id"][12:22].to_numpy(), 2, replace=False))
    assert balanced_drop(items, 1312) == expect


def test_unknown_stimulus_in_session_is_a_user_error(quest, tmp_path):
    sset, root = quest
    other = write_questionnaire_set(tmp_path / "sets", "small", DIFF[:2], NCORR[:2])
    loaded = load_sessions(root, "questionnaire")
    sel = select_items(other.stimuli, list(other.test_trials()["stim_id"]), other.meta)
    with pytest.raises(UserError, match="not in the stimulus set"):
        analyse_questionnaire(loaded.trials, other.stimuli, sel)


def test_figures(quest, tmp_path):
    sset, root = quest
    _, res = _analyse(sset, root)
    figs = questionnaire_figures(res, tmp_path / "f")
    assert [f["name"] for f in figs] == ["questionnaire_all_fig6", "questionnaire_all_model_accuracy",
                                         "questionnaire_all_categories_vs_accuracy"]
    assert all(f["png"].is_file() and f["svg"].is_file() for f in figs)


def test_agreement_at_the_level_of_the_data_against_krippendorff_and_sklearn(quest):
    import krippendorff

    sset, root = quest
    _, res = _analyse(sset, root)
    ag = res.agreement.set_index(["question", "measure"])
    stims = [f"s{i}" for i in range(1, 7)]
    n_cat = np.array([[ANSWERS[p][s][0] for p in ANSWERS] for s in stims], dtype=float)
    odd = np.array([[{"no": 0, "slightly": 1, "very": 2}[ANSWERS[p][s][2]] for p in ANSWERS] for s in stims], dtype=float)
    for metric in ("interval", "ratio"):
        assert ag.loc[("n_categories", f"krippendorff_alpha_{metric}"), "value"] == pytest.approx(
            krippendorff.alpha(reliability_data=n_cat.T, level_of_measurement=metric), abs=1e-12)
    assert ag.loc[("unusual", "krippendorff_alpha_ordinal"), "value"] == pytest.approx(
        krippendorff.alpha(reliability_data=odd.T, level_of_measurement="ordinal"), abs=1e-12)
    labels = list(range(0, 6))  # Q1 answers 0..5 seen: weights on the counts themselves
    q = [cohen_kappa_score(n_cat[:, i], n_cat[:, j], weights="quadratic", labels=labels) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert ag.loc[("n_categories", "weighted_kappa_quadratic"), "value"] == pytest.approx(np.mean(q), abs=1e-12)
    lin = [cohen_kappa_score(odd[:, i], odd[:, j], weights="linear", labels=[0, 1, 2]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert ag.loc[("unusual", "weighted_kappa_linear"), "value"] == pytest.approx(np.mean(lin), abs=1e-12)
    assert ag.loc[("n_categories", "icc_2_1"), "ci_method"].startswith("F distribution")
    two_way = ag[ag["ci_method"].str.startswith("bootstrap over observers")]
    assert len(two_way) == len(ag) - 1


def test_spearman_chi2_and_ordinal_regression(quest):
    from scipy.stats import chi2_contingency, spearmanr
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    sset, root = quest
    loaded, res = _analyse(sset, root)
    c = res.correlations.set_index(["question", "method"])
    it = res.items
    assert c.loc[("n_categories", "spearman"), "r"] == pytest.approx(spearmanr(it["mean_n_categories"], it["model_accuracy"]).statistic, abs=1e-12)
    assert c.loc[("n_categories", "pearson"), "r"] == pytest.approx(res.correlation["r"], abs=1e-12)
    t = loaded.trials[loaded.trials["phase"] == "test"].assign(difficulty=lambda d: d["stim_id"].map(dict(zip([f"s{i}" for i in range(1, 7)], DIFF))))
    table = pd.crosstab(t["main_category"], t["difficulty"]).to_numpy()
    chi2 = chi2_contingency(table, correction=False).statistic
    a = res.association.set_index("question").loc["main_category"]
    assert a["chi2"] == pytest.approx(chi2) and a["cramers_v"] == pytest.approx(np.sqrt(chi2 / (table.sum() * 2)))
    # the ordinal regression's point estimates are those of a plain OrderedModel fit (clustering changes only the SEs)
    y = t["unusual"].map({"no": 0, "slightly": 1, "very": 2})
    x = pd.get_dummies(pd.Categorical(t["difficulty"], categories=["trivial", "in-between", "impossible"]), drop_first=True).astype(float)
    fit = OrderedModel(pd.Series(pd.Categorical(y, ordered=True)), x, distr="logit").fit(method="bfgs", disp=False)
    o = res.ordinal.set_index(["question", "term"])
    assert o.loc[("unusual", "difficulty[impossible]"), "log_odds"] == pytest.approx(fit.params["impossible"], abs=1e-4)


def test_per_answer_accuracy_interval_holds_the_estimate(quest):
    sset, root = quest
    _, res = _analyse(sset, root)
    a = res.accuracy.dropna(subset=["ci_low"])
    assert len(a) and ((a["ci_low"] <= a["mean_of_observers"] + 1e-12) & (a["mean_of_observers"] <= a["ci_high"] + 1e-12)).all()


def test_agreement_of_observers_who_share_no_image_is_undefined():
    """Two observers who answered disjoint images (e.g. an interrupted session): every measure is
    NaN with n_items 0 (it raised ZeroDivisionError in Fleiss' kappa under the bootstrap weights)."""
    from analysis.humans.questionnaire_agreement import agreement
    from analysis.humans.questions import CODE_COLUMNS

    rows = [{"participant_id": pid, "stim_id": s, CODE_COLUMNS["n_categories"]: 3,
             CODE_COLUMNS["main_category"]: 1, CODE_COLUMNS["unusual"]: 0}
            for pid, stims in (("p1", ["a", "b"]), ("p2", ["c", "d"])) for s in stims]
    table, pairwise = agreement(pd.DataFrame(rows), seed=0, n_boot=20)
    assert len(table) == 16 and (table["n_items"] == 0).all() and (table["n_raters"] == 2).all()
    assert table[["value", "ci_low", "ci_high", "ci_low_items", "ci_high_items"]].isna().all().all()
    assert (pairwise["n_items"] == 0).all() and pairwise["kappa"].isna().all()
