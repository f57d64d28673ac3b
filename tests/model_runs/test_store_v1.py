"""Stores of format 1 (Parquet, written by the writer of commit 6a8040d) still load, migrate to
format 2 with the same arrays, and an unfinished format-1 run resumes in format 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from model_runs.store import ModelWriter, migrate_model, migrate_study, open_study

V1 = Path(__file__).parent / "data" / "store_v1"
LABELS = pq.read_table(V1 / "images.parquet").column("label").to_numpy()
PREDS = np.load(V1 / "expected_predictions.npy")  # (model done / going, epoch, image)


def _snapshot(study) -> dict[str, object]:
    """Everything a reader can get from the store, as plain values."""
    return {
        "final": study.final_decisions(["done"]).correct.tolist(),
        "epoch1": study.final_decisions(["done", "going"], epoch=1).correct.tolist(),
        "done": study.epoch_decisions("done").prediction.tolist(),
        "going": study.epoch_decisions("going").prediction.tolist(),
        "going_correct": study.epoch_decisions("going", with_prediction=False).correct.tolist(),
        "table": study.decisions_table("done", [0, 2]).to_dict("list"),
        "train": study.train_decisions_table("done").to_dict("list"),
        "train_going": study.train_decisions_table("going").to_dict("list"),
        "probabilities": study.probabilities("done").tolist(),
        "committed": [study.committed_epochs("done"), study.committed_epochs("going")],
    }


def test_format_1_store_reads(tmp_path: Path) -> None:
    study = open_study(V1)
    assert study.format_version("done") == 1 and study.model_ids(status="complete") == ["done"]
    np.testing.assert_array_equal(study.final_decisions().correct[0], PREDS[0, -1] == LABELS)
    e = study.epoch_decisions("going")
    np.testing.assert_array_equal(e.epochs, [0, 1])
    np.testing.assert_array_equal(e.prediction, PREDS[1, :2])
    np.testing.assert_array_equal(e.correct, PREDS[1, :2] == LABELS)
    table = study.decisions_table("done", [2])
    np.testing.assert_array_equal(table["prediction"], PREDS[0, 2])
    assert list(table.columns) == ["epoch", "image_index", "prediction", "correct"]
    assert sorted(study.train_decisions_table("going")["epoch"].unique()) == [0, 1]


def test_migration_keeps_every_array(tmp_path: Path) -> None:
    shutil.copytree(V1, tmp_path / "s")
    before = _snapshot(open_study(tmp_path / "s"))
    assert migrate_study(tmp_path / "s") == (2, 0)
    study = open_study(tmp_path / "s")
    assert _snapshot(study) == before
    for m in ("done", "going"):
        assert study.format_version(m) == 2 and study.run_info(m)["migrated"]["from_format"] == 1
        assert not list(study.model_dir(m).glob("decisions*.parquet"))
    assert (study.model_dir("going") / "correct.bits").stat().st_size == 2 * 2  # 2 epochs x ceil(11 / 8)
    assert migrate_study(tmp_path / "s") == (0, 2)


def test_migration_interrupted_before_commit_is_rerun(tmp_path: Path) -> None:
    shutil.copytree(V1, tmp_path / "s")
    study = open_study(tmp_path / "s")
    (study.model_dir("done") / "correct.bits").write_bytes(b"\xff")  # row files of a killed migration, not committed
    before = _snapshot(open_study(V1))
    assert _snapshot(open_study(tmp_path / "s")) == before  # still read as format 1
    assert migrate_model(study, "done")
    assert _snapshot(open_study(tmp_path / "s")) == before


def test_unfinished_format_1_run_resumes_in_format_2(tmp_path: Path) -> None:
    shutil.copytree(V1, tmp_path / "s")
    study = open_study(tmp_path / "s")
    w = ModelWriter(study, "going")
    info = w.start({"condition": "base", "arch": "mlp", "config": {"seed": "going"}})
    assert info["format_version"] == 2 and info["attempts"] == 2
    w.commit_epoch(2, PREDS[1, 2], {"val_loss": 0.3})
    w.finish()
    e = open_study(tmp_path / "s").epoch_decisions("going")
    np.testing.assert_array_equal(e.prediction, PREDS[1])
    assert json.loads((study.model_dir("going") / "run.json").read_text())["status"] == "complete"
    assert sorted(open_study(tmp_path / "s").train_decisions_table("going")["epoch"].unique()) == [0, 1]


def test_migrate_command(tmp_path: Path) -> None:
    shutil.copytree(V1, tmp_path / "s")
    run = subprocess.run([sys.executable, "-m", "model_runs", "migrate", str(tmp_path / "s")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "2 models migrated to store format 2" in run.stdout
    missing = subprocess.run([sys.executable, "-m", "model_runs", "migrate", str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("model_id", ["done", "going"])
def test_fixture_is_format_1(model_id: str) -> None:
    assert json.loads((V1 / "models" / model_id / "run.json").read_text())["format_version"] == 1
