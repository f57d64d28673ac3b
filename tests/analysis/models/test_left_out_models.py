"""The DDD analysis names the models it leaves out (not complete) and how to finish them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.models.ddd import analyse_study


def test_incomplete_models_are_named_in_the_notes(make_study, tmp_path: Path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    correct = {m: rng.random((2, 40)) < 0.7 for m in ("base-0", "base-1", "base-2", "lr-0", "lr-1")}
    study = make_study(correct, status={"lr-0": "running", "lr-1": "failed"})
    res = analyse_study(study.path, tmp_path / "out", figures=False, progress=False)
    assert res.headline["n_models"] == 3
    assert (f"left out 2 of 5 models that are not complete (running: lr-0; failed: lr-1): the analysis uses complete "
            f"models only; python -m model_runs resume {study.path} finishes them") in res.notes


def test_summary_says_why_a_number_is_missing_instead_of_nan(make_study, tmp_path: Path) -> None:  # noqa: ANN001
    from analysis.models.ddd import format_study_summary

    rng = np.random.default_rng(0)
    study = make_study({m: rng.random((2, 60)) < 0.7 for m in ("base-0", "lr-0", "arch-0")})  # one model per condition
    text = format_study_summary(analyse_study(study.path, tmp_path / "out", figures=False, progress=False).headline)
    assert "nan" not in text
    assert "flips per epoch (from epoch 1): predicted label n/a (needs two trained epochs)" in text


def test_no_progress_shows_no_bars(make_study, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LAB_PROGRESS", "bar")  # every bar would print, inner ones too; progress=False hides them all
    rng = np.random.default_rng(1)
    study = make_study({m: rng.random((3, 30)) < 0.7 for m in ("base-0", "base-1", "base-2")})
    analyse_study(study.path, tmp_path / "quiet", figures=False, progress=False)
    assert capsys.readouterr().err == ""
    analyse_study(study.path, tmp_path / "shown", figures=False, progress=True)
    assert "DDD analysis" in capsys.readouterr().err
