"""The report's learning-dynamics section on a written store: without the optional arrays it says
which study options turn them on; with them (the coming Study readers patched in) it draws the
data map and the RSA figures from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.report.context import Context, ReportConfig
from fake_study import true_class_probabilities


def _section(tmp_path: Path, study_path: Path):  # type: ignore[no-untyped-def]
    from analysis.report.section_dynamics import section_dynamics

    cfg = ReportConfig(runs=study_path.parent, study=study_path.name, data_root=tmp_path / "none",
                       stimuli=[tmp_path / "none"], base="base")
    ctx = Context(cfg, tmp_path / "r_files")
    ctx.work.mkdir()
    return section_dynamics(ctx), ctx


def test_section_without_optional_arrays(tmp_path: Path, structured_study) -> None:  # type: ignore[no-untyped-def]
    sec, ctx = _section(tmp_path, structured_study.path)
    html = "".join(sec.parts)
    assert sec.available
    assert "[store] epoch_probabilities = true" in html and "[store] activations = N" in html
    assert "save_train_decisions = true" in html and "--image-stats" in html
    names = {f["name"] for f in ctx.figures}
    assert {"dynamics_by_category", "dynamics_irt", "dynamics_correlations"} <= names
    assert "dynamics_data_map" not in names
    per_image = pd.read_csv(ctx.tables["dynamics_per_image"])
    final = structured_study.final_decisions().correct
    np.testing.assert_allclose(per_image["share_models_correct"], final.mean(axis=0))
    ids = structured_study.model_ids(status="complete")
    events = np.mean([np.count_nonzero(c[:-1] & ~c[1:], axis=0) for c in
                      (structured_study.epoch_decisions(m).correct[1:] for m in ids)], axis=0)
    np.testing.assert_allclose(per_image["forgetting_events"], events)
    assert -1 <= ctx.numbers["dynamics.spearman_iteration_learned_share_correct"] < -0.5


def test_section_with_probabilities_and_activations(tmp_path: Path, structured_study, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from model_runs.store import Study

    probs = true_class_probabilities(structured_study, 2)
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(40, 8))
    acts = {m: (np.arange(0, 80, 2), shared + 0.3 * rng.normal(size=(40, 8))) for m in probs}
    monkeypatch.setattr(Study, "epoch_probabilities", lambda self, m, split="val": probs[m].astype(np.float16), raising=False)
    monkeypatch.setattr(Study, "activations", lambda self, m: acts[m], raising=False)
    sec, ctx = _section(tmp_path, structured_study.path)
    names = {f["name"] for f in ctx.figures}
    assert {"dynamics_data_map", "dynamics_data_map_model", "dynamics_rsa_rdm", "dynamics_rsa_cka"} <= names
    html = "".join(sec.parts)
    assert "epoch_probabilities = true" not in html and "activations = N" not in html
    per_image = pd.read_csv(ctx.tables["dynamics_per_image"])
    ids = structured_study.model_ids(status="complete")
    conf = np.mean([probs[m].astype(np.float16).astype(float)[1:].mean(axis=0) for m in ids], axis=0)
    np.testing.assert_allclose(per_image["confidence"], conf, rtol=1e-9)
    pairs = pd.read_csv(ctx.tables["dynamics_rsa_rdm_pairs"])
    assert set(pairs["base_model"]) == {m for m in ids if m.startswith("base")}
    assert (pairs["n_images"] == 40).all() and (pairs["similarity"] > 0.5).all()


def test_section_with_questionnaire_sessions(tmp_path: Path, structured_study) -> None:  # type: ignore[no-untyped-def]
    """Questionnaire answers are matched to the study's images through source_image_id (val/i)."""
    from scipy import stats

    from analysis.report.section_dynamics import section_dynamics
    from human_data import write_questionnaire_session, write_questionnaire_set

    sset = write_questionnaire_set(tmp_path / "sets", "q", ["trivial"] * 12, [10] * 12)
    data = tmp_path / "lab_data"
    for k, pid in enumerate(["sub-001", "sub-002"]):
        write_questionnaire_session(data, pid, sset, {f"s{i + 1}": ((i * 7 + k) % 11, ["yes", "maybe", "no"][(i + k) % 3], "no")
                                                      for i in range(12)})
    cfg = ReportConfig(runs=structured_study.path.parent, study=structured_study.path.name, data_root=data,
                       stimuli=[tmp_path / "sets"], base="base")
    ctx = Context(cfg, tmp_path / "r_files")
    ctx.work.mkdir()
    section_dynamics(ctx)
    q = pd.read_csv(ctx.tables["dynamics_questionnaire"]).set_index(["measure", "correlate"])
    per_image = pd.read_csv(ctx.tables["dynamics_per_image"])
    mean_n = np.array([np.mean([(i * 7 + k) % 11 for k in range(2)]) for i in range(12)])
    want = stats.spearmanr(per_image["iteration_learned"][:12], mean_n).statistic
    assert q.loc[("iteration_learned", "mean_n_categories"), "spearman_r"] == pytest.approx(want)
    assert (q["n_images"] == 12).all()
    assert "dynamics_questionnaire" in {f["name"] for f in ctx.figures}


def test_section_with_training_decisions(tmp_path: Path, make_study) -> None:  # type: ignore[no-untyped-def]
    """Agreement on training images per epoch, from the stored training decisions."""
    from analysis.report.section_dynamics import section_dynamics

    rng = np.random.default_rng(4)
    val = {m: rng.random((3, 30)) < 0.6 for m in ("base-a", "base-b", "other-a")}
    train = {m: [(np.arange(20), rng.random(20) < p) for p in (0.3, 0.6, 0.9)] for m in val}
    study = make_study(val, name="withtrain", train=train)
    cfg = ReportConfig(runs=study.path.parent, study=study.path.name, data_root=tmp_path / "none",
                       stimuli=[tmp_path / "none"], base="base")
    ctx = Context(cfg, tmp_path / "r_files")
    ctx.work.mkdir()
    sec = section_dynamics(ctx)
    assert "dynamics_train_agreement" in {f["name"] for f in ctx.figures}
    assert "save_train_decisions" not in "".join(sec.parts)
    got = pd.read_csv(ctx.tables["dynamics_train_agreement"])
    for e in (0, 1, 2):
        c = np.vstack([train[m][e][1] for m in ("base-a", "base-b", "other-a")])
        assert got.loc[got["epoch"] == e, "tpa"].item() == pytest.approx(c.all(axis=0).sum() / c.any(axis=0).sum())
