"""Additions to the store reader made for the analysis: correctness-only reads, layout checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from labutil.errors import UserError
from model_runs.store import ModelWriter, create_study, open_study

V1 = Path(__file__).parent / "data" / "store_v1"

LABELS = np.array([0, 1, 2, 0, 1, 2, 1])


def _study(tmp_path: Path):
    images = pd.DataFrame(
        {
            "image_index": np.arange(7),
            "image_id": [f"val/{i}" for i in range(7)],
            "label": LABELS,
            "class_name": [f"c{x}" for x in LABELS],
        }
    )
    study = create_study(tmp_path / "s", {"name": "s", "models": [{"model_id": "a"}]}, images)
    w = ModelWriter(study, "a")
    w.start({"condition": "base", "config": {}})
    preds = [[0, 0, 0, 0, 0, 0, 0], [0, 1, 2, 1, 1, 0, 1], [0, 1, 2, 0, 1, 2, 2]]
    for e, p in enumerate(preds):
        w.commit_epoch(e, np.array(p), {})
    w.finish()
    return study, np.array(preds)


def test_correct_only_read(tmp_path: Path) -> None:
    study, preds = _study(tmp_path)
    full = study.epoch_decisions("a")
    lean = study.epoch_decisions("a", with_prediction=False)
    assert lean.prediction is None
    np.testing.assert_array_equal(lean.correct, preds == LABELS)
    np.testing.assert_array_equal(full.correct, lean.correct)
    np.testing.assert_array_equal(full.prediction, preds)


def test_has_probabilities(tmp_path: Path) -> None:
    study, _ = _study(tmp_path)
    assert not study.has_probabilities("a") and study.probabilities("a") is None
    ModelWriter(study, "a").save_probabilities(np.full((7, 3), 1 / 3))
    assert study.has_probabilities("a") and study.probabilities("a").shape == (7, 3)


def _v1_study(tmp_path: Path):
    """A copy of the committed format-1 fixture (written by the Parquet writer) and its predictions."""
    shutil.copytree(V1, tmp_path / "v1")
    labels = pq.read_table(V1 / "images.parquet").column("label").to_numpy()
    return open_study(tmp_path / "v1"), np.load(V1 / "expected_predictions.npy")[0], labels


def test_unsorted_file_gives_same_arrays(tmp_path: Path) -> None:
    study, preds, labels = _v1_study(tmp_path)
    path = study.model_dir("done") / "decisions.parquet"
    table = pq.read_table(path)
    order = np.random.default_rng(0).permutation(table.num_rows)
    pq.write_table(table.take(order), path)
    e = study.epoch_decisions("done")
    np.testing.assert_array_equal(e.prediction, preds)
    np.testing.assert_array_equal(e.correct, preds == labels)
    np.testing.assert_array_equal(study.final_decisions(["done"]).correct[0], preds[-1] == labels)


def test_repeated_image_is_refused(tmp_path: Path) -> None:
    study, _, _ = _v1_study(tmp_path)
    path = study.model_dir("done") / "decisions.parquet"
    df = pq.read_table(path).to_pandas()
    df.loc[df["image_index"] == 10, "image_index"] = 9  # image 10 missing, image 9 twice
    pq.write_table(pq.read_table(path).from_pandas(df, schema=pq.read_schema(path)), path)
    with pytest.raises(UserError, match="different image set"):
        study.final_decisions(["done"])
    with pytest.raises(UserError, match="repeat some"):
        study.epoch_decisions("done")


def test_short_row_file_is_refused(tmp_path: Path) -> None:
    study, _ = _study(tmp_path)
    path = study.model_dir("a") / "correct.bits"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UserError, match="fewer rows than run.json commits"):
        study.final_decisions()
