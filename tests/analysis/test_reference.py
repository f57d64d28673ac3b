"""Import of the original study's published questionnaire data, and the paper's numbers from it.

Runs on the real files in ../shared/reference (skipped where that folder is absent)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr

from analysis.humans.questionnaire import analyse_questionnaire, select_items
from analysis.reference import main as reference_main
from analysis.humans.sessions import load_sessions
from labutil.errors import UserError, run_cli
from stimuli.sets import open_verified_set, read_set, verify_set

from reference_data import REFERENCE_DIR as REFERENCE
pytestmark = pytest.mark.skipif(not (REFERENCE / "experiment_two_results_long.csv").is_file(),
                                reason=f"published reference data not found at {REFERENCE}")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    base = tmp_path_factory.mktemp("ref")
    code = run_cli(reference_main, ["import", "--reference", str(REFERENCE), "--out-sets", str(base / "sets"),
                                    "--data-root", str(base / "data")])
    assert code == 0
    return base, read_set(base / "sets" / "reference-exp2")


def test_set_without_images_verifies_and_records_provenance(imported):
    base, sset = imported
    assert verify_set(sset.path) == [] and not sset.has_images
    assert not (sset.path / "images").exists()
    with pytest.raises(UserError, match="images not included"):
        open_verified_set(sset.path)  # the experiment programs cannot show it
    assert open_verified_set(sset.path, require_images=False).name == "reference-exp2"
    assert len(sset.test_trials()) == 300 and len(sset.practice_trials()) == 6
    st = sset.stimuli.set_index("stim_id")
    assert st.loc["item-044", "difficulty"] == "in-between" and set(st["n_models"]) == {11}
    assert sset.meta["analysis_exclusions"]["stim_ids"] == ["item-044", "item-222", "item-254"]
    assert len(sset.meta["label_issues"]["stim_ids"]) == 49  # 47 test + 2 training images
    assert sset.meta["provenance"]["sha256"] and sset.meta["reference"]["fig6_equalized_subset"]["reproduced_by_seeded_draw"]


def test_sessions_hold_every_answer_mapped_from_the_codes(imported):
    base, sset = imported
    loaded = load_sessions(base / "data", "questionnaire")
    assert loaded.participants == [f"sub-{i:03d}" for i in range(1, 9)] and loaded.excluded.empty
    assert all(s.complete and len(s.trials) == 300 for s in loaded.sessions)
    raw = pd.read_csv(REFERENCE / "experiment_two_results_long.csv")
    raw = raw.pivot_table(index=["observer", "trial"], columns="question", values="answer").reset_index()
    t = loaded.trials.assign(observer=loaded.trials["participant_id"].str[4:].astype(int),
                             item=loaded.trials["stim_id"].str[5:].astype(int))
    m = t.merge(raw, left_on=["observer", "item"], right_on=["observer", "trial"])
    assert len(m) == 2400
    assert (m["n_categories_x"] == m["n_categories_y"]).all()
    assert (m["main_category_x"] == m["main_category_y"].map({0: "no", 1: "maybe", 2: "yes"})).all()
    assert (m["unusual"] == m["odd_presentation"].map({0: "no", 1: "slightly", 2: "very"})).all()
    assert (t["trial"] == t["item"] + 6).all()


def test_seeded_draw_reproduces_the_published_fig6_subset(imported):
    _, sset = imported
    order = list(sset.test_trials()["stim_id"])
    sel = select_items(sset.stimuli, order, sset.meta, drop_label_issues=True, balance=True, seed=1312)
    trials = pd.read_csv(REFERENCE / "experiment_two_trials.csv", dtype={"trial": str})
    published = {f"item-{int(t):03d}" for t, f in zip(trials["trial"], trials["in_fig6_equalized_subset"]) if f == 1}
    assert set(sel.stim_ids) == published and len(sel.stim_ids) == 171
    # another seed gives another subset of the same size
    other = select_items(sset.stimuli, order, sset.meta, drop_label_issues=True, balance=True, seed=1)
    assert len(other.stim_ids) == 171 and set(other.stim_ids) != published


def test_paper_numbers_from_the_imported_data(imported):
    base, sset = imported
    loaded = load_sessions(base / "data", "questionnaire")
    order = list(sset.test_trials()["stim_id"])
    sel = select_items(sset.stimuli, order, sset.meta, drop_label_issues=True, balance=True, seed=1312, name="fig6")
    res = analyse_questionnaire(loaded.trials, sset.stimuli, sel, n_boot=100)
    acc = res.accuracy.set_index(["question", "answer"])["mean_of_observers"]
    main = [round(acc[("main_category", a)], 2) for a in ("yes", "maybe", "no")]
    odd = [round(acc[("unusual", a)], 2) for a in ("no", "slightly", "very")]
    assert main == [0.64, 0.44, 0.37]
    assert odd == [0.61, 0.55, 0.34]
    # the correlation the data give (the paper reports r = -0.37), computed independently from the CSV
    trials = pd.read_csv(REFERENCE / "experiment_two_trials.csv")
    sub = trials[trials["in_fig6_equalized_subset"] == 1]
    r = pearsonr(sub["mean_n_categories"], sub["sota_n_correct"] / 11).statistic
    assert res.correlation["r"] == pytest.approx(r, abs=1e-9)
    assert res.correlation["r"] == pytest.approx(-0.3233, abs=1e-4) and res.correlation["n"] == 171
    everything = analyse_questionnaire(loaded.trials, sset.stimuli,
                                       select_items(sset.stimuli, order, sset.meta), n_boot=100)
    kept = trials[(trials["is_training"] == 0) & (trials["replaced_item_excluded"] == 0)]
    assert everything.correlation["r"] == pytest.approx(pearsonr(kept["mean_n_categories"], kept["sota_n_correct"] / 11).statistic, abs=1e-9)
    assert np.isfinite(res.agreement["value"]).all()


def test_second_import_is_refused_and_changes_nothing(imported, capsys):
    base, sset = imported
    before = {p: p.stat().st_mtime_ns for p in base.rglob("*")}
    code = run_cli(reference_main, ["import", "--reference", str(REFERENCE), "--out-sets", str(base / "sets"),
                                    "--data-root", str(base / "data2")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "already exists" in err and err.count("\n") == 1
    code = run_cli(reference_main, ["import", "--reference", str(REFERENCE), "--out-sets", str(base / "sets"),
                                    "--name", "again", "--data-root", str(base / "data")])
    assert code == 2 and "already holds" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in base.rglob("*")} == before


def test_missing_reference_folder_is_a_user_error(tmp_path, capsys):
    code = run_cli(reference_main, ["import", "--reference", str(tmp_path / "nope"), "--out-sets", str(tmp_path / "s"),
                                    "--data-root", str(tmp_path / "d")])
    assert code == 2 and "file not found" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() and not (tmp_path / "d").exists()


def test_agreement_on_the_published_data_against_independent_code(imported):
    import krippendorff
    import pingouin as pg
    from sklearn.metrics import cohen_kappa_score

    base, sset = imported
    loaded = load_sessions(base / "data", "questionnaire")
    order = list(sset.test_trials()["stim_id"])
    res = analyse_questionnaire(loaded.trials, sset.stimuli, select_items(sset.stimuli, order, sset.meta), n_boot=50)
    ag = res.agreement.set_index(["question", "measure"])["value"]
    t = loaded.trials[loaded.trials["stim_id"].isin(res.items["stim_id"])]
    wide = {q: t.pivot(index="stim_id", columns="participant_id", values=q) for q in ("n_categories", "main_category", "unusual")}
    codes = {"no": 0, "maybe": 1, "yes": 2, "slightly": 1, "very": 2}
    q1 = wide["n_categories"].to_numpy(dtype=float)
    q2 = wide["main_category"].replace(codes).to_numpy(dtype=float)
    q3 = wide["unusual"].replace(codes).to_numpy(dtype=float)
    k = q1.shape[1]
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    labels = list(range(int(q1.min()), int(q1.max()) + 1))
    quad = np.mean([cohen_kappa_score(q1[:, i], q1[:, j], weights="quadratic", labels=labels) for i, j in pairs])
    assert ag[("n_categories", "weighted_kappa_quadratic")] == pytest.approx(quad, abs=1e-12)
    assert ag[("n_categories", "weighted_kappa_quadratic")] == pytest.approx(0.5433, abs=1e-4)
    assert ag[("n_categories", "cohen_kappa_pairwise_mean")] == pytest.approx(0.2752, abs=1e-4)
    for q, m, value in (("main_category", q2, 0.4670), ("unusual", q3, 0.3750)):
        assert ag[(q, "krippendorff_alpha_ordinal")] == pytest.approx(
            krippendorff.alpha(reliability_data=m.T, level_of_measurement="ordinal"), abs=1e-12)
        assert ag[(q, "krippendorff_alpha_ordinal")] == pytest.approx(value, abs=1e-4)
    assert ag[("n_categories", "krippendorff_alpha_ratio")] == pytest.approx(
        krippendorff.alpha(reliability_data=q1.T, level_of_measurement="ratio"), abs=1e-12)
    long = wide["n_categories"].stack().rename("score").reset_index()
    icc = pg.intraclass_corr(long, "stim_id", "participant_id", "score").set_index("Type").loc["ICC(A,1)"]
    row = res.agreement.set_index(["question", "measure"]).loc[("n_categories", "icc_2_1")]
    assert row["value"] == pytest.approx(icc["ICC"], abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(icc["CI95"]), abs=0.005)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.4894, 0.6082), abs=1e-4)
