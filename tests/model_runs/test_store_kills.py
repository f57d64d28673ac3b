"""A model's run killed at every write of the store (before each rename and fsync), then resumed,
stores the uninterrupted run's decisions and leaves no temporary file behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from kill_points import killed_at
from labutil.io import find_temp_files
from model_runs.store import ModelWriter, create_study, open_study

LABELS = np.array([0, 1, 2, 0, 1, 2])
PREDS = [[0, 0, 0, 0, 0, 0], [0, 1, 2, 1, 1, 0], [0, 1, 2, 0, 1, 1]]
DEFINITION = {"name": "t", "dataset": {"name": "digits", "seed": 0}, "models": [{"model_id": "a", "condition": "base"}]}


def _images() -> pd.DataFrame:
    return pd.DataFrame({"image_index": np.arange(6), "image_id": [f"val/{i}" for i in range(6)],
                         "label": LABELS, "class_name": [f"c{v}" for v in LABELS]})


def _run(study_dir: Path) -> None:
    """Start or resume model a and commit the epochs run.json does not list yet, then finish."""
    study = open_study(study_dir)
    w = ModelWriter(study, "a")
    info = w.start({"condition": "base", "config": {"seed": 1}})
    if info.get("status") == "complete":
        return
    done = {int(e["epoch"]) for e in info["epochs"]}
    for epoch, p in enumerate(PREDS):
        if epoch not in done:
            w.commit_epoch(epoch, np.array(p), {"val_loss": 1.0 / (epoch + 1)})
    w.finish()


def _killed_run(study_dir: Path, at: int) -> bool:
    """The work in a child killed before its `at`-th write event (tests/kill_points.py)."""
    return killed_at(at, lambda: _run(study_dir))


def test_a_run_killed_at_every_store_write_resumes_to_the_uninterrupted_decisions(tmp_path: Path) -> None:
    create_study(tmp_path / "ref", DEFINITION, _images())
    _run(tmp_path / "ref")
    want = open_study(tmp_path / "ref").epoch_decisions("a")
    files = sorted(p.name for p in (tmp_path / "ref" / "models" / "a").iterdir())
    assert files == ["correct.bits", "prediction.int16", "run.json"]  # store format 2
    at, leftovers_seen = 1, 0
    while True:
        study_dir = tmp_path / f"k{at}"
        create_study(study_dir, DEFINITION, _images())
        if not _killed_run(study_dir, at):
            break
        leftovers_seen += bool(find_temp_files(study_dir / "models", recursive=True))
        _run(study_dir)
        got = open_study(study_dir).epoch_decisions("a")
        np.testing.assert_array_equal(got.epochs, want.epochs)
        np.testing.assert_array_equal(got.prediction, want.prediction)
        assert open_study(study_dir).run_info("a")["status"] == "complete", at
        assert find_temp_files(study_dir / "models", recursive=True) == [], at
        assert sorted(p.name for p in (study_dir / "models" / "a").iterdir()) == files, at
        at += 1
    assert at > 20 and leftovers_seen >= 5, (at, leftovers_seen)


def test_resume_removes_old_and_new_style_temporary_files(tmp_path: Path) -> None:
    study = create_study(tmp_path / "s", DEFINITION, _images())
    w = ModelWriter(study, "a")
    w.start({"condition": "base", "config": {"seed": 1}})
    mdir = study.model_dir("a")
    (mdir / "checkpoints").mkdir()
    stale = [mdir / ".run.json.999999-0123456789ab.tmp", mdir / "checkpoints" / ".epoch-0001.pt.1a2b3c4d5e6f.tmp",
             mdir / f".decisions.epoch-0000.parquet.{os.getpid()}-00ff00ff00ff.tmp"]  # a live pid: still ours to remove
    for p in stale:
        p.write_bytes(b"partial")
    keep = mdir / "notes.txt"
    keep.write_text("not a temporary file")
    ModelWriter(study, "a").start({"condition": "base", "config": {"seed": 1}})
    assert [p for p in stale if p.exists()] == [] and keep.exists()
