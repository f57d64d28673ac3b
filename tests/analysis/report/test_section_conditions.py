"""The report's conditions, superclasses and simulations sections, end to end through
`python -m analysis.report`, against direct computations (sklearn's kappa, pandas counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.models.ddd_simulation import fit_beta_binomial
from analysis.models.superclasses import read_superclasses
from analysis.report.cli import main as report_main
from labutil.errors import run_cli


def run_store_report(study, base):
    """The report of a store; returns (correctness per model, report_files folder, HTML)."""
    code = run_cli(report_main, ["--runs", str(study.path.parent), "--study", study.path.name, "--stimuli", str(base / "none"),
                                 "--data-root", str(base / "none"), "--out", str(base / "out"), "--n-boot", "100"])
    assert code == 0
    correct = {m: study.epoch_decisions(m).correct for m in study.model_ids()}
    return correct, base / "out" / "report_files", (base / "out" / "report.html").read_text()


def test_store_sections(structured_study, tmp_path):
    """One report of the shared 6-model store (base x 3, seed x 2, arch x 1; 5 epochs), checked section by section."""
    c, files, html = run_store_report(structured_study, tmp_path)
    check_condition_matrix(c, files, html)
    check_epoch_tables(c, files, html)
    check_per_class_and_simulations(structured_study, c, files, html)


def check_condition_matrix(c, files, html):
    mat = pd.read_csv(files / "tables" / "conditions_matrix_all.csv").set_index("condition")
    final = {m: v[-1] for m, v in c.items()}
    base = [m for m in c if m.startswith("base")]
    seed = [m for m in c if m.startswith("seed")]
    expected = np.mean([cohen_kappa_score(final[a], final[b]) for a in base for b in seed])
    assert mat.loc["base", "seed"] == pytest.approx(expected, abs=1e-9)
    within = np.mean([cohen_kappa_score(final[a], final[b]) for a in base for b in base if a != b])
    assert mat.loc["base", "base"] == pytest.approx(within, abs=1e-9) and np.isnan(mat.loc["arch", "arch"])
    assert 'id="fig-conditions_matrix"' in html and "in-between images only" in html


def check_epoch_tables(c, files, html):
    wb = pd.read_csv(files / "tables" / "epochs_kappa_with_base.csv")
    row = wb[(wb.model_id == "seed-s0") & (wb.epoch == 2)].iloc[0]
    base = [m for m in c if m.startswith("base")]
    assert row["kappa"] == pytest.approx(np.mean([cohen_kappa_score(c["seed-s0"][2], c[b][2]) for b in base]), abs=1e-9)
    own = wb[(wb.model_id == "base-s1") & (wb.epoch == 4)].iloc[0]
    assert own["kappa"] == pytest.approx(np.mean([cohen_kappa_score(c["base-s1"][4], c[b][4]) for b in ("base-s0", "base-s2")]))
    cons = pd.read_csv(files / "tables" / "epochs_kappa_consecutive.csv")
    r = cons[(cons.model_id == "arch-s0") & (cons.to_epoch == 3)].iloc[0]
    assert r["kappa"] == pytest.approx(cohen_kappa_score(c["arch-s0"][2], c["arch-s0"][3]))
    shift = pd.read_csv(files / "tables" / "epochs_shift_models.csv").set_index("model_id")
    curve = [np.mean([cohen_kappa_score(c["arch-s0"][-1], c[b][e]) for b in base]) for e in range(5)]
    assert shift.loc["arch-s0", "best_base_epoch"] == int(np.argmax(curve)) and shift.loc["arch-s0", "nominal_shift"] == 0
    for name in ("epochs_kappa_with_base", "epochs_kappa_consecutive", "epochs_shift"):
        assert f'id="fig-{name}"' in html and (files / "figures" / f"{name}.png").is_file()


def check_per_class_and_simulations(study, c, files, html):
    assert "applies to ImageNet-labelled data only" in html
    counts = pd.read_csv(files / "tables" / "class_difficulty.csv")
    n_right = np.sum([v[-1] for v in c.values()], axis=0)
    levels = np.where(n_right >= 5, "trivial", np.where(n_right <= 1, "impossible", "in-between"))  # 6 models, k = 1
    names = study.images["class_name"].to_numpy()
    cross = pd.crosstab(names, levels)
    row = counts.set_index("group").loc["class02"]
    assert row["n_trivial"] == cross.loc["class02"].get("trivial", 0) and row["n_images"] == (names == "class02").sum()
    sims = pd.read_csv(files / "tables" / "simulations_ddd.csv")
    assert len(sims) == 11 and (sims["n_models"] == 6).all() and sims["scenario"].iloc[-1].endswith("fitted to structured")
    fit = pd.read_csv(files / "tables" / "simulations_ddd_fit.csv").iloc[0]
    ref = fit_beta_binomial(n_right, 6)
    assert fit["a"] == pytest.approx(ref["a"]) and fit["b"] == pytest.approx(ref["b"])
    assert 'id="fig-simulations_ddd"' in html and 'id="fig-class_difficulty"' in html


def test_superclasses_from_an_imagenet_table_and_no_conditions(tmp_path):
    rng = np.random.default_rng(0)
    classes = read_superclasses()
    idx = rng.integers(0, 1000, 3000)
    table = pd.DataFrame({"val_index": np.arange(3000), "wnid": classes["wnid"].to_numpy()[idx], "class_index": idx,
                          "sota_n_correct": rng.integers(0, 12, 3000), "label_error_mturk": 0})
    path = tmp_path / "per_image.csv"
    table.to_csv(path, index=False)
    code = run_cli(report_main, ["--model-table", str(path), "--stimuli", str(tmp_path / "none"),
                                 "--data-root", str(tmp_path / "none"), "--out", str(tmp_path / "out"), "--n-boot", "100"])
    assert code == 0
    files = tmp_path / "out" / "report_files"
    html = (tmp_path / "out" / "report.html").read_text()
    assert "not which ones" in html and "Tsipras et al." in html
    got = pd.read_csv(files / "tables" / "superclass_difficulty.csv").set_index("group")
    n = table["sota_n_correct"]
    level = np.where(n >= 10, "trivial", np.where(n <= 1, "impossible", "in-between"))
    sc = classes.set_index("class_index").loc[idx, "superclass"].to_numpy()
    cross = pd.crosstab(sc, level)
    assert got.loc["Dogs", "n_impossible"] == cross.loc["Dogs", "impossible"]
    assert got["n_images"].sum() == 3000 and len(got) == 11
    sims = pd.read_csv(files / "tables" / "simulations_ddd.csv")
    assert (sims["n_models"] == 11).all()
