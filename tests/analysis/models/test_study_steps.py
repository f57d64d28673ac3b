"""Each step of analyse_study on a store with explicit predicted labels; expected values are
recomputed here independently (scikit-learn's kappa, plain loops over images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.models import study_steps as st
from analysis.models.decisions import summarise_epochs
from analysis.models.identical import identical_groups, mean_off_diagonal
from analysis.models.outputs import Writer
from labutil.errors import UserError
from model_runs.store import ModelWriter, create_study

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
# predicted label per model and epoch (epochs 0, 1, 2)
PRED = {
    "base": [[1, 2, 0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 0, 0, 2, 0, 0, 2, 2, 1], [0, 1, 2, 0, 2, 1, 0, 1, 2, 1]],
    "copy-1": None,  # bit-identical to base
    "half-a": [[2, 2, 0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 1, 0, 1, 0, 2, 2, 2, 1], [0, 1, 1, 0, 1, 2, 2, 1, 0, 0]],
    "half-b": [[1, 0, 0, 1, 2, 0, 1, 2, 0, 1], [0, 1, 2, 1, 0, 0, 1, 1, 2, 0], [0, 1, 2, 1, 1, 0, 1, 1, 2, 0]],
    # wrong -> another wrong label on image 1 at 1 -> 2: a label flip that is no correctness flip
    "arch": [[1, 2, 0, 1, 2, 0, 1, 2, 0, 1], [0, 2, 2, 0, 1, 0, 1, 2, 2, 0], [0, 0, 2, 0, 1, 1, 1, 1, 0, 0]],
}
PRED["copy-1"] = PRED["base"]
CONDITION = {"base": "base", "copy-1": "copy", "half-a": "half", "half-b": "half", "arch": "arch"}


@pytest.fixture
def store(tmp_path):
    images = pd.DataFrame({"image_index": np.arange(10), "image_id": [f"val/{i}" for i in range(10)], "label": LABELS,
                           "class_name": [f"c{c}" for c in LABELS]})
    definition = {"name": "steps", "dataset": {"name": "synthetic", "n_classes": 3}, "recipe": {"epochs": 2},
                  "models": [{"model_id": m, "condition": c, "arch": "toy"} for m, c in CONDITION.items()],
                  "comparisons": {"half": "each-other"}}
    study = create_study(tmp_path / "steps", definition, images)
    for m, preds in PRED.items():
        w = ModelWriter(study, m)
        w.start({"condition": CONDITION[m], "arch": "toy", "config": {"model_id": m}})
        for e, p in enumerate(preds):
            w.commit_epoch(e, np.array(p, dtype=np.int32), {"val_loss": 0.0})
        w.finish("complete")
    return study


def _final_correct(m: str) -> np.ndarray:
    return np.array(PRED[m][-1]) == LABELS


def _run(store, tmp_path, **kw):
    opts = st.DDDOptions(tolerance=0, n_boot=20, figures=False, progress=False, **kw)
    models = st.load_models(store.path, opts)
    w = Writer(tmp_path / "out", figures=False)
    return opts, models, w


def test_load_models_orders_and_reads_comparisons(store, tmp_path):
    _, models, _ = _run(store, tmp_path)
    assert models.ids == ["base", "copy-1", "half-a", "half-b", "arch"]
    assert models.each_other == ("half",) and models.map_model == "base"
    assert models.final.tolist() == [_final_correct(m).tolist() for m in models.ids]
    with pytest.raises(UserError, match="--each-other 'arch': the condition has one complete model"):
        _run(store, tmp_path, each_other=("arch",))
    with pytest.raises(UserError, match="--each-other 'nope': no complete models"):
        _run(store, tmp_path, each_other=("nope",))
    with pytest.raises(UserError, match="--each-other 'base': the base condition's models are compared"):
        _run(store, tmp_path, each_other=("base",))


def test_split_step(store, tmp_path):
    opts, models, w = _run(store, tmp_path)
    split = st.split_step(w, models, opts)
    n_right = sum(_final_correct(m).astype(int) for m in models.ids)
    assert split.n_correct.tolist() == n_right.tolist()
    expected = {"trivial": np.mean(n_right == 5), "in-between": np.mean((n_right > 0) & (n_right < 5)), "impossible": np.mean(n_right == 0)}
    assert split.headline["shares"] == pytest.approx(expected)
    w.abort()


def test_consistency_step_compares_halves_with_each_other_and_with_base(store, tmp_path):
    opts, models, w = _run(store, tmp_path)
    split = st.split_step(w, models, opts)
    cons = st.consistency_step(w, models, split, opts)
    k = {(a, b): cohen_kappa_score(_final_correct(a), _final_correct(b)) for a in PRED for b in PRED if a != b}
    each = cons.headline["each_other"]["half"]
    assert each["kappa_each_other"] == pytest.approx(k[("half-a", "half-b")], abs=1e-12)
    assert each["kappa_with_base"] == pytest.approx((k[("half-a", "base")] + k[("half-b", "base")]) / 2, abs=1e-12)
    assert cons.headline["mean_kappa"] == pytest.approx(np.mean(list(k.values())), abs=1e-12)
    conds = w.result.tables[-1].frame
    assert list(zip(conds["condition"], conds["comparison"])) == [
        ("copy", "with base"), ("half", "with base"), ("half", "each other"), ("arch", "with base")]
    pairs = next(t.frame for t in w.result.tables if t.name == "consistency_pairs")
    within = pairs[pairs["comparison"] == "each other"]
    assert sorted(zip(within["model_id"], within["partner_model_id"])) == [("half-a", "half-b"), ("half-b", "half-a")]
    w.abort()


def test_identical_step_finds_copies_and_gives_means_without_them(store, tmp_path):
    opts, models, w = _run(store, tmp_path)
    split = st.split_step(w, models, opts)
    cons = st.consistency_step(w, models, split, opts)
    ep = summarise_epochs(store, models.ids, models.sd.keep, progress=False)
    out = st.identical_step(w, models, ep, cons)
    assert out["identical_models"] == [["base", "copy-1"]]
    rest = ["base", "half-a", "half-b", "arch"]
    kappas = [cohen_kappa_score(_final_correct(a), _final_correct(b)) for a in rest for b in rest if a != b]
    assert out["mean_kappa_without_identical"] == pytest.approx(np.mean(kappas), abs=1e-12)
    table = next(t.frame for t in w.result.tables if t.name == "identical_models")
    assert table.to_dict("list") == {"group": [1, 1], "model_id": ["base", "copy-1"], "condition": ["base", "copy"], "kept": [True, False]}
    assert any("base = copy-1" in n for n in w.result.notes)
    w.abort()


def test_identical_groups_need_equal_probabilities_where_both_stored():
    prints = {"a": "x", "b": "x", "c": "x", "d": "y"}
    probs = {"a": np.array([0.1, 0.9]), "b": np.array([0.1, 0.9]), "c": np.array([0.2, 0.8]), "d": None}
    assert identical_groups(list(prints), prints) == [["a", "b", "c"]]
    assert identical_groups(list(prints), prints, probs.get) == [["a", "b"]]
    k = np.array([[1, 1, 0.2], [1, 1, 0.4], [0.2, 0.4, 1]])
    assert mean_off_diagonal(k, ["a", "b", "c"]) == pytest.approx((1 + 0.2 + 0.4) / 3)
    assert mean_off_diagonal(k, ["a", "b", "c"], {"b"}) == pytest.approx(0.2)


def _flips_by_loop(m: str, what: str, start: int) -> float:
    """Mean over transitions (from epoch `start`) of the share of images whose label / correctness changes."""
    p = [np.array(row) for row in PRED[m]]
    values = [row if what == "label" else row == LABELS for row in p]
    shares = [sum(values[e][i] != values[e + 1][i] for i in range(10)) / 10 for e in range(start, len(p) - 1)]
    return sum(shares) / len(shares)


def test_epochs_step_flips_under_both_definitions(store, tmp_path):
    opts, models, w = _run(store, tmp_path)
    ep = summarise_epochs(store, models.ids, models.sd.keep, progress=False)
    h = st.epochs_step(w, models, ep)
    for what, key in (("label", "label_flip_share"), ("correct", "correctness_flip_share")):
        assert h[key] == pytest.approx(np.mean([_flips_by_loop(m, what, 1) for m in PRED]))
        assert h[f"{key}_all_transitions"] == pytest.approx(np.mean([_flips_by_loop(m, what, 0) for m in PRED]))
    assert _flips_by_loop("arch", "label", 1) > _flips_by_loop("arch", "correct", 1)
    final = np.vstack([_final_correct(m) for m in PRED])
    assert h["tpa_final_decisions"] == pytest.approx(final.all(axis=0).sum() / final.any(axis=0).sum())
    assert h["last_common_epoch"] == 2
    w.abort()


def test_mean_flip_share_weighs_models_equally():
    flips = pd.DataFrame({"model_id": ["a", "a", "a", "b"], "from_epoch": [0, 1, 2, 0], "x": [0.5, 0.1, 0.3, 0.4]})
    assert st.mean_flip_share(flips, "x") == pytest.approx(0.2)  # only a has transitions from epoch 1
    assert st.mean_flip_share(flips, "x", None) == pytest.approx((0.3 + 0.4) / 2)


def test_classes_step(store, tmp_path):
    opts, models, w = _run(store, tmp_path)
    st.classes_step(w, models)
    tab = w.result.tables[0].frame.set_index("label")
    final = np.vstack([_final_correct(m) for m in models.ids])
    for c in range(3):
        assert tab.loc[c, "accuracy"] == pytest.approx(final[:, LABELS == c].mean())
    w.abort()


def test_analyse_study_headline_has_a_label_for_every_number(store, tmp_path):
    from analysis.models.ddd import analyse_study
    from analysis.models.headline import headline_rows

    res = analyse_study(store.path, tmp_path / "out", st.DDDOptions(tolerance=0, n_boot=20, progress=False), figures=False)
    rows = headline_rows(res.headline)
    labels = [r[0] for r in rows]
    assert not any("." in label or "_" in label for label in labels), labels
    assert "error consistency, half: with each other" in labels
    assert dict((r[0], r[1]) for r in rows)["bit-identical models"] == "base = copy-1"


def test_format_p_below_the_floating_point_range():
    from analysis.models.headline import format_p

    assert format_p(0.0123) == "p = 0.012"
    assert format_p(0.0, -1190.84) == "p < 1e-300 (log10 p = -1190.8)"
    assert format_p(1e-310, -309.9) == "p < 1e-300 (log10 p = -309.9)"


def test_headline_rows_refuse_a_key_without_label():
    from analysis.models.headline import headline_rows

    assert headline_rows({"n_models": 3, "shares": {"trivial": 0.5}}) == [
        ("models", "3", "models behind the counts (of a store: its complete models, each at its final committed epoch)"),
        ("trivial images", "50.0 %", "share of images at least m - k models get right")]
    with pytest.raises(KeyError, match="'shares.easy' has no label"):
        headline_rows({"shares": {"easy": 0.5}})
