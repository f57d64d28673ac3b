"""The whole DDD analysis of small stores: pinned numbers, every figure written, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.models.ddd import analyse_study, main
from labutil.errors import run_cli
from model_runs.store import create_study

FINAL = {
    "base-a": [1, 1, 1, 1, 0, 0, 0, 1],
    "base-b": [1, 1, 1, 0, 0, 0, 1, 1],
    "seed-a": [1, 1, 1, 1, 0, 0, 0, 0],
    "arch-a": [1, 1, 0, 1, 0, 1, 0, 1],
}
EPOCH1 = [1, 1, 0, 0, 0, 0, 0, 0]
FIGURES = {
    "histogram", "kappa_matrix", "kappa_matrix_inbetween", "consistency_conditions", "consistency_conditions_inbetween",
    "decision_map", "decision_overlay", "flips", "label_flips", "accuracy_per_epoch", "agreement", "class_accuracy",
}


def _tiny(make_study, **kw):
    correct = {m: np.array([[0] * 8, EPOCH1, f], bool) for m, f in FINAL.items()}
    correct["late-r"] = np.array([EPOCH1], bool)  # a running model: ignored
    return make_study(correct, status={"late-r": "running"}, **kw)


@pytest.mark.slow
def test_tiny_study_pinned(make_study, tmp_path):
    study = _tiny(make_study)
    res = analyse_study(study.path, tmp_path / "out", tolerance=0, n_boot=200, progress=False)
    h = res.headline
    assert h["n_models"] == 4 and h["n_images"] == 8
    # models correct per image: 4 4 3 3 0 1 1 3
    assert h["shares"] == {"trivial": 2 / 8, "in-between": 5 / 8, "impossible": 1 / 8}
    assert res.table("histogram")["n_images"].tolist() == [1, 2, 0, 3, 2]
    # kappa(base-a, base-b): c_obs 6/8, c_exp 34/64 -> 14/30
    models = res.table("consistency_models").set_index("model_id")
    assert models.loc["base-a", "kappa"] == pytest.approx(7 / 15, abs=1e-12)
    assert models.loc["base-b", "kappa"] == pytest.approx(7 / 15, abs=1e-12)
    # seed-a against base-a: c_obs 7/8, p 5/8 and 4/8 -> c_exp 1/2 -> 3/4
    # seed-a against base-b: c_obs 5/8 -> 1/4; mean 1/2
    assert models.loc["seed-a", "kappa"] == pytest.approx(0.5, abs=1e-12)
    conds = res.table("consistency_conditions")
    assert conds["condition"].tolist() == ["base", "seed", "arch"]  # base first, then as in study.toml
    assert conds.set_index("condition").loc["seed", "kappa_mean"] == pytest.approx(0.5)
    # flips: e1 -> e2 changes 3, 3, 2, 3 of 8 images; e0 -> e1 changes 2 of 8 for every model. A wrong
    # decision here always predicts label + 1, so labels flip exactly when correctness does.
    assert h["correctness_flip_share"] == pytest.approx(11 / 32)
    assert h["label_flip_share"] == pytest.approx(11 / 32)
    # all transitions, averaged the same way: per model (2/8 + f_m) / 2, then the mean over models
    assert h["correctness_flip_share_all_transitions"] == pytest.approx((8 / 32 + 11 / 32) / 2)
    assert h["label_flip_share_all_transitions"] == pytest.approx((8 / 32 + 11 / 32) / 2)
    flips = res.table("flips")
    assert flips[(flips.model_id == "base-a")]["correctness_flip_share"].tolist() == pytest.approx([0.25, 0.375])
    # true-positive agreement of the final decisions: 2 images all right of 7 any right; here the
    # final epoch is the last common one
    assert h["tpa_final_decisions"] == pytest.approx(2 / 7) and h["tpa_last_common_epoch"] == pytest.approx(2 / 7)
    assert h["last_common_epoch"] == 2
    assert h["identical_models"] == [] and h["mean_kappa_without_identical"] == h["mean_kappa"]
    agreement = res.table("agreement")
    assert np.isnan(agreement["tpa"][0])
    assert agreement["tpa"].tolist()[1:] == pytest.approx([1.0, 2 / 7])
    assert agreement["tpa_lower_bound"].tolist() == [0.0, 0.0, 0.0]
    classes = res.table("class_accuracy").set_index("label")
    assert classes["accuracy"].to_dict() == pytest.approx({0: 0.5, 1: 5 / 8, 2: 0.5, 3: 0.75})
    acc = res.table("accuracy_per_epoch")
    assert acc[acc.model_id == "seed-a"]["accuracy"].tolist() == pytest.approx([0.0, 0.25, 0.5])
    # the in-between-only consistency uses the 5 in-between images 2, 3, 5, 6, 7
    ib = res.table("consistency_pairs_inbetween")
    assert set(ib["n_images"]) == {5}
    # every figure as PNG and SVG, tables as CSV, the headline as JSON
    assert {f.name for f in res.figures} == FIGURES
    for f in res.figures:
        assert f.png.stat().st_size > 1000 and f.svg.stat().st_size > 1000 and f.caption
    for t in res.tables:
        assert pd.read_csv(t.csv).shape[0] == len(t.frame)
    saved = json.loads((tmp_path / "out" / "headline.json").read_text())
    assert saved["headline"]["shares"]["trivial"] == 0.25


def test_cli_excludes_label_issues(make_study, tmp_path, capsys, monkeypatch):
    study = _tiny(make_study)
    flags = tmp_path / "flags.csv"
    flags.write_text("image_id,label_error_mturk\n" + "".join(f"val/{i},{int(i in (4, 7))}\n" for i in range(8)))
    monkeypatch.chdir(tmp_path)
    code = run_cli(main, [str(study.path), "-k", "0", "--label-issues", str(flags), "--exclude-label-issues",
                          "--n-boot", "50", "--no-progress", "--no-figures"])
    out = capsys.readouterr().out
    assert code == 0, out
    out_dir = tmp_path / "reports" / study.path.name / "ddd"
    assert "wrote 0 figures and 18 tables to reports/study/ddd" in out
    per_image = pd.read_csv(out_dir / "per_image.csv")
    assert per_image["image_index"].tolist() == [0, 1, 2, 3, 5, 6]
    # remaining counts 4 4 3 3 1 1
    assert "trivial 33.3%, in-between 66.7%, impossible 0.0%" in out
    headline = json.loads((out_dir / "headline.json").read_text())["headline"]
    assert headline["label_issues"] == 2 and headline["label_issues_excluded"] is True


@pytest.mark.slow
def test_gaussian_study_with_image_stats(make_study, tmp_path):
    rng = np.random.default_rng(0)
    n_classes, per_class = 6, 6
    labels = np.repeat(np.arange(n_classes), per_class)
    # class accuracy falls with the class SD, as it does for the Gaussian dataset
    p = np.linspace(0.95, 0.3, n_classes)[labels]
    correct = {f"base-{i}": rng.random((2, len(labels))) < p for i in range(3)}
    correct["wide-0"] = rng.random((2, len(labels))) < p
    study = make_study(correct, labels=labels, n_classes=n_classes, dataset={"name": "gaussian", "size": 8})
    sds = labels + 1.0

    def getter(i):  # images like the dataset's: N(128, sd^2) pixels
        g = np.random.default_rng(i).normal(128, sds[i], (12, 12))
        return np.clip(g, 0, 255).astype(np.uint8)

    res = analyse_study(study.path, tmp_path / "out", tolerance=1, image_stats=True, image_getter=getter,
                        cache_dir=tmp_path / "cache", n_boot=50, progress=False,
                        figures={"gaussian_kl", "image_stats_difficulty", "image_stats_agreement"})
    names = {f.name for f in res.figures}
    assert names == {"gaussian_kl", "image_stats_difficulty", "image_stats_agreement"}
    kl = res.table("gaussian_kl")
    assert kl["sd"].tolist() == [1, 2, 3, 4, 5, 6]
    assert kl["kl_to_higher"][0] == pytest.approx(np.log(2) + 1 / 8 - 0.5)
    stats = res.table("image_stats")
    assert len(stats) == len(labels)
    # noisier images have more local entropy
    assert stats["local_entropy"][labels == 5].mean() > stats["local_entropy"][labels == 0].mean()
    assert list((tmp_path / "cache").glob("image_stats-*.parquet"))


def test_user_errors(make_study, tmp_path, capsys):
    def err(args):
        code = run_cli(main, args)
        e = capsys.readouterr().err
        assert code == 2 and e.startswith("error: ") and e.count("\n") == 1, e
        return e

    empty = create_study(tmp_path / "empty", {"name": "empty"}, pd.DataFrame(
        {"image_index": [0, 1], "image_id": ["a", "b"], "label": [0, 1], "class_name": ["x", "y"]}))
    assert "empty store" in err([str(empty.path), "--out", str(tmp_path / "o1")])
    assert "not a study folder" in err([str(tmp_path / "nowhere")])
    study = _tiny(make_study)
    assert "no models of base condition 'control'" in err([str(study.path), "--base", "control", "--out", str(tmp_path / "o2")])
    assert "--tolerance 2" in err([str(study.path), "-k", "2", "--out", str(tmp_path / "o3")])
    assert "--map-model 'zzz'" in err([str(study.path), "--map-model", "zzz", "--out", str(tmp_path / "o4")])
    assert "no model stored final-epoch probabilities" in err([str(study.path), "--exclude-label-issues", "--out", str(tmp_path / "o5")])
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 6))


def test_failed_run_leaves_earlier_outputs(make_study, tmp_path):
    from labutil.errors import UserError

    study = _tiny(make_study)
    out = tmp_path / "out"
    analyse_study(study.path, out, tolerance=0, n_boot=20, progress=False, figures={"histogram"})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "histogram.png" in before

    def broken(i):
        raise UserError("images unavailable")

    with pytest.raises(UserError, match="images unavailable"):
        analyse_study(study.path, out, tolerance=1, n_boot=20, progress=False, figures=False, image_stats=True,
                      image_getter=broken, cache_dir=tmp_path / "cache")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    # a later run without figures removes the figure it no longer makes
    analyse_study(study.path, out, tolerance=0, n_boot=20, progress=False, figures=False)
    names = {p.name for p in out.iterdir()}
    assert "histogram.png" not in names and "histogram.csv" in names


def test_summary_splits_at_k0_and_k1_with_and_without_label_issues(tmp_path):
    from analysis.models.ddd import summarise_table

    rng = np.random.default_rng(5)
    n_ok = rng.integers(0, 12, 400)
    bad = rng.random(400) < 0.1
    table = tmp_path / "t.csv"
    pd.DataFrame({"sota_n_correct": n_ok, "label_error_mturk": bad.astype(int)}).to_csv(table, index=False)
    splits = summarise_table(table, label_col="label_error_mturk").table("splits")
    assert list(zip(splits["tolerance"], splits["label_issues"])) == [(0, "included"), (0, "excluded"), (1, "included"), (1, "excluded")]
    for _, r in splits.iterrows():
        n = n_ok if r["label_issues"] == "included" else n_ok[~bad]
        k = r["tolerance"]
        assert r["n_images"] == len(n)
        assert r["trivial"] == pytest.approx(np.mean(n >= 11 - k)) and r["impossible"] == pytest.approx(np.mean(n <= k))
        assert r["in-between"] == pytest.approx(np.mean((n > k) & (n < 11 - k)))


def test_published_table_splits():
    """The paper's 46.0 / 42.5 / 11.5 % at k = 1 and, without the 2,916 MTurk label errors, 48.7 / 43.0 / 8.3 %."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from reference_data import REFERENCE_DIR

    from analysis.models.ddd import summarise_table

    table = REFERENCE_DIR / "imagenet_val_sota11_per_image.csv"
    if not table.is_file():
        pytest.skip(f"published reference data not found at {REFERENCE_DIR}")
    res = summarise_table(table, label_col="label_error_mturk")
    s = res.table("splits").set_index(["tolerance", "label_issues"])
    raw = pd.read_csv(table)
    assert int(raw["label_error_mturk"].sum()) == 2916 == res.headline["n_label_issues"]
    assert (100 * s.loc[(1, "included"), ["trivial", "in-between", "impossible"]]).round(1).tolist() == [46.0, 42.5, 11.5]
    assert (100 * s.loc[(1, "excluded"), ["trivial", "in-between", "impossible"]]).round(1).tolist() == [48.7, 43.0, 8.3]
    n = raw.loc[raw["label_error_mturk"] == 0, "sota_n_correct"].to_numpy()
    assert s.loc[(0, "excluded"), "trivial"] == pytest.approx(np.mean(n == 11))
