"""The real demo study: trains on 2 CPU cores and yields trivial, impossible and in-between images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model_runs.store import open_study
from model_runs.study_files import load_study
from model_runs.sweep import run_sweep
from model_runs.train import Execution


@pytest.mark.slow
def test_demo_study_has_all_three_difficulties(tmp_path: Path) -> None:
    spec = load_study("demo")
    outcomes = run_sweep(spec, tmp_path / "demo", Execution(device="cpu", quiet=True), workers=2, log_dir=str(tmp_path / "logs"), quiet=True)
    assert len(outcomes) == len(spec.models) >= 10
    assert all(o.status == "complete" for o in outcomes), [o for o in outcomes if o.status != "complete"]
    study = open_study(tmp_path / "demo")
    labels = study.images["label"].to_numpy()
    for entry in spec.models:
        e = study.epoch_decisions(entry["model_id"])
        assert e.epochs.tolist() == list(range(entry["epochs"] + 1))
        assert np.array_equal(e.correct, e.prediction == labels[None, :])
    final = study.final_decisions()
    n_models = len(final.model_ids)
    n_correct = final.correct.sum(axis=0)
    trivial = int((n_correct == n_models).sum())
    impossible = int((n_correct <= 1).sum())  # tolerance k = 1: all but one model wrong
    between = int(((n_correct > 1) & (n_correct < n_models)).sum())
    print(f"demo: {n_models} models, {len(labels)} images: trivial {trivial}, impossible(k=1) {impossible}, in-between {between}")
    assert trivial >= 30 and impossible >= 30 and between >= 30
    accuracies = final.correct.mean(axis=1)
    assert accuracies.max() - accuracies.min() > 0.05
