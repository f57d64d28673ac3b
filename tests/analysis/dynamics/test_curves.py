"""Per-image table, category summary, Pliushch's curves and the questionnaire matching, against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.dynamics import curves


def test_statistic_curves_direct() -> None:
    stats = pd.DataFrame({"segments": [1.0, 2.0, 3.0, 10.0]})
    n_correct = np.array([[3, 0, 1, 0], [3, 3, 2, 0], [3, 3, 3, 3]])
    c = curves.statistic_curves(stats, n_correct, 3, np.array([0, 1, 2]), ["segments"])
    assert c["mean_all_right"].tolist() == [1.0, 1.5, 4.0]
    assert c["n_all_right"].tolist() == [1, 2, 4]
    assert c["mean_all_images"].tolist() == [4.0] * 3


def test_by_category_and_correlations() -> None:
    t = pd.DataFrame({"forgetting_events": [0.0, 1.0, 2.0, 3.0, 4.0], "iteration_learned": [1.0, 2.0, 3.0, 5.0, 4.0]})
    levels = np.array(["trivial", "trivial", "in-between", "impossible", "impossible"])
    cat = curves.by_category(t, levels).set_index(["measure", "category"])
    assert cat.loc[("forgetting_events", "trivial"), "mean"] == 0.5
    assert cat.loc[("forgetting_events", "impossible"), "median"] == 3.5
    assert cat.loc[("iteration_learned", "in-between"), "n_images"] == 1
    corr = curves.correlations(t, {"x": np.array([5.0, 4.0, 3.0, 2.0, 1.0])}).set_index("measure")
    assert corr.loc["forgetting_events", "spearman_r"] == pytest.approx(-1.0)
    assert corr.loc["iteration_learned", "spearman_r"] == pytest.approx(-0.9)
    sub = curves.correlations(t, {"x": np.array([1.0, 2.0, 3.0, 4.0])}, index=np.array([4, 3, 2, 1]))
    assert sub.set_index("measure").loc["forgetting_events", "spearman_r"] == pytest.approx(-1.0)


def test_questionnaire_answers_matched_by_source_image() -> None:
    stimuli = pd.DataFrame({"stim_id": ["s1", "s2", "s3"], "source_image_id": ["val/2", "val/0", "elsewhere/9"]})
    trials = pd.DataFrame({
        "participant_id": ["sub-001", "sub-002", "sub-001", "sub-002", "sub-001", "sub-001"],
        "phase": ["test", "test", "test", "test", "test", "practice"],
        "stim_id": ["s1", "s1", "s2", "s2", "s3", "s2"],
        "n_categories": ["1", "3", "2", "2", "5", "9"],
        "main_category": ["yes", "no", "maybe", "yes", "no", "no"],
        "unusual": ["no", "very", "slightly", "slightly", "no", "very"],
    })
    a = curves.questionnaire_answers(trials, stimuli, ["val/0", "val/1", "val/2"]).set_index("image_index")
    assert a.index.tolist() == [0, 2]  # s3 is not a study image, practice rows are left out
    assert a.loc[2, "mean_n_categories"] == 2.0 and a.loc[0, "mean_n_categories"] == 2.0
    assert a.loc[2, "mean_main_category"] == 1.0 and a.loc[0, "mean_main_category"] == 1.5  # no 0, maybe 1, yes 2
    assert a.loc[2, "mean_unusual"] == 1.0 and a.loc[0, "n_observers"] == 2
