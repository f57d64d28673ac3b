"""Per-observer questionnaire counts: by hand on a small table, and on the published answers
against a direct count of the reference CSV."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.humans.observer_panels import (
    observer_answer_counts,
    panels_figures,
    per_observer_summary,
)
from analysis.humans.questions import answer_label
from reference_data import REFERENCE_DIR as REFERENCE


def responses() -> pd.DataFrame:
    rows = [("sub-001", "trivial", 1, "yes", "no"), ("sub-001", "trivial", 9, "yes", "no"),
            ("sub-001", "impossible", 10, "no", "very"), ("sub-001", "impossible", 10, "maybe", "very"),
            ("sub-002", "in-between", 9, "maybe", "slightly"), ("sub-002", "trivial", 0, "yes", "no")]
    return pd.DataFrame(rows, columns=["participant_id", "difficulty", "n_categories", "main_category", "unusual"])


def test_counts_keep_9_and_10_plus_apart_and_list_every_answer():
    c = observer_answer_counts(responses())
    q1 = c[(c.participant_id == "sub-001") & (c.question == "n_categories")]
    assert list(dict.fromkeys(q1["answer_label"])) == [str(i) for i in range(10)] + ["10+"]
    n = q1.set_index(["answer", "difficulty"])["n_responses"]
    assert n[("9", "trivial")] == 1 and n[("10", "impossible")] == 2 and n[("10", "trivial")] == 0
    assert n.sum() == 4 and len(q1) == 11 * 3
    main = c[(c.participant_id == "sub-001") & (c.question == "main_category")].set_index(["answer", "difficulty"])
    assert main.loc[("yes", "trivial"), "n_responses"] == 2 and main.loc[("maybe", "impossible"), "n_responses"] == 1
    assert c.groupby("participant_id")["n_responses"].sum().to_dict() == {"sub-001": 12, "sub-002": 6}  # 3 questions each
    assert answer_label("n_categories", "10") == "10+" and answer_label("main_category", "10") == "10"


def test_summary_and_figures():
    c = observer_answer_counts(responses())
    s = per_observer_summary(c).set_index(["participant_id", "difficulty"])
    assert s.loc[("sub-001", "impossible"), "mean_n_categories"] == 10.0
    assert s.loc[("sub-001", "trivial"), "mean_n_categories"] == 5.0 and s.loc[("sub-001", "trivial"), "n_responses"] == 2
    assert s.loc[("sub-001", "impossible"), "mean_main_category"] == 0.5  # no = 0, maybe = 1
    assert s.loc[("sub-002", "in-between"), "mean_unusual"] == 1.0
    figs = panels_figures(c, per_figure=1)
    assert len(figs) == 2 and len(figs[0].axes) == 3


@pytest.mark.skipif(not (REFERENCE / "experiment_two_results_long.csv").is_file(), reason=f"no reference data at {REFERENCE}")
def test_published_answers_counted_per_observer(tmp_path):
    from analysis.humans.questionnaire import responses as questionnaire_responses
    from analysis.humans.questionnaire import select_items
    from analysis.humans.sessions import load_sessions
    from analysis.reference import main as reference_main
    from labutil.errors import run_cli
    from stimuli.sets import read_set

    assert run_cli(reference_main, ["import", "--reference", str(REFERENCE), "--out-sets", str(tmp_path / "sets"),
                                    "--data-root", str(tmp_path / "data")]) == 0
    sset = read_set(tmp_path / "sets" / "reference-exp2")
    loaded = load_sessions(tmp_path / "data", "questionnaire")
    order = list(sset.test_trials()["stim_id"])
    sel = select_items(sset.stimuli, order, sset.meta, name="all")
    counts = observer_answer_counts(questionnaire_responses(loaded.trials, sset.stimuli, sel))
    raw = pd.read_csv(REFERENCE / "experiment_two_results_long.csv")
    raw = raw[raw["replaced_item_excluded"] == 0]  # the set's analysis exclusions: items 44, 222, 254
    labels = {"n_categories": {i: str(i) for i in range(11)}, "main_category": {0: "no", 1: "maybe", 2: "yes"},
              "odd_presentation": {0: "no", 1: "slightly", 2: "very"}}
    raw = raw.assign(answer_text=[labels[q][a] for q, a in zip(raw["question"], raw["answer"])],
                     question=raw["question"].replace({"odd_presentation": "unusual"}),
                     participant_id=raw["observer"].map(lambda o: f"sub-{o:03d}"))
    direct = raw.groupby(["participant_id", "question", "answer_text", "design_category"]).size()
    ours = counts.set_index(["participant_id", "question", "answer", "difficulty"])["n_responses"]
    assert ours[ours > 0].sort_index().to_dict() == direct.sort_index().to_dict()
    # every answer the observers gave, 9 included; nobody answered 10+
    q1 = counts[counts.question == "n_categories"].groupby("answer")["n_responses"].sum()
    assert q1["9"] == (raw.query("question == 'n_categories'")["answer"] == 9).sum() == 2 and q1["10"] == 0
    assert counts["n_responses"].sum() == 8 * 297 * 3
