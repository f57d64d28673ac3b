"""Additions to the store reader made for the analysis: correctness-only reads, layout checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from labutil.errors import UserError
from model_runs.store import ModelWriter, create_study

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


def test_unsorted_file_gives_same_arrays(tmp_path: Path) -> None:
    study, preds = _study(tmp_path)
    path = study.model_dir("a") / "decisions.parquet"
    table = pq.read_table(path)
    order = np.random.default_rng(0).permutation(table.num_rows)
    pq.write_table(table.take(order), path)
    e = study.epoch_decisions("a")
    np.testing.assert_array_equal(e.prediction, preds)
    np.testing.assert_array_equal(e.correct, preds == LABELS)
    np.testing.assert_array_equal(study.final_decisions().correct[0], preds[-1] == LABELS)


def test_repeated_image_is_refused(tmp_path: Path) -> None:
    study, _ = _study(tmp_path)
    path = study.model_dir("a") / "decisions.parquet"
    df = pq.read_table(path).to_pandas()
    df.loc[df["image_index"] == 6, "image_index"] = 5  # image 6 missing, image 5 twice
    pq.write_table(pq.read_table(path).from_pandas(df, schema=pq.read_schema(path)), path)
    with pytest.raises(UserError, match="different image set"):
        study.final_decisions()
    with pytest.raises(UserError, match="repeat some"):
        study.epoch_decisions("a")
